import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from approvals import services
from approvals.models import Policy
from approvals.policies import PolicyDocumentError, export_yaml, parse_yaml
from registry_portal.roles import SYSTEM_WORKER as ACTOR


class Command(BaseCommand):
    help = (
        "Governance policies as YAML. export FILE ('-' for stdout); import FILE (replaces every policy, "
        "all or nothing: on any error nothing changes); reset-default (the default policy of a fresh install)."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("export").add_argument("file")
        sub.add_parser("import").add_argument("file")
        sub.add_parser("reset-default")

    def handle(self, *args, action, **options):
        if action == "export":
            text = export_yaml(Policy.objects.order_by("model_name"))
            if options["file"] == "-":
                sys.stdout.write(text)
            else:
                Path(options["file"]).write_text(text, encoding="utf-8")
                self.stdout.write(f"wrote {options['file']}")
        elif action == "import":
            self._import(options["file"])
        else:
            policy = services.policy_reset_default(actor=ACTOR)
            self.stdout.write(f"reset the {policy.label}")

    def _import(self, file: str):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            policies = parse_yaml(text)
        except PolicyDocumentError as exc:
            raise CommandError(
                f"{file} is not a valid policy document; nothing was changed:\n  " + "\n  ".join(exc.messages)
            ) from None
        changes = services.policies_import(actor=ACTOR, policies=policies)
        self.stdout.write("\n".join(changes) if changes else "no changes")
