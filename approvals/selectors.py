"""Reads of governance data that depend on who asks."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from cards.selectors import card_page
from findings import selectors as findings_selectors
from findings.models import severity_rank
from registry.access import Refusal
from registry.models import ModelVersion, RegisteredModel
from registry.selectors import ProductionComparison, owners_prefetch, production_comparison
from registry_portal import roles

from . import access
from .digest import version_content_digest
from .models import CheckResult, CheckRun, Review, TransitionRequest, UnapprovedTransition
from .policies import stage_policy
from .rules import STAGES


def next_stage(version: ModelVersion) -> str | None:
    """Where ``version`` goes next on the way to Production (None from Production or Archived)."""
    return {"None": "Staging", "Staging": "Production"}.get(version.stage)


def check_run_get_for_user(user, pk: int) -> CheckRun:
    """A check run of a version the user may see; runs of deleted versions stay readable by name."""
    visible = RegisteredModel.objects.visible_to(user).values("name")
    return get_object_or_404(
        CheckRun.objects.filter(model_name__in=visible).select_related(
            "version__model", "version__run", "version__logged_model"
        ),
        pk=pk,
    )


def checks_panel(version: ModelVersion, user, *, digest: str | None = None) -> dict:
    """What the version page's checklist shows: the latest run, its results, and whether it is stale.

    ``digest``: the version's content digest when the page has computed it already (once per page).
    """
    latest = (
        CheckRun.objects.filter(version=version)
        .prefetch_related(Prefetch("results", queryset=CheckResult.objects.order_by("position")))
        .order_by("-id")
        .first()
    )
    return {
        "version": version,
        "check_run": latest,
        "results": list(latest.results.all()) if latest else [],
        "is_stale": bool(latest and latest.is_stale_against(digest or version_content_digest(version))),
        "can_run": access.check_run_refusal(user, version) is None,
        "stages": STAGES,
        "default_stage": latest.stage if latest else (next_stage(version) or "Production"),
    }


# --- transition requests ------------------------------------------------------------------------

QUEUE_TABS = {"waiting": "Waiting for me", "open": "All open", "decided": "Recently decided"}
DECIDED_WITHIN = timedelta(days=30)
QUEUE_PER_PAGE = 25


def requests_visible_to(user):
    visible = RegisteredModel.objects.visible_to(user).values("name")
    return TransitionRequest.objects.filter(model_name__in=visible)


def _current_digest(version_ref):
    """The version's content digest as its latest check run saw it, in SQL (``version_ref`` points at the
    request's ``version`` column).

    Every change of a version's content (card revision, sync of new run data or tags) queues a check
    run for the new content, so its latest run carries the current digest; lists use this instead of
    computing each version's digest (two or three queries per row). The request page computes it exactly.
    """
    return Subquery(CheckRun.objects.filter(version=version_ref).order_by("-id").values("content_digest")[:1])


def _reviews_of_current_content(**filters):
    """Reviews of the outer request given against its version's current content."""
    return Review.objects.filter(
        request=OuterRef("pk"), content_digest=_current_digest(OuterRef(OuterRef("version"))), **filters
    )


def with_review_counts(requests):
    """Annotate ``fresh_approvals``: approvals given against the version's current content."""
    fresh = (
        _reviews_of_current_content(decision=Review.APPROVE)
        .order_by()
        .values("request")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return requests.annotate(fresh_approvals=Coalesce(Subquery(fresh), 0))


def _waiting_for(user) -> Q:
    """Pending requests ``user`` may review now: a reviewer, not the requester, with no fresh review
    (a stale approval, given before the content changed, means waiting again)."""
    in_reviewers = get_user_model().objects.filter(pk=user.pk, groups__name=roles.REVIEWERS)
    return (
        Q(status=TransitionRequest.PENDING)
        & ~Q(requested_by_id=user.pk)
        & Q(Exists(in_reviewers))
        & ~Q(Exists(_reviews_of_current_content(reviewer_id=user.pk)))
    )


DIGEST_MAX_LINES = 50


def waiting_digest_lines(user) -> list[str]:
    """The daily digest's "waiting for your review" (notifications.digests): one line per request ``user`` may
    review now, oldest first, with its model, version, stage and link; one query, at most DIGEST_MAX_LINES."""
    if not user.is_authenticated:
        return []
    rows = (
        requests_visible_to(user)
        .filter(_waiting_for(user))
        .select_related("requested_by")
        .order_by("created_at", "id")[:DIGEST_MAX_LINES]
    )
    return [
        f"{r.model_name} v{r.version_number}: {r.from_stage} → {r.to_stage}, filed by "
        f"{r.requested_by.get_username()} on {r.created_at:%Y-%m-%d}: {settings.PORTAL_URL}{r.get_absolute_url()}"
        for r in rows
    ]


def _decided_since():
    return Q(status_changed_at__gte=timezone.now() - DECIDED_WITHIN) & ~Q(status=TransitionRequest.PENDING)


def waiting_count(user) -> int:
    """How many requests wait for ``user``'s review (the nav badge); one query."""
    if not user.is_authenticated:
        return 0
    return requests_visible_to(user).filter(_waiting_for(user)).count()


@dataclass
class Queue:
    tab: str
    counts: dict
    page: Page

    @property
    def tabs(self) -> list[tuple[str, str, int]]:
        return [(name, label, self.counts[name]) for name, label in QUEUE_TABS.items()]


def review_queue(user, tab: str, page_number) -> Queue:
    """The reviewer queue: counts of the three tabs in one query, and one page of ``tab``: a tab, or one
    request status (the API's ``?status=applied``; newest first, like "decided")."""
    requests = requests_visible_to(user)
    filters = {
        "waiting": _waiting_for(user),
        "open": Q(status__in=TransitionRequest.OPEN),
        "decided": _decided_since(),
    }
    statuses = {status for status, _ in TransitionRequest.STATUS_CHOICES}
    if tab not in filters and tab not in statuses:
        raise ValueError(f"unknown queue {tab!r}")
    counts = requests.aggregate(**{name: Count("pk", filter=condition) for name, condition in filters.items()})
    rows = with_review_counts(requests.filter(filters.get(tab) or Q(status=tab))).select_related("requested_by")
    newest_first = tab == "decided" or tab in statuses
    rows = rows.order_by("-status_changed_at", "-id") if newest_first else rows.order_by("created_at", "id")
    return Queue(tab=tab, counts=counts, page=Paginator(rows, QUEUE_PER_PAGE).get_page(page_number))


def open_requests_by_version(model_name: str) -> dict[int, TransitionRequest]:
    """The open request of each version of a model (at most one each), by version number; one query."""
    return {
        r.version_number: r
        for r in TransitionRequest.objects.open()
        .filter(model_name=model_name)
        .select_related("requested_by")
        .order_by("version_number")
    }


def open_request_counts(model_names: list[str]) -> dict[str, int]:
    """How many open requests each model has; one query for every shown row."""
    if not model_names:
        return {}
    return dict(
        TransitionRequest.objects.open()
        .filter(model_name__in=model_names)
        .order_by()
        .values("model_name")
        .annotate(n=Count("pk"))
        .values_list("model_name", "n")
    )


def unacknowledged_by_model(model_name: str = "") -> dict[str, list[UnapprovedTransition]]:
    """Unacknowledged out-of-band changes by model (all models, or one); one query."""
    rows = (
        UnapprovedTransition.objects.unacknowledged().select_related("revert").order_by("model_name", "-seen_at", "-id")
    )
    if model_name:
        rows = rows.filter(model_name=model_name)
    found: dict[str, list[UnapprovedTransition]] = {}
    for row in rows:
        found.setdefault(row.model_name, []).append(row)
    return found


def eligible_approvals(decisions, *, requester_id: int, digest: str | None = None) -> list:
    """Of ``decisions`` (reviews or attestations), the approvals that count: fresh against ``digest`` (when
    given), by active members of reviewers other than the requester. Shared by requests, waivers and
    re-certifications (one quorum design)."""
    decisions = decisions.select_related("reviewer").prefetch_related("reviewer__groups")
    return [
        d
        for d in decisions
        if d.is_approval
        and (digest is None or not d.is_stale_against(digest))
        and d.reviewer_id != requester_id
        and d.reviewer.is_active
        and any(g.name == roles.REVIEWERS for g in d.reviewer.groups.all())
    ]


def quorum(request: TransitionRequest, digest: str) -> list[Review]:
    """The approvals that count: fresh (given against ``digest``), by distinct eligible reviewers."""
    return eligible_approvals(request.reviews.all(), requester_id=request.requested_by_id, digest=digest)


def checks_for(request: TransitionRequest, version: ModelVersion, digest: str) -> CheckRun | None:
    """The latest check run of the version against the request's stage for this very content."""
    return (
        CheckRun.objects.filter(version=version, stage=request.to_stage, content_digest=digest).order_by("-id").first()
    )


def open_request_for_version(version: ModelVersion) -> TransitionRequest | None:
    return TransitionRequest.objects.open().for_version(version).select_related("requested_by").first()


def request_get_for_user(user, pk: int) -> TransitionRequest:
    return get_object_or_404(
        requests_visible_to(user)
        .select_related("requested_by", "version__model", "version__run", "version__logged_model")
        .prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer")),
            # Who owns the model: the review, comment and panel questions then ask ``roles.is_owner`` at no query.
            Prefetch("version__model__owners", queryset=owners_prefetch().queryset),
        ),
        pk=pk,
    )


@dataclass
class RequestPage:
    """What the request page shows; ``digest`` is the version's current content digest."""

    request: TransitionRequest
    version: ModelVersion | None
    digest: str
    reviews: list[Review]
    fresh_approvals: int
    check_run: CheckRun | None
    review_refusal: Refusal | None
    approve_refusal: str
    can_withdraw: bool
    can_retry: bool
    comment_refusal: Refusal | None = None
    comparison: ProductionComparison | None = None  # with details: metrics against Production
    checks: dict | None = None  # with details: the checklist partial's context
    card: dict | None = None  # with details: the card partial's context
    findings: dict | None = None  # with details: the findings partial's context

    @property
    def checks_state(self) -> str:
        """``passed``, ``failing``, ``running`` or ``missing`` for the request's stage and current content."""
        if self.check_run is None:
            return "missing"
        if not self.check_run.is_done:
            return "running"
        return "passed" if self.check_run.passed else "failing"

    @property
    def is_applying(self) -> bool:
        return self.request.status in (TransitionRequest.APPROVED, TransitionRequest.APPLYING)

    @property
    def keeps_polling(self) -> bool:
        """The decision block refreshes itself while a worker is on it: the apply, or the request's checks."""
        return self.is_applying or (self.request.is_pending and self.checks_state == "running")


def request_page(user, request: TransitionRequest, *, with_details: bool = True) -> RequestPage:
    """The request page's state for ``user``; ``with_details`` adds the metric deltas vs Production.

    What ``user`` may do here is ``approvals.access``'s answer, the one the services enforce.
    """
    version = request.version
    digest = version_content_digest(version) if version is not None else ""
    reviews = list(request.reviews.all())
    for review in reviews:
        review.stale = review.is_stale_against(digest)
    check_run = checks_for(request, version, digest) if version is not None else None
    refusal = access.review_refusal(user, request, current_digest=digest)
    page = RequestPage(
        request=request,
        version=version,
        digest=digest,
        reviews=reviews,
        fresh_approvals=len(quorum(request, digest)) if version is not None else 0,
        check_run=check_run,
        review_refusal=refusal,
        approve_refusal="",
        can_withdraw=access.withdraw_refusal(user, request) is None,
        can_retry=access.retry_refusal(user, request) is None,
        comment_refusal=access.comment_refusal(user, request),
    )
    if refusal is None and page.checks_state == "failing":
        page.approve_refusal = "checks failing: fix what they report, then they run again"
    if with_details and version is not None:
        page.comparison = production_comparison(version)
        page.checks = checks_panel(version, user, digest=digest)
        page.card = {"page": card_page(version, user), "version": version}
        page.findings = request_findings(request, version)
    return page


def request_findings(request: TransitionRequest, version: ModelVersion) -> dict:
    """The version's findings on its request page. When the stage's policy has a ``no_open_findings`` rule: every
    finding, with those it blocks (unresolved, at its ``min_severity`` or above) marked; else the unresolved ones.
    Three queries: the policy (two) and the findings."""
    floors = [
        r.min_severity for r in stage_policy(request.model_name, request.to_stage).rules if r.type == "no_open_findings"
    ]
    findings = list(findings_selectors.version_findings(version))
    if not floors:
        return {"findings": [f for f in findings if f.is_unresolved], "blocking": None, "min_severity": None}
    floor = min(floors, key=severity_rank)
    blocking = {f.pk for f in findings if f.is_unresolved and severity_rank(f.severity) >= severity_rank(floor)}
    return {"findings": findings, "blocking": blocking, "min_severity": floor}


def unapproved_get(pk: int) -> UnapprovedTransition:
    return get_object_or_404(UnapprovedTransition, pk=pk)
