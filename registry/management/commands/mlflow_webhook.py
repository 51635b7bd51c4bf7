from django.core.management.base import BaseCommand, CommandError

from registry.mlflow_client import MlflowError, RegistryClient
from registry.webhooks import MODEL_EVENTS, WEBHOOK_NAME, webhook_register


class Command(BaseCommand):
    help = "Manage the MLflow webhook that nudges the portal to sync a model (register is idempotent)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        register = actions.add_parser("register", help="create or update the webhook (secret: MLFLOW_WEBHOOK_SECRET)")
        register.add_argument("url", help="the portal's endpoint, e.g. https://portal.example.com/hooks/mlflow")
        register.add_argument("--name", default=WEBHOOK_NAME)
        register.add_argument("--events", nargs="+", choices=MODEL_EVENTS, help="default: every model event")
        actions.add_parser("list", help="every webhook MLflow holds")
        delete = actions.add_parser("delete", help="delete by URL, by --id, or (neither) by --name")
        delete.add_argument("url", nargs="?")
        delete.add_argument("--id", dest="webhook_id")
        delete.add_argument("--name", default=WEBHOOK_NAME)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except MlflowError as exc:
            raise CommandError(f"MLflow: {exc}") from exc

    def _register(self, *, url, name, events, **options):
        try:
            outcome, webhook = webhook_register(url=url, name=name, events=events)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{outcome} webhook {webhook.webhook_id} {webhook.name} -> {webhook.url}"))

    def _list(self, **options):
        webhooks = RegistryClient().list_webhooks()
        for w in webhooks:
            self.stdout.write(f"{w.webhook_id}\t{w.name}\t{w.status}\t{w.url}\t{','.join(w.events)}")
        if not webhooks:
            self.stdout.write("no webhooks")

    def _delete(self, *, url, webhook_id, name, **options):
        if url and webhook_id:
            raise CommandError("give a URL or --id, not both")
        client = RegistryClient()
        webhooks = client.list_webhooks()
        if webhook_id:
            doomed = [w for w in webhooks if w.webhook_id == webhook_id]
        elif url:
            doomed = [w for w in webhooks if w.url == url]
        else:
            doomed = [w for w in webhooks if w.name == name]
        if not doomed:
            self.stdout.write("no matching webhook: nothing to delete")
        for w in doomed:
            client.delete_webhook(w.webhook_id)
            self.stdout.write(self.style.SUCCESS(f"deleted webhook {w.webhook_id} {w.name} -> {w.url}"))
