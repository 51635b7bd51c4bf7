"""Demo data for the review workflow: the demo owner made the demo models' owner in the portal, one open request
for the reviewers' queue (idempotent).

Runs after ``seed_demo`` and ``sync_registry`` (``make demo``): the models are mirrored by then, so the demo user
``owner`` (MLflow's ``owner`` tag names them, which grants nothing: docs/roles.md) is assigned as an admin would,
audited (``registry.owner_added``, ``via: seed_demo``). Then it files requests as the demo owner
through the same service the pages use, so checks run and reviewers are notified as in real life: the
notifications dispatcher runs once at the end (the worker's beat does it in production), so the console mail
backend prints the reviewers' email.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from approvals import services
from approvals.models import TransitionRequest
from notifications import tasks as notification_tasks
from registry import services as registry_services
from registry.models import ModelVersion, RegisteredModel
from registry_portal.roles import SYSTEM_COMMAND_LINE

DEMO_MODELS = ("ChurnPredictor", "FraudDetector")

DEMO_REQUESTS = [
    (
        "ChurnPredictor",
        3,
        "Staging",
        "Gradient boosting beats the Production forest on the November data; stage it for the shadow test.",
    ),
]


class Command(BaseCommand):
    help = "File the demo transition requests as the demo owner (skips those already filed)."

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(username="owner").first()
        if owner is None:
            raise CommandError("run seed_demo first: there is no demo user 'owner'")
        for model in RegisteredModel.objects.filter(name__in=DEMO_MODELS).exclude(owners__user=owner):
            registry_services.model_owner_add(actor=SYSTEM_COMMAND_LINE, model=model, user=owner, via="seed_demo")
            self.stdout.write(f"made {owner.get_username()} an owner of {model.name}")
        for model_name, number, stage, justification in DEMO_REQUESTS:
            version = (
                ModelVersion.objects.select_related("model", "run")
                .filter(model__name=model_name, version=number)
                .first()
            )
            if version is None:
                raise CommandError(f"{model_name} v{number} is not mirrored: run sync_registry first")
            if TransitionRequest.objects.for_version(version).exists() or version.stage == stage:
                self.stdout.write(f"{version} already has a request (or is in {stage})")
                continue
            request = services.transition_request_create(
                actor=owner, version=version, to_stage=stage, justification=justification
            )
            self.stdout.write(f"filed request #{request.pk}: {version} → {stage}")
        # In the demo there is no beat: run the dispatcher (and, in-process, the sender) once so the mail shows.
        notification_tasks.dispatch_notifications.apply()
