import json

from django.core.management.base import BaseCommand, CommandError

from approvals.checks import evaluate
from approvals.rules import FAILED, PASSED, STAGES
from registry.models import ModelVersion

LABELS = {PASSED: "PASS", FAILED: "FAIL"}


class Command(BaseCommand):
    help = (
        "Evaluate the governance policy for moving MODEL VERSION to --stage against the mirror; "
        "exit 0 when nothing fails, 1 when a rule fails, 2 for an unknown model or version."
    )

    def add_arguments(self, parser):
        parser.add_argument("model")
        parser.add_argument("version", type=int)
        parser.add_argument("--stage", choices=STAGES, default="Production")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, model, version, stage, **options):
        found = ModelVersion.objects.select_related("model", "run").filter(model__name=model, version=version).first()
        if found is None:
            raise CommandError(
                f"no version {version} of model {model!r} in the mirror (run manage.py sync_registry first?)",
                returncode=2,
            )
        evaluation = evaluate(found, stage)
        if options["json"]:
            self.stdout.write(json.dumps(self._as_dict(model, version, evaluation), indent=2))
        else:
            self._print(model, version, evaluation)
        if not evaluation.passed:
            raise SystemExit(1)

    def _as_dict(self, model, version, evaluation):
        return {
            "model": model,
            "version": version,
            "stage": evaluation.stage,
            "policy": evaluation.policy_label,
            "content_digest": evaluation.content_digest,
            "passed": evaluation.passed,
            "rules": [
                {"id": r.rule_id, "type": r.rule_type, "status": r.status, "message": r.message, "evidence": r.evidence}
                for r in evaluation.results()
            ],
        }

    def _print(self, model, version, evaluation):
        self.stdout.write(f"{model} v{version} → {evaluation.stage} ({evaluation.policy_label})")
        width = max((len(v.rule.id) for v in evaluation.verdicts), default=0)
        for verdict in evaluation.verdicts:
            label = LABELS.get(verdict.status, "N/A ")
            self.stdout.write(f"  {label}  {verdict.rule.id:<{width}}  {verdict.result.message}")
        failed = len(evaluation.failed)
        if failed:
            self.stdout.write(self.style.ERROR(f"FAILED: {failed} of {len(evaluation.verdicts)} rules failed"))
        else:
            self.stdout.write(self.style.SUCCESS("PASSED: nothing blocks this transition"))
