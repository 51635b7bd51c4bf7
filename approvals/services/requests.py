"""Governance services: policy changes (audited) and check runs (queued to Celery, run by workers)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from audit.services import PendingEvent, Target, actor_name, record, record_many
from cards.services import card_can_edit
from registry.mlflow_client import MlflowUnavailable, RegistryClient
from registry.models import ModelVersion, StageChange, SyncRun
from registry.sync import ACTOR as SYNC_ACTOR
from registry.sync import sync_registry, version_target

from . import notify, tasks
from .checks import evaluate
from .digest import version_content_digest
from .models import CheckResult, CheckRun, Policy, RequestComment, Review, TransitionRequest, UnapprovedTransition
from .policies import PolicyData, default_policy_create, required_approvals, requires_staging_first
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
    if check_run.passed and check_run.request_id:
        request_reconsider(check_run.request_id)
    return check_run


def next_stage(version: ModelVersion) -> str | None:
    return {"None": "Staging", "Staging": "Production"}.get(version.stage)


def checks_rerun_for(version: ModelVersion, *, actor) -> CheckRun | None:
    """Check ``version`` again: for its pending request, else the target of its latest run, else its next stage."""
    pending = TransitionRequest.objects.for_version(version).filter(status=TransitionRequest.PENDING).first()
    if pending is not None:
        return check_run_create(version=version, stage=pending.to_stage, request_id=pending.pk, actor=actor)
    latest = CheckRun.objects.latest_for(version)
    stage = latest.stage if latest else next_stage(version)
    if stage is None:
        return None
    return check_run_create(version=version, stage=stage, request_id=None, actor=actor)


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
    for check_run in CheckRun.objects.filter(pk__in=latest_ids).select_related(
        "version__model", "version__run", "version__logged_model"
    ):
        version = check_run.version
        if check_run.is_stale_against(version_content_digest(version)):
            queued.append(checks_rerun_for(version, actor=WORKER))
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


# --- transition requests ------------------------------------------------------------------------
# The state machine and its invariants: docs/approvals.md. Every move happens here, under a row lock
# on the request, with its audit event in the same transaction; tasks are queued after commit.

REVIEWER_GROUP = "reviewers"
APPROVAL_NOTES_LIMIT = 5000  # MLflow's limit on a tag value


class RequestConflict(Exception):
    """The request is not in a state that allows this (closed, already reviewed, one already open): a 409."""


def _request_target(request: TransitionRequest) -> Target:
    return Target(
        type="transition_request", id=str(request.pk), model_name=request.model_name, version=request.version_number
    )


def _set_status(request: TransitionRequest, status: str, *, now=None) -> None:
    if not request.can_move_to(status):
        raise RequestConflict(f"request #{request.pk} is {request.status}: it cannot become {status}")
    request.status = status
    request.status_changed_at = now or timezone.now()


def _locked(request_or_id) -> TransitionRequest:
    pk = getattr(request_or_id, "pk", request_or_id)
    return TransitionRequest.objects.select_for_update().get(pk=pk)


def request_can_create(user, version: ModelVersion) -> bool:
    """The model's owners and admins file transition requests (as they edit its card)."""
    return card_can_edit(user, version)


def is_reviewer(user) -> bool:
    return user.is_authenticated and user.groups.filter(name=REVIEWER_GROUP).exists()


def review_refusal(user, request: TransitionRequest, *, current_digest: str | None = None) -> str:
    """Why ``user`` may not review ``request`` now ("" if they may); the text the page shows."""
    if user.pk == request.requested_by_id:
        return "you requested this: someone else must review it"
    if not is_reviewer(user):
        return "only members of reviewers may review"
    if not request.is_pending:
        return f"this request is {request.status}"
    mine = next((r for r in request.reviews.all() if r.reviewer_id == user.pk), None)
    if mine is not None and (current_digest is None or not mine.is_stale_against(current_digest)):
        return f"you already {'approved' if mine.is_approval else 'rejected'} this request"
    return ""


def transition_request_create(*, actor, version: ModelVersion, to_stage: str, justification: str) -> TransitionRequest:
    """File a request to move ``version`` to ``to_stage``; start its checks and tell the reviewers."""
    if not request_can_create(actor, version):
        raise PermissionDenied("only the model's owner or an admin may request a transition")
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
            target=_request_target(request),
            data={
                "from": request.from_stage,
                "to": to_stage,
                "justification": justification,
                "required_approvals": request.required_approvals,
            },
        )
        check_run_create(version=version, stage=to_stage, request_id=request.pk, actor=actor)
        transaction.on_commit(lambda: notify.request_created(request), robust=True)
    return request


def transition_request_withdraw(*, actor, request: TransitionRequest) -> TransitionRequest:
    with transaction.atomic():
        request = _locked(request)
        if actor.pk != request.requested_by_id and not actor.is_superuser:
            raise PermissionDenied("only the requester or an admin may withdraw a request")
        _set_status(request, TransitionRequest.WITHDRAWN)
        request.save(update_fields=["status", "status_changed_at"])
        record(actor=actor, action="request.withdrawn", target=_request_target(request), data={})
    return request


def request_comment_add(*, actor, request: TransitionRequest, body: str) -> RequestComment:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "write something"})
    with transaction.atomic():
        comment = RequestComment.objects.create(request=request, author=actor, body=body)
        record(actor=actor, action="review.commented", target=_request_target(request), data={"comment": body})
    return comment


def review_submit(*, actor, request: TransitionRequest, decision: str, comment: str = "") -> Review:
    """Approve or reject ``request``. Refusals: PermissionDenied (403) or RequestConflict (409).

    A reviewer decides once; only when the content changed since their approval (it is stale) may
    they decide again. The deciding approval moves the request to ``approved`` in this transaction.
    """
    comment = (comment or "").strip()
    if decision not in (Review.APPROVE, Review.REJECT):
        raise ValidationError({"decision": "approve or reject"})
    if decision == Review.REJECT and not comment:
        raise ValidationError({"comment": "say why you reject: the requester needs to know what to fix"})
    with transaction.atomic():
        request = _locked(request)
        if actor.pk == request.requested_by_id:
            raise PermissionDenied("you requested this: someone else must review it")
        if not is_reviewer(actor):
            raise PermissionDenied("only members of reviewers may review")
        if not request.is_pending:
            raise RequestConflict(f"this request is {request.status}: it takes no more reviews")
        version = _request_version(request)
        digest = version_content_digest(version)
        review = Review.objects.filter(request=request, reviewer=actor).first()
        if review is not None and not review.is_stale_against(digest):
            raise RequestConflict(f"you already {'approved' if review.is_approval else 'rejected'} this request")
        again = review is not None
        review = review or Review(request=request, reviewer=actor)
        review.decision, review.comment, review.content_digest = decision, comment, digest
        review.save()
        record(
            actor=actor,
            action="review.approved" if decision == Review.APPROVE else "review.rejected",
            target=_request_target(request),
            data={"comment": comment, "content_digest": digest, "again_after_content_change": again},
        )
        if decision == Review.REJECT:
            _set_status(request, TransitionRequest.REJECTED)
            request.decided_at = timezone.now()
            request.save(update_fields=["status", "status_changed_at", "decided_at"])
        else:
            _approve_if_ready(request, version, digest)
    return review


def _request_version(request: TransitionRequest) -> ModelVersion:
    version = ModelVersion.objects.select_related("model", "run", "logged_model").filter(pk=request.version_id).first()
    if version is None:
        raise RequestConflict(f"{request.model_name} v{request.version_number} is no longer in the registry")
    return version


def quorum(request: TransitionRequest, digest: str) -> list[Review]:
    """The approvals that count: fresh (given against ``digest``), by distinct eligible reviewers."""
    reviews = request.reviews.select_related("reviewer").prefetch_related("reviewer__groups")
    return [
        r
        for r in reviews
        if r.is_approval
        and not r.is_stale_against(digest)
        and r.reviewer_id != request.requested_by_id
        and r.reviewer.is_active
        and any(g.name == REVIEWER_GROUP for g in r.reviewer.groups.all())
    ]


def checks_for(request: TransitionRequest, version: ModelVersion, digest: str) -> CheckRun | None:
    """The latest check run of the version against the request's stage for this very content."""
    return (
        CheckRun.objects.filter(version=version, stage=request.to_stage, content_digest=digest).order_by("-id").first()
    )


def _approve_if_ready(request: TransitionRequest, version: ModelVersion, digest: str) -> bool:
    """Move a locked pending request to ``approved`` if its quorum and checks hold for ``digest``."""
    approvals = quorum(request, digest)
    if len({r.reviewer_id for r in approvals}) < request.required_approvals:
        return False
    check_run = checks_for(request, version, digest)
    if check_run is None or not check_run.passed:
        return False
    now = timezone.now()
    _set_status(request, TransitionRequest.APPROVED, now=now)
    request.approved_digest = digest
    request.decided_at = now
    request.save(update_fields=["status", "status_changed_at", "approved_digest", "decided_at"])
    record(
        actor=WORKER,
        action="request.approved",
        target=_request_target(request),
        data={
            "approved_by": [r.reviewer.get_username() for r in approvals],
            "content_digest": digest,
            "check_run": check_run.pk,
        },
    )
    transaction.on_commit(lambda: tasks.apply_transition.delay(request.pk), robust=True)
    return True


def request_reconsider(request_id: int) -> bool:
    """Approve a pending request if it is ready now (called when its checks finish)."""
    with transaction.atomic():
        request = TransitionRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or not request.is_pending or request.version_id is None:
            return False
        version = _request_version(request)
        return _approve_if_ready(request, version, version_content_digest(version))


def request_retry(*, actor, request: TransitionRequest) -> TransitionRequest:
    """An admin sends a failed request back to be applied."""
    if not actor.is_superuser:
        raise PermissionDenied("only an admin may retry a failed request")
    with transaction.atomic():
        request = _locked(request)
        if request.status != TransitionRequest.FAILED:
            raise RequestConflict(f"request #{request.pk} is {request.status}, not failed")
        previous_error = request.last_error
        _set_status(request, TransitionRequest.APPROVED)
        request.save(update_fields=["status", "status_changed_at"])
        record(actor=actor, action="request.retried", target=_request_target(request), data={"error": previous_error})
        transaction.on_commit(lambda: tasks.apply_transition.delay(request.pk), robust=True)
    return request


# --- applying an approved request ---------------------------------------------------------------


def request_claim(request_id: int) -> str | None:
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
            actor=WORKER,
            action="request.apply_started",
            target=_request_target(request),
            data={"attempt": request.attempts},
        )
    return token


def request_extend_lease(request_id: int, *, claim: str, seconds: float) -> bool:
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


def request_apply(request_id: int, *, claim: str) -> TransitionRequest | None:
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
            actor=WORKER,
            action="request.applied",
            target=_request_target(request),
            data={"outcome": outcome, "mlflow_calls": client.calls, "tags": tags},
        )
    return request


def request_fail(request_id: int, *, claim: str, error: str) -> bool:
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
                actor=WORKER,
                action="request.failed",
                target=_request_target(request),
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
                record(actor=WORKER, action="request.lease_expired", target=_request_target(request), data={})
    waiting = list(
        TransitionRequest.objects.filter(
            status=TransitionRequest.APPROVED,
            status_changed_at__lt=now - timedelta(seconds=settings.APPLY_REQUEUE_AFTER_SECONDS),
        ).values_list("pk", flat=True)
    )
    # Requests just taken back are queued at once; those approved a while ago lost their message.
    ids = sorted(set(waiting) | set(taken_back))
    for pk in ids:
        tasks.apply_transition.delay(pk)
    if ids:
        logger.info("re-queued %d approved transition requests (%d expired claims)", len(ids), len(taken_back))
    return {"expired": len(taken_back), "queued": len(ids)}


# --- out-of-band transitions --------------------------------------------------------------------

# An applied request still explains the changes a sync sees this long after it was applied
# (a beat sync that read MLflow just before the apply task's own sync committed).
EXPLAINS_FOR = timedelta(minutes=10)


def _explains(request: TransitionRequest, change: StageChange) -> bool:
    stage = request.to_stage
    alias = settings.STAGE_ALIASES.get(stage)
    mine = change.version == request.version_number
    if change.kind == StageChange.KIND_STAGE:
        if mine:
            return change.to_value == stage
        return stage == "Production" and change.from_value == "Production" and change.to_value == "Archived"
    if alias and change.alias == alias:
        return (mine and change.to_value == alias) or (not mine and change.from_value == alias)
    # The version left its previous stage, and with it that stage's alias.
    return mine and not change.to_value and change.alias in settings.STAGE_ALIASES.values()


def unapproved_transitions_detect(sync_run: SyncRun) -> list[UnapprovedTransition]:
    """Record every stage/alias change of ``sync_run`` that no approved/applying/applied request explains.

    The first successful sync is the baseline: what it finds is the registry as it was, not a change.
    """
    changes = list(StageChange.objects.filter(sync_run=sync_run, unapproved__isnull=True).order_by("id"))
    if not changes:
        return []
    if not SyncRun.objects.filter(status=SyncRun.SUCCEEDED, pk__lt=sync_run.pk).exists():
        return []
    names = {c.model_name for c in changes}
    explaining = [
        r
        for r in TransitionRequest.objects.filter(
            model_name__in=names,
            # Approved too: a claim taken back by the sweeper may already have reached MLflow.
            status__in=(
                TransitionRequest.APPROVED,
                TransitionRequest.APPLYING,
                TransitionRequest.APPLIED,
                TransitionRequest.FAILED,
            ),
        )
        if r.applied_at is None or r.applied_at + EXPLAINS_FOR >= sync_run.started_at
    ]
    found, events = [], []
    with transaction.atomic():
        for change in changes:
            by = next((r for r in explaining if r.model_name == change.model_name and _explains(r, change)), None)
            if by is not None:
                if by.version_number != change.version and change.kind == StageChange.KIND_STAGE:
                    # e.g. the previous Production version, archived by this apply: its pending requests lapse.
                    events += _supersede_for(change, reason=f"moved by request #{by.pk}")
                continue
            unapproved = UnapprovedTransition.objects.create(
                stage_change=change,
                model_name=change.model_name,
                version_number=change.version,
                kind=change.kind,
                alias=change.alias,
                from_value=change.from_value,
                to_value=change.to_value,
                seen_at=change.seen_at,
            )
            found.append(unapproved)
            events.append(
                PendingEvent(
                    SYNC_ACTOR,
                    "registry.unapproved_transition",
                    version_target(change.model_name, change.version),
                    {
                        "kind": change.kind,
                        "alias": change.alias,
                        "from": change.from_value,
                        "to": change.to_value,
                        "sync_run": sync_run.pk,
                    },
                )
            )
            events += _supersede_for(change, reason=f"changed in MLflow outside the portal: {change}")
        record_many(events)
        if found:
            transaction.on_commit(lambda: notify.unapproved_transitions(found), robust=True)
    return found


def _supersede_for(change: StageChange, *, reason: str) -> list[PendingEvent]:
    """Pending requests of a version whose stage or alias moved under them no longer hold."""
    return _supersede(
        model_name=change.model_name, versions=[change.version], statuses=[TransitionRequest.PENDING], reason=reason
    )


def requests_supersede_for_removed(*, model_name: str, versions: list[int], reason: str) -> None:
    """Open requests of versions that left the mirror (deleted, or name/number re-used in MLflow) are superseded."""
    statuses = [TransitionRequest.PENDING, TransitionRequest.APPROVED, TransitionRequest.FAILED]
    record_many(_supersede(model_name=model_name, versions=versions, statuses=statuses, reason=reason))


def _supersede(*, model_name: str, versions: list[int], statuses: list[str], reason: str) -> list[PendingEvent]:
    """Supersede the requests of these versions in these states, under row locks; their audit events, to record."""
    events = []
    for request in TransitionRequest.objects.select_for_update().filter(
        model_name=model_name, version_number__in=versions, status__in=statuses
    ):
        _set_status(request, TransitionRequest.SUPERSEDED)
        request.save(update_fields=["status", "status_changed_at"])
        events.append(PendingEvent(SYNC_ACTOR, "request.superseded", _request_target(request), {"reason": reason}))
    return events


def model_rename_follow(*, old_name: str, new_name: str) -> None:
    """Requests, check runs, out-of-band findings and the model's own policy follow a model renamed in MLflow.
    A policy already written for the new name is kept, not overwritten."""
    for queryset in (CheckRun.objects, TransitionRequest.objects, UnapprovedTransition.objects):
        queryset.filter(model_name=old_name).update(model_name=new_name)
    if not Policy.objects.filter(model_name=new_name).exists():
        Policy.objects.filter(model_name=old_name).update(model_name=new_name)


def unapproved_transition_acknowledge(*, actor, unapproved: UnapprovedTransition) -> UnapprovedTransition:
    if not actor.is_superuser:
        raise PermissionDenied("only an admin may acknowledge an unapproved transition")
    with transaction.atomic():
        unapproved = UnapprovedTransition.objects.select_for_update().get(pk=unapproved.pk)
        if unapproved.acknowledged_at is not None:
            raise RequestConflict("already acknowledged")
        unapproved.acknowledged_by, unapproved.acknowledged_at = actor, timezone.now()
        unapproved.save(update_fields=["acknowledged_by", "acknowledged_at"])
        record(
            actor=actor,
            action="registry.unapproved_acknowledged",
            target=version_target(unapproved.model_name, unapproved.version_number),
            data={"change": unapproved.describe()},
        )
    return unapproved
