import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404

from approvals.gate import GATE_STAGES, gate_decision


class Command(BaseCommand):
    help = (
        "May NAME serve in --stage? The deployment gate's answer (docs/gate.md), from the mirror: "
        "exit 0 allowed, 1 refused (every reason printed), 2 for a question it cannot answer (unknown model)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # ``--version N`` is the gate's question, as in the API and scripts/portal-gate; Django's own
        # ``--version`` (print Django's version) gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--stage", choices=GATE_STAGES, default="Production")
        parser.add_argument("--version", type=int, help="this version (default: the one the mirror shows in --stage)")
        parser.add_argument("--alias", help="the version this alias points at (not with --version)")
        parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")

    def handle(self, *args, name, stage, version, alias, **options):
        try:
            decision = gate_decision(model_name=name, stage=stage, version=version, alias=alias)
        except (Http404, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)])), returncode=2) from None
        if options["json"]:
            self.stdout.write(json.dumps(decision.as_dict(), indent=2, cls=DjangoJSONEncoder))
        else:
            self._print(decision.as_dict())
        if not decision.allowed:
            raise SystemExit(1)

    def _print(self, answer: dict) -> None:
        subject = f"{answer['model']} v{answer['version']}" if answer["version"] else answer["model"]
        if answer["allowed"]:
            self.stdout.write(
                f"ALLOWED {subject} in {answer['stage']}: request #{answer['request_id']}, applied "
                f"{answer['applied_at']:%Y-%m-%d %H:%M:%S} UTC, approved by {', '.join(answer['approved_by'])}"
            )
            return
        self.stdout.write(f"REFUSED {subject} in {answer['stage']}:")
        for reason in answer["reasons"]:
            self.stdout.write(f"  [{reason['code']}] {reason['message']}")
