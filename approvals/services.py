"""Governance services: policy changes (audited) and check runs (queued to Celery, run by workers)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import Target, actor_name, record
from registry.models import ModelVersion

from . import tasks
from .checks import evaluate
from .digest import version_content_digest
from .models import CheckResult, CheckRun, Policy
from .policies import PolicyData, default_policy_create
from .rules import STAGES

logger = logging.getLogger(__name__)
WORKER = "system:worker"
CHECK_GROUPS = ("reviewers", "ml-leads")
# A queued run nobody picked up (lost message, broker restart) is queued again after this long.
REQUEUE_AFTER = timedelta(minutes=5)


# --- policies -----------------------------------------------------------------------------------


def _policy_target(model_name: str) -> Target:
    return Target(type="policy", id=model_name or "default", model_name=model_name)


def policy_save(*, actor, policy: Policy) -> Policy:
    """Validate and save ``policy``; audit ``policy.changed`` with before/after in the same transaction."""
    with transaction.atomic():
        previous = Policy.objects.select_for_update().filter(pk=policy.pk).first() if policy.pk else None
        before = previous.snapshot() if previous else None
        policy.updated_by = actor_name(actor)
        policy.save()
        if before != policy.snapshot():
            record(
                actor=actor,
                action="policy.changed",
                target=_policy_target(policy.model_name),
                data={"before": before, "after": policy.snapshot()},
            )
    return policy


def policy_delete(*, actor, policy: Policy) -> None:
    with transaction.atomic():
        record(
            actor=actor,
            action="policy.changed",
            target=_policy_target(policy.model_name),
            data={"before": policy.snapshot(), "after": None},
        )
        policy.delete()


def policies_import(*, actor, policies: list[PolicyData]) -> list[str]:
    """Make the stored policies exactly those of a validated document; one transaction, one event per change.

    Returns a line per change for the operator. Validation happens before (``policies.parse_yaml``),
    so a bad document never reaches here and the old policies stay.
    """
    changes = []
    with transaction.atomic():
        existing = {p.model_name: p for p in Policy.objects.select_for_update()}
        for data in policies:
            policy = existing.pop(data.model_name, None) or Policy(model_name=data.model_name)
            created = policy.pk is None
            before = None if created else policy.snapshot()
            policy.description, policy.rules = data.description, data.rules
            if before == policy.snapshot():
                continue
            policy_save(actor=actor, policy=policy)
            changes.append(f"{'created' if created else 'updated'} {policy.label}")
        for stale in existing.values():
            policy_delete(actor=actor, policy=stale)
            changes.append(f"deleted {stale.label}")
    return changes


def default_policy_reset(*, actor) -> Policy:
    """Put the default policy back as a fresh install has it."""
    with transaction.atomic():
        fresh = default_policy_create()
        policy = Policy.objects.select_for_update().filter(model_name="").first() or fresh
        policy.description, policy.rules = fresh.description, fresh.rules
        return policy_save(actor=actor, policy=policy)


# --- check runs ---------------------------------------------------------------------------------


def check_run_permitted(user, version: ModelVersion) -> bool:
    """Owners of the model, reviewers, ML leads and staff may queue check runs."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.get_username() == version.model.owner:
        return True
    return user.groups.filter(name__in=CHECK_GROUPS).exists()


def check_run_create(*, version: ModelVersion, stage: str, request_id: int | None = None, actor) -> CheckRun:
    """Queue a check run of ``version`` against the ``stage`` policy; the task runs after commit.

    A run already queued or running for the same content, stage and request is returned instead of
    queueing a twin (double clicks, a card save and a sync at once).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if not isinstance(actor, str) and not check_run_permitted(actor, version):
        raise PermissionDenied("only the model's owner, reviewers, ML leads and staff may run checks")
    digest = version_content_digest(version)
    with transaction.atomic():
        pending = CheckRun.objects.filter(
            version=version,
            stage=stage,
            request_id=request_id,
            content_digest=digest,
            status__in=(CheckRun.QUEUED, CheckRun.RUNNING),
        ).first()
        if pending is not None:
            return pending
        check_run = CheckRun.objects.create(
            version=version,
            model_name=version.model.name,
            version_number=version.version,
            request_id=request_id,
            stage=stage,
            content_digest=digest,
            requested_by=actor_name(actor),
        )
        transaction.on_commit(lambda: tasks.run_checks.delay(check_run.pk))
    return check_run


def check_run_execute(check_run_id: int) -> CheckRun | None:
    """Claim a queued run (one winner), evaluate it against the mirror, store results and audit."""
    claimed = CheckRun.objects.filter(pk=check_run_id, status=CheckRun.QUEUED).update(
        status=CheckRun.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    check_run = CheckRun.objects.select_related("version__model", "version__run").get(pk=check_run_id)
    results, error = [], ""
    if check_run.version is None:
        error = f"{check_run.model_name} v{check_run.version_number} is no longer in the registry"
    else:
        try:
            evaluation = evaluate(check_run.version, check_run.stage)
        except Exception as exc:  # noqa: BLE001 - the run records the error instead of staying "running"
            logger.exception("check run %s failed", check_run_id)
            error = f"{exc.__class__.__name__}: {exc}"
        else:
            check_run.content_digest = evaluation.content_digest
            check_run.policy_label = evaluation.policy_label
            results = evaluation.results(check_run)
    if error:
        check_run.status = CheckRun.ERROR
    else:
        check_run.status = CheckRun.FAILED if any(r.status == "failed" for r in results) else CheckRun.PASSED
    check_run.error = error
    check_run.finished_at = timezone.now()
    with transaction.atomic():
        CheckResult.objects.bulk_create(results)
        check_run.save(update_fields=["status", "error", "finished_at", "content_digest", "policy_label"])
        record(
            actor=WORKER,
            action="checks.completed",
            target=Target(
                type="check_run",
                id=str(check_run.pk),
                model_name=check_run.model_name,
                version=check_run.version_number,
            ),
            data={
                "stage": check_run.stage,
                "status": check_run.status,
                "content_digest": check_run.content_digest,
                "request_id": check_run.request_id,
                "failed": [r.rule_id for r in results if r.status == "failed"],
                "error": error,
            },
        )
    return check_run


def next_stage(version: ModelVersion) -> str | None:
    return {"None": "Staging", "Staging": "Production"}.get(version.stage)


def checks_rerun_for(version: ModelVersion, *, actor) -> CheckRun | None:
    """Check ``version`` again for the target of its latest run (else its next stage), if it has one."""
    latest = CheckRun.objects.latest_for(version)
    stage = latest.stage if latest else next_stage(version)
    if stage is None:
        return None
    return check_run_create(version=version, stage=stage, request_id=latest.request_id if latest else None, actor=actor)


def checks_on_card_revision(version: ModelVersion) -> CheckRun | None:
    """A new card revision changes the version's content: check it again."""
    return checks_rerun_for(version, actor=WORKER)


def checks_after_sync(*, model_name: str = "") -> list[CheckRun]:
    """Re-run checks of every checked version whose content changed since its latest check run."""
    runs = CheckRun.objects.filter(version__isnull=False).exclude(version__stage="Archived")
    if model_name:
        runs = runs.filter(model_name=model_name)
    # Ids grow with creation time: the highest id per version is its latest run.
    latest_ids = runs.values("version_id").annotate(latest=Max("id")).values("latest")
    queued = []
    for check_run in CheckRun.objects.filter(pk__in=latest_ids).select_related("version__model", "version__run"):
        version = check_run.version
        if check_run.is_stale_against(version_content_digest(version)):
            queued.append(
                check_run_create(version=version, stage=check_run.stage, request_id=check_run.request_id, actor=WORKER)
            )
    return queued


def check_runs_sweep() -> int:
    """Queue again the runs whose task was lost: queued too long, or running past the task time limit."""
    now = timezone.now()
    lost_running = CheckRun.objects.filter(
        status=CheckRun.RUNNING, started_at__lt=now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    ).update(status=CheckRun.QUEUED)
    ids = list(
        CheckRun.objects.filter(status=CheckRun.QUEUED, created_at__lt=now - REQUEUE_AFTER).values_list("pk", flat=True)
    )
    for pk in ids:
        tasks.run_checks.delay(pk)
    if ids:
        logger.info("requeued %d check runs (%d were stuck running)", len(ids), lost_running)
    return len(ids)
