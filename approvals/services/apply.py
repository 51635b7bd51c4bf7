"""Applying an approved request in MLflow, exactly once (docs/approvals.md, "Exactly once").

The task claims the request (a conditional update with a token and a lease), reads MLflow before it
writes, treats "already at the target" as success, and every later write is guarded by the claim. The
sweeper takes back claims whose lease ran out and re-queues approved requests whose task was lost.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import record
from registry.mlflow_client import MlflowUnavailable, RegistryClient
from registry.models import SyncRun
from registry.sync import sync_registry
from registry_portal import roles
from registry_portal.celery import queue_task

from ..models import TransitionRequest
from ..selectors import quorum
from ._common import request_target
from .recertification import recertifications_supersede

logger = logging.getLogger(__name__)
APPROVAL_NOTES_LIMIT = 5000  # MLflow's limit on a tag value


def transition_request_claim(*, request_id: int) -> str | None:
    """Claim an approved request for applying: ``approved`` → ``applying``; one winner gets the token."""
    token = uuid.uuid4().hex
    now = timezone.now()
    lease = timedelta(seconds=settings.APPLY_LEASE_SECONDS)
    with transaction.atomic():
        claimed = TransitionRequest.objects.filter(pk=request_id, status=TransitionRequest.APPROVED).update(
            status=TransitionRequest.APPLYING,
            status_changed_at=now,
            claim_token=token,
            lease_expires_at=now + lease,
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
        request = TransitionRequest.objects.get(pk=request_id)
        record(
            actor=roles.SYSTEM_WORKER,
            action="request.apply_started",
            target=request_target(request),
            data={"attempt": request.attempts},
        )
    return token


def transition_request_extend_lease(*, request_id: int, claim: str, seconds: float) -> bool:
    """Keep the claim while a retry waits ``seconds`` (plus the lease) before trying again."""
    until = timezone.now() + timedelta(seconds=seconds + settings.APPLY_LEASE_SECONDS)
    return bool(
        TransitionRequest.objects.filter(pk=request_id, status=TransitionRequest.APPLYING, claim_token=claim).update(
            lease_expires_at=until
        )
    )


def approval_tags(request: TransitionRequest) -> dict[str, str]:
    """The approval facts written to the MLflow version, so MLflow users see them too."""
    approvals = quorum(request, request.approved_digest)
    notes = [f"{request.requested_by.get_username()}: {request.justification}"]
    notes += [f"{r.reviewer.get_username()}: {r.comment}" for r in approvals if r.comment]
    text = "\n".join(notes)
    if len(text) > APPROVAL_NOTES_LIMIT:
        text = text[: APPROVAL_NOTES_LIMIT - 1] + "…"
    return {
        "approval.request_id": str(request.pk),
        "approval.approved_by": ",".join(sorted(r.reviewer.get_username() for r in approvals)),
        "approval.notes": text,
    }


def transition_request_apply(*, request_id: int, claim: str) -> TransitionRequest | None:
    """Apply a claimed request in MLflow, exactly once, then mirror it and mark it applied.

    MLflow's state is read first: a version already at the target (an earlier attempt whose response
    was lost) is success, not a second transition. Raises ``MlflowUnavailable`` (retry) or
    ``MlflowRequestError`` (give up); returns None if this claim no longer holds the request.
    """
    request = (
        TransitionRequest.objects.select_related("requested_by")
        .filter(pk=request_id, status=TransitionRequest.APPLYING, claim_token=claim)
        .first()
    )
    if request is None:
        return None
    name, number, stage = request.model_name, request.version_number, request.to_stage
    client = RegistryClient()
    before = client.get_version(name, number).stage
    if before == stage:
        outcome = f"MLflow already showed {stage}: nothing transitioned"
    else:
        client.transition_stage(name, number, stage, archive_existing=stage == "Production")
        outcome = f"transitioned {before} → {stage}" + (
            ", others in Production archived" if stage == "Production" else ""
        )
    alias = settings.STAGE_ALIASES.get(stage)
    if alias:
        client.set_alias(name, alias, number)
    # A version leaving a stage leaves that stage's alias too.
    stale_aliases = [a for s, a in settings.STAGE_ALIASES.items() if s != stage]
    for alias_name, target in client.get_aliases(name).items():
        if target == number and alias_name in stale_aliases:
            client.delete_alias(name, alias_name)
    tags = approval_tags(request)
    client.set_version_tags(name, number, tags)
    sync_run = sync_registry(model_name=name, trigger="apply")
    if sync_run.status != SyncRun.SUCCEEDED:
        raise MlflowUnavailable(f"the transition is in MLflow but the mirror could not be refreshed: {sync_run.error}")
    now = timezone.now()
    with transaction.atomic():
        done = TransitionRequest.objects.filter(
            pk=request_id, status=TransitionRequest.APPLYING, claim_token=claim
        ).update(
            status=TransitionRequest.APPLIED,
            status_changed_at=now,
            applied_at=now,
            lease_expires_at=None,
            last_error="",
            mlflow_outcome=outcome[:200],
        )
        if not done:
            return None
        request.refresh_from_db()
        record(
            actor=roles.SYSTEM_WORKER,
            action="request.applied",
            target=request_target(request),
            data={"outcome": outcome, "mlflow_calls": client.calls, "tags": tags},
        )
    # The version, or the Production version this one archived, may have left Production.
    recertifications_supersede(model_name=name)
    return request


def transition_request_fail(*, request_id: int, claim: str, error: str) -> bool:
    """Give up on a claimed request: ``failed`` with the error, for an admin to retry."""
    with transaction.atomic():
        failed = TransitionRequest.objects.filter(
            pk=request_id, status=TransitionRequest.APPLYING, claim_token=claim
        ).update(
            status=TransitionRequest.FAILED, status_changed_at=timezone.now(), lease_expires_at=None, last_error=error
        )
        if failed:
            request = TransitionRequest.objects.get(pk=request_id)
            record(
                actor=roles.SYSTEM_WORKER,
                action="request.failed",
                target=request_target(request),
                data={"error": error, "attempts": request.attempts},
            )
    return bool(failed)


def transition_requests_sweep() -> dict[str, int]:
    """Nothing stays approved or applying forever: take back expired claims and re-queue lost tasks."""
    now = timezone.now()
    taken_back = []
    for pk, token in TransitionRequest.objects.filter(
        status=TransitionRequest.APPLYING, lease_expires_at__lt=now
    ).values_list("pk", "claim_token"):
        with transaction.atomic():
            taken = TransitionRequest.objects.filter(
                pk=pk, status=TransitionRequest.APPLYING, claim_token=token
            ).update(status=TransitionRequest.APPROVED, status_changed_at=now, claim_token="", lease_expires_at=None)
            if taken:
                taken_back.append(pk)
                request = TransitionRequest.objects.get(pk=pk)
                record(
                    actor=roles.SYSTEM_WORKER, action="request.lease_expired", target=request_target(request), data={}
                )
    waiting = list(
        TransitionRequest.objects.filter(
            status=TransitionRequest.APPROVED,
            status_changed_at__lt=now - timedelta(seconds=settings.APPLY_REQUEUE_AFTER_SECONDS),
        ).values_list("pk", flat=True)
    )
    # Requests just taken back are queued at once; those approved a while ago lost their message.
    ids = sorted(set(waiting) | set(taken_back))
    for pk in ids:
        queue_task("approvals.tasks.apply_transition", pk)
    if ids:
        logger.info("re-queued %d approved transition requests (%d expired claims)", len(ids), len(taken_back))
    return {"expired": len(taken_back), "queued": len(ids)}
