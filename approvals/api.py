"""API v1 for governance: transition requests, reviews, dry-run checks and the deployment gate.

Another face of the pages: each operation parses, calls one service or selector, and serialises. Who may do
what is ``approvals.access``'s answer, raised by the services (PermissionDenied → 403, RequestConflict →
409, ValidationError → 400: the API's handlers in ``registry_portal/api.py``). Endpoints: docs/api.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from ninja import Field, Router, Schema

from registry.selectors import version_get_for_user

from . import selectors, services
from .checks import evaluate
from .gate import GATE_STAGES, check_result_dict, check_run_dict, gate_decision
from .rules import STAGES

router = Router(tags=["approvals"])


class RequestCreateIn(Schema):
    to_stage: str
    justification: str


class ReviewIn(Schema):
    decision: Literal["approve", "reject"]
    comment: str = ""


class ReviewOut(Schema):
    reviewer: str
    decision: str
    comment: str
    content_digest: str
    stale: bool
    created_at: datetime
    updated_at: datetime


class CheckResultOut(Schema):
    rule_id: str
    rule_type: str
    description: str
    status: str
    message: str
    evidence: dict[str, Any]


class CheckRunOut(Schema):
    id: int
    stage: str
    status: str
    policy: str
    content_digest: str
    finished_at: datetime | None
    results: list[CheckResultOut]


class ActionsOut(Schema):
    """What the caller may do now, as the request page offers it (``approvals.access``)."""

    review: bool
    review_refusal: str | None
    withdraw: bool
    retry: bool
    comment: bool = Field(description="reviewers, ML leads, the requester, the model's owners and admins")
    comment_refusal: str | None


class RequestSummaryOut(Schema):
    id: int
    model_name: str
    version: int
    from_stage: str
    to_stage: str
    status: str
    requested_by: str
    required_approvals: int
    fresh_approvals: int
    created_at: datetime
    status_changed_at: datetime


class RequestOut(RequestSummaryOut):
    justification: str
    decided_at: datetime | None
    applied_at: datetime | None
    last_error: str
    content_digest: str
    checks_state: str
    checks: CheckRunOut | None
    reviews: list[ReviewOut]
    actions: ActionsOut


class QueueOut(Schema):
    list: str
    counts: dict[str, int]
    count: int
    page: int
    pages: int
    results: list[RequestSummaryOut]


class DryRunOut(Schema):
    model_name: str
    version: int
    stage: str
    policy: str
    content_digest: str
    passed: bool
    results: list[CheckResultOut]


class GateReasonOut(Schema):
    code: str
    message: str


class GateOut(Schema):
    allowed: bool
    model: str
    stage: str
    version: int | None
    alias: str | None
    mirror_synced_at: datetime | None
    warnings: list[GateReasonOut] = []
    waiver_expired: bool = False
    recertification: dict[str, Any] | None = None
    overdue: bool = False


class GateAllowedOut(GateOut):
    request_id: int
    approved_by: list[str]
    applied_at: datetime | None
    content_digest: str
    checks: CheckRunOut | None


class GateRefusedOut(GateOut):
    detail: str
    code: str
    reasons: list[GateReasonOut]


def _summary(request, fresh_approvals: int) -> dict:
    return {
        "id": request.pk,
        "model_name": request.model_name,
        "version": request.version_number,
        "from_stage": request.from_stage,
        "to_stage": request.to_stage,
        "status": request.status,
        "requested_by": request.requested_by.get_username(),
        "required_approvals": request.required_approvals,
        "fresh_approvals": fresh_approvals,
        "created_at": request.created_at,
        "status_changed_at": request.status_changed_at,
    }


def _request_out(user, request_id: int) -> dict:
    page = selectors.request_page(user, selectors.request_get_for_user(user, request_id), with_details=False)
    request = page.request
    return {
        **_summary(request, page.fresh_approvals),
        "justification": request.justification,
        "decided_at": request.decided_at,
        "applied_at": request.applied_at,
        "last_error": request.last_error,
        "content_digest": page.digest,
        "checks_state": page.checks_state,
        "checks": check_run_dict(page.check_run),
        "reviews": [
            {
                "reviewer": review.reviewer.get_username(),
                "decision": review.decision,
                "comment": review.comment,
                "content_digest": review.content_digest,
                "stale": review.stale,
                "created_at": review.created_at,
                "updated_at": review.updated_at,
            }
            for review in page.reviews
        ],
        "actions": {
            "review": page.review_refusal is None,
            "review_refusal": page.review_refusal.message if page.review_refusal else None,
            "withdraw": page.can_withdraw,
            "retry": page.can_retry,
            "comment": page.comment_refusal is None,
            "comment_refusal": page.comment_refusal.message if page.comment_refusal else None,
        },
    }


@router.post("/models/{name}/versions/{version}/requests", response={201: RequestOut}, url_name="request_create")
def request_create(request, name: str, version: int, payload: RequestCreateIn):
    """File a transition request (the model's owners and admins): its checks start, the reviewers are told."""
    model_version = version_get_for_user(request.user, name, version)
    created = services.transition_request_create(
        actor=request.user, version=model_version, to_stage=payload.to_stage, justification=payload.justification
    )
    return 201, _request_out(request.user, created.pk)


QueueStatus = Literal[
    "open", "decided", "pending", "approved", "applying", "applied", "rejected", "withdrawn", "superseded", "failed"
]


@router.get("/requests", response=QueueOut, url_name="request_list")
def request_list(request, status: QueueStatus = "open", waiting_for: Literal["me"] | None = None, page: int = 1):
    """The reviewer queue: open requests, those decided in the last 30 days, those in one status (e.g.
    ``applied``), or (``waiting_for=me``) those waiting for the caller's review; 25 a page, oldest first
    (decided or one status: newest first)."""
    queue = selectors.review_queue(request.user, "waiting" if waiting_for else status, page)
    return {
        "list": queue.tab,
        "counts": queue.counts,
        "count": queue.page.paginator.count,
        "page": queue.page.number,
        "pages": queue.page.paginator.num_pages,
        "results": [_summary(row, row.fresh_approvals) for row in queue.page],
    }


@router.get("/requests/{request_id}", response=RequestOut, url_name="request_detail")
def request_detail(request, request_id: int):
    """A request: its status, reviews (stale when the content changed since), checks with evidence, and
    what the caller may do now."""
    return _request_out(request.user, request_id)


@router.post("/requests/{request_id}/reviews", response={201: RequestOut}, url_name="review_submit")
def review_submit(request, request_id: int, payload: ReviewIn):
    """Approve or reject (a reviewer other than the requester, once; again only after a content change)."""
    transition_request = selectors.request_get_for_user(request.user, request_id)
    services.review_submit(
        actor=request.user, request=transition_request, decision=payload.decision, comment=payload.comment
    )
    return 201, _request_out(request.user, request_id)


@router.post("/requests/{request_id}/withdraw", response=RequestOut, url_name="request_withdraw")
def request_withdraw(request, request_id: int):
    """Withdraw a pending request (its requester or an admin)."""
    transition_request = selectors.request_get_for_user(request.user, request_id)
    services.transition_request_withdraw(actor=request.user, request=transition_request)
    return _request_out(request.user, request_id)


@router.get("/checks/{name}/{version}", response=DryRunOut, url_name="checks_dry_run")
def checks_dry_run(request, name: str, version: int, stage: str = "Production"):
    """Every rule of the stage's policy evaluated now on the mirror, with its evidence; nothing is stored."""
    if stage not in STAGES:
        raise ValidationError({"stage": f"choose one of {', '.join(STAGES)}"})
    model_version = version_get_for_user(request.user, name, version)
    evaluation = evaluate(model_version, stage)
    return {
        "model_name": model_version.model.name,
        "version": model_version.version,
        "stage": stage,
        "policy": evaluation.policy_label,
        "content_digest": evaluation.content_digest,
        "passed": evaluation.passed,
        "results": [check_result_dict(result) for result in evaluation.results()],
    }


@router.get("/gate/{name}", response={200: GateAllowedOut, 409: GateRefusedOut}, url_name="gate")
def gate(
    request,
    name: str,
    stage: Literal[GATE_STAGES] = "Production",  # type: ignore[valid-type]
    version: int | None = None,
    alias: str | None = None,
):
    """May this version serve in ``stage``? 200 with the request, approvers and checks behind it; else 409
    with every reason (docs/gate.md). Without ``version`` or ``alias``: the version the mirror shows there."""
    decision = gate_decision(model_name=name, stage=stage, version=version, alias=alias)
    return (200 if decision.allowed else 409), decision.as_dict()


# --- what the registry's version endpoint adds (``registry.api_extras``, registered in apps.py) ----------


def open_request_extra(user, version) -> dict | None:
    """The version's open request, if any."""
    open_request = selectors.open_request_for_version(version)
    if open_request is None:
        return None
    return {
        "id": open_request.pk,
        "status": open_request.status,
        "from_stage": open_request.from_stage,
        "to_stage": open_request.to_stage,
        "requested_by": open_request.requested_by.get_username(),
        "created_at": open_request.created_at,
    }


def latest_check_run_extra(user, version) -> dict | None:
    """The version's latest check run with its results, and whether the content changed since."""
    panel = selectors.checks_panel(version, user)
    if panel["check_run"] is None:
        return None
    return {**check_run_dict(panel["check_run"]), "is_stale": panel["is_stale"]}


class RiskTierIn(Schema):
    tier: int
    reason: str = ""


class RiskTierOut(Schema):
    model_name: str
    tier: int
    source: str
    set_by: str
    reason: str


@router.put("/models/{name}/risk-tier", response=RiskTierOut, url_name="risk_tier_set")
def risk_tier_put(request, name: str, payload: RiskTierIn):
    """Set a model's risk tier (ML leads and admins): 403 for others, 400 for a tier not in ``RISK_TIERS``."""
    from django.http import Http404

    from registry.models import RegisteredModel

    if not RegisteredModel.objects.filter(name=name).exists():
        raise Http404(name)
    row = services.risk_tier_set(actor=request.user, model_name=name, tier=payload.tier, reason=payload.reason)
    return row


def _risk_tier_of(model_name: str) -> dict | None:
    """{tier, source ("manual" or "card"), set_by}, or None when the model has no tier; one query."""
    from .models import ModelRiskTier

    row = ModelRiskTier.objects.filter(model_name=model_name).first()
    return None if row is None else {"tier": row.tier, "source": row.source, "set_by": row.set_by}


def risk_tier_extra(user, version) -> dict | None:
    """The version's model's risk tier under ``extras["risk_tier"]`` (None when it has none)."""
    return _risk_tier_of(version.model.name)


def model_risk_tier_extra(user, model) -> dict | None:
    """The model's risk tier under the model response's ``extras["risk_tier"]`` (None when it has none)."""
    return _risk_tier_of(model.name)


def recertification_extra(user, version) -> dict | None:
    """The version's re-certification: {id, due_at, status, overdue}; None when its policy never re-certifies."""
    from .services.recertification import recertification_state

    return recertification_state(version)


def waivers_extra(user, version) -> dict:
    """The version's waivers, and whether it is in Production with an expired one (flagged)."""
    from .selectors_governance import production_waiver_expired, waivers_of_version

    return {
        "waiver_expired": production_waiver_expired(version),
        "items": [
            {"id": w.pk, "stage": w.stage, "rule_id": w.rule_id, "status": w.status, "expires_at": w.expires_at}
            for w in waivers_of_version(version)
        ],
    }


def reverts_extra(user, version) -> list[dict]:
    """Enforcement's reverts of this version's unapproved Production changes, newest first (``out_of_band:
    revert``): ``reason`` says why one was skipped or failed; ``applied_at`` is set once it is reverted."""
    from .models import Revert

    return [
        {
            "id": r.pk,
            "kind": r.plan.get("kind"),
            "status": r.status,
            "requested_at": r.created_at,
            "applied_at": r.finished_at if r.status == Revert.REVERTED else None,
            "finished_at": r.finished_at,
            "outcome": r.mlflow_outcome,
            "reason": r.last_error if r.status in (Revert.SKIPPED, Revert.FAILED) else "",
        }
        for r in Revert.objects.filter(model_name=version.model.name, version_number=version.version)
    ]
