"""The move to ``approved``: a pending request whose quorum of fresh approvals and passing checks hold for
the version's current content. Asked after each approval (``review_submit``) and when the request's check
run passes (``transition_request_reconsider``); the apply is queued after commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import record
from registry.models import ModelVersion
from registry_portal import roles
from registry_portal.celery import queue_task

from ..digest import version_content_digest
from ..models import TransitionRequest
from ..selectors import checks_for, quorum
from ._common import request_target, request_version, set_status


def approve_if_ready(request: TransitionRequest, version: ModelVersion, digest: str) -> bool:
    """Move a locked pending request to ``approved`` if its quorum and checks hold for ``digest``."""
    approvals = quorum(request, digest)
    if len({r.reviewer_id for r in approvals}) < request.required_approvals:
        return False
    check_run = checks_for(request, version, digest)
    if check_run is None or not check_run.passed:
        return False
    now = timezone.now()
    set_status(request, TransitionRequest.APPROVED, now=now)
    request.approved_digest = digest
    request.decided_at = now
    request.save(update_fields=["status", "status_changed_at", "approved_digest", "decided_at"])
    record(
        actor=roles.SYSTEM_WORKER,
        action="request.approved",
        target=request_target(request),
        data={
            "approved_by": [r.reviewer.get_username() for r in approvals],
            "content_digest": digest,
            "check_run": check_run.pk,
        },
    )
    transaction.on_commit(lambda: queue_task("approvals.tasks.apply_transition", request.pk), robust=True)
    return True


def transition_request_reconsider(*, request_id: int) -> bool:
    """Approve a pending request if it is ready now (called when its checks finish)."""
    with transaction.atomic():
        request = TransitionRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or not request.is_pending or request.version_id is None:
            return False
        version = request_version(request)
        return approve_if_ready(request, version, version_content_digest(version))
