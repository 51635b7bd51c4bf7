"""Check runs: queued here (after commit, to a worker), claimed and evaluated by the task, re-run when the
version's content changes, and queued again by the sweeper when their task was lost."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import Target, actor_name, record
from registry.access import enforce
from registry.models import ModelVersion
from registry_portal import roles
from registry_portal.celery import queue_task

from ..access import check_run_refusal
from ..checks import evaluate
from ..digest import version_content_digest
from ..models import CheckResult, CheckRun, TransitionRequest
from ..rules import STAGES
from ..selectors import next_stage
from .approval import transition_request_reconsider

logger = logging.getLogger(__name__)
# A queued run nobody picked up (lost message, broker restart) is queued again after this long.
REQUEUE_AFTER = timedelta(minutes=5)


def check_run_create(*, actor, version: ModelVersion, stage: str, request_id: int | None = None) -> CheckRun:
    """Queue a check run of ``version`` against the ``stage`` policy; the task runs after commit.

    ``actor`` is a user (``access.check_run_refusal`` decides) or one of the portal's system actors.
    A run already queued or running for the same content, stage and request is returned instead of
    queueing a twin (double clicks, a card save and a sync at once).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    enforce(check_run_refusal(actor, version))
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
        transaction.on_commit(lambda: queue_task("approvals.tasks.run_checks", check_run.pk))
    return check_run


def check_run_execute(*, check_run_id: int) -> CheckRun | None:
    """Claim a queued run (one winner), evaluate it against the mirror, store results and audit."""
    claimed = CheckRun.objects.filter(pk=check_run_id, status=CheckRun.QUEUED).update(
        status=CheckRun.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    check_run = CheckRun.objects.select_related("version__model", "version__run", "version__logged_model").get(
        pk=check_run_id
    )
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
            actor=roles.SYSTEM_WORKER,
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
    if check_run.passed and check_run.request_id:
        transition_request_reconsider(request_id=check_run.request_id)
    return check_run


def check_run_rerun(*, actor, version: ModelVersion) -> CheckRun | None:
    """Check ``version`` again: for its pending request, else the target of its latest run, else its next stage."""
    pending = TransitionRequest.objects.for_version(version).filter(status=TransitionRequest.PENDING).first()
    if pending is not None:
        return check_run_create(actor=actor, version=version, stage=pending.to_stage, request_id=pending.pk)
    latest = CheckRun.objects.latest_for(version)
    stage = latest.stage if latest else next_stage(version)
    if stage is None:
        return None
    return check_run_create(actor=actor, version=version, stage=stage, request_id=None)


def check_runs_rerun_stale(*, model_name: str = "") -> list[CheckRun]:
    """Re-run checks of every checked version whose content changed since its latest check run."""
    runs = CheckRun.objects.filter(version__isnull=False).exclude(version__stage="Archived")
    if model_name:
        runs = runs.filter(model_name=model_name)
    # Ids grow with creation time: the highest id per version is its latest run.
    latest_ids = runs.values("version_id").annotate(latest=Max("id")).values("latest")
    queued = []
    for check_run in CheckRun.objects.filter(pk__in=latest_ids).select_related(
        "version__model", "version__run", "version__logged_model"
    ):
        version = check_run.version
        if check_run.is_stale_against(version_content_digest(version)):
            queued.append(check_run_rerun(actor=roles.SYSTEM_WORKER, version=version))
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
        queue_task("approvals.tasks.run_checks", pk)
    if ids:
        logger.info("requeued %d check runs (%d were stuck running)", len(ids), lost_running)
    return len(ids)
