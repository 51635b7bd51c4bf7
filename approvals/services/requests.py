"""Transition requests: filing, withdrawing, commenting, reviewing, retrying a failed apply.

The state machine and its invariants: docs/approvals.md. Every move happens under a row lock on the
request, with its audit event in the same transaction; tasks are queued after commit. Who may do what
is ``approvals.access``'s answer, asked again on the locked row where it depends on the request's state.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record
from registry.access import enforce
from registry.models import ModelVersion
from registry_portal.celery import queue_task

from .. import access
from ..digest import version_content_digest
from ..models import RequestComment, Review, TransitionRequest
from ..policies import required_approvals, requires_staging_first
from ._common import RequestConflict, locked, request_target, request_version, set_status
from .approval import approve_if_ready
from .check_runs import check_run_create


def transition_request_create(*, actor, version: ModelVersion, to_stage: str, justification: str) -> TransitionRequest:
    """File a request to move ``version`` to ``to_stage``; start its checks and tell the reviewers."""
    enforce(access.request_create_refusal(actor, version))
    justification = (justification or "").strip()
    errors = {}
    if to_stage not in TransitionRequest.TARGET_STAGES:
        errors["to_stage"] = f"choose one of {', '.join(TransitionRequest.TARGET_STAGES)}"
    elif to_stage == version.stage:
        errors["to_stage"] = f"v{version.version} is already in {to_stage}"
    elif to_stage == "Production" and version.stage != "Staging" and requires_staging_first(version):
        errors["to_stage"] = (
            f"the policy moves versions to Production only from Staging (v{version.version} is in {version.stage})"
        )
    if not justification:
        errors["justification"] = "say why this version should move"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
        already = TransitionRequest.objects.open().for_version(version).first()
        if already is not None:
            raise RequestConflict(f"v{version.version} already has an open request: #{already.pk} ({already.status})")
        request = TransitionRequest.objects.create(
            version=version,
            model_name=version.model.name,
            version_number=version.version,
            from_stage=version.stage,
            to_stage=to_stage,
            justification=justification,
            requested_by=actor,
            required_approvals=required_approvals(version, to_stage),
        )
        record(
            actor=actor,
            action="request.created",
            target=request_target(request),
            data={
                "from": request.from_stage,
                "to": to_stage,
                "justification": justification,
                "required_approvals": request.required_approvals,
            },
        )
        check_run_create(actor=actor, version=version, stage=to_stage, request_id=request.pk)
    return request


def transition_request_withdraw(*, actor, request: TransitionRequest) -> TransitionRequest:
    with transaction.atomic():
        request = locked(request)
        enforce(access.withdraw_refusal(actor, request), conflict=RequestConflict)
        set_status(request, TransitionRequest.WITHDRAWN)
        request.save(update_fields=["status", "status_changed_at"])
        record(actor=actor, action="request.withdrawn", target=request_target(request), data={})
    return request


def request_comment_create(*, actor, request: TransitionRequest, body: str) -> RequestComment:
    enforce(access.comment_refusal(actor, request))
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "write something"})
    with transaction.atomic():
        comment = RequestComment.objects.create(request=request, author=actor, body=body)
        record(actor=actor, action="review.commented", target=request_target(request), data={"comment": body})
    return comment


def review_submit(*, actor, request: TransitionRequest, decision: str, comment: str = "") -> Review:
    """Approve or reject ``request``. Refusals (``access.review_refusal``): PermissionDenied (403) or
    RequestConflict (409).

    A reviewer decides once; only when the content changed since their approval (it is stale) may
    they decide again. The deciding approval moves the request to ``approved`` in this transaction.
    """
    comment = (comment or "").strip()
    if decision not in (Review.APPROVE, Review.REJECT):
        raise ValidationError({"decision": "approve or reject"})
    if decision == Review.REJECT and not comment:
        raise ValidationError({"comment": "say why you reject: the requester needs to know what to fix"})
    with transaction.atomic():
        # The reviews are read after the lock: every review is written under it.
        request = TransitionRequest.objects.select_for_update().prefetch_related("reviews").get(pk=request.pk)
        version = request_version(request) if request.version_id is not None else None
        digest = version_content_digest(version) if version is not None else ""
        enforce(access.review_refusal(actor, request, current_digest=digest), conflict=RequestConflict)
        review = next((r for r in request.reviews.all() if r.reviewer_id == actor.pk), None)
        again = review is not None
        review = review or Review(request=request, reviewer=actor)
        review.decision, review.comment, review.content_digest = decision, comment, digest
        review.save()
        record(
            actor=actor,
            action="review.approved" if decision == Review.APPROVE else "review.rejected",
            target=request_target(request),
            data={"comment": comment, "content_digest": digest, "again_after_content_change": again},
        )
        if decision == Review.REJECT:
            set_status(request, TransitionRequest.REJECTED)
            request.decided_at = timezone.now()
            request.save(update_fields=["status", "status_changed_at", "decided_at"])
        else:
            approve_if_ready(request, version, digest)
    return review


def transition_request_retry(*, actor, request: TransitionRequest) -> TransitionRequest:
    """An admin sends a failed request back to be applied."""
    with transaction.atomic():
        request = locked(request)
        enforce(access.retry_refusal(actor, request), conflict=RequestConflict)
        previous_error = request.last_error
        set_status(request, TransitionRequest.APPROVED)
        request.save(update_fields=["status", "status_changed_at"])
        record(actor=actor, action="request.retried", target=request_target(request), data={"error": previous_error})
        transaction.on_commit(lambda: queue_task("approvals.tasks.apply_transition", request.pk), robust=True)
    return request
