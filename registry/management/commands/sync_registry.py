from django.core.management.base import BaseCommand, CommandError

from registry.sync import sync_registry


class Command(BaseCommand):
    help = "Mirror the MLflow Model Registry into the portal (incremental unless --full)."

    def add_arguments(self, parser):
        parser.add_argument("--model", help="sync only this registered model")
        parser.add_argument("--full", action="store_true", help="refresh every run, not only new or unfinished ones")

    def handle(self, *args, model=None, full=False, **options):
        sync_run = sync_registry(model_name=model, full=full, trigger="command")
        counts = ", ".join(f"{k}={v}" for k, v in sorted(sync_run.counts.items())) or "no changes"
        if sync_run.status != sync_run.SUCCEEDED:
            raise CommandError(f"sync #{sync_run.pk} failed: {sync_run.error} ({counts})")
        self.stdout.write(self.style.SUCCESS(f"sync #{sync_run.pk} succeeded: {counts}"))
