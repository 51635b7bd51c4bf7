"""Reads of waivers and re-certifications (the version page, the API, the gate, the lists)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from registry.models import ModelVersion, RegisteredModel
from registry_portal import roles

from . import access
from .models import Attestation, Recertification, Waiver


def _visible(user, queryset):
    return queryset.filter(model_name__in=RegisteredModel.objects.visible_to(user).values("name"))


def _with_attestations(queryset):
    return queryset.select_related("version__model", "version__run", "version__logged_model").prefetch_related(
        Prefetch("attestations", queryset=Attestation.objects.select_related("reviewer"))
    )


def waiver_get_for_user(user, pk: int) -> Waiver:
    return get_object_or_404(_with_attestations(_visible(user, Waiver.objects.select_related("requested_by"))), pk=pk)


def recertification_get_for_user(user, pk: int) -> Recertification:
    return get_object_or_404(_with_attestations(_visible(user, Recertification.objects.all())), pk=pk)


def waivers_of_version(version: ModelVersion) -> list[Waiver]:
    return list(Waiver.objects.filter(version=version).order_by("-id"))


def production_waiver_expired(version: ModelVersion) -> bool:
    """A Production version with an expired waiver and no active one for that rule since; one query."""
    if version.stage != "Production":
        return False
    return Waiver.objects.filter(version=version, status=Waiver.EXPIRED).exists()


def expired_waiver_model_names(names) -> set[str]:
    """Of ``names``, the models whose Production version has an expired waiver (the model list badge); one query."""
    return set(
        Waiver.objects.filter(model_name__in=list(names), status=Waiver.EXPIRED, version__stage="Production")
        .values_list("model_name", flat=True)
        .distinct()
    )


def open_waivers(user):
    return _visible(user, Waiver.objects.filter(status=Waiver.PENDING)).order_by("created_at", "id")


def open_recertifications(user):
    return _visible(user, Recertification.objects.filter(status=Recertification.OPEN)).order_by("due_at", "id")


def overdue_recertification(version: ModelVersion | None) -> Recertification | None:
    """The Production version's open re-certification past its due date, or its rejected one (the request page's
    warning); one query, none for a version not in Production."""
    if version is None or version.stage != "Production":
        return None
    return (
        Recertification.objects.filter(version=version)
        .filter(Q(status=Recertification.OPEN, due_at__lte=timezone.now()) | Q(status=Recertification.REJECTED))
        .order_by("-id")
        .first()
    )


QUEUE_GOVERNANCE_LIMIT = 50


@dataclass(frozen=True)
class QueueGovernance:
    """The review queue's governance section: what waits for the user's attestation, and what is overdue."""

    waivers: list
    recertifications: list
    overdue: list


def queue_governance(user) -> QueueGovernance:
    """Pending waivers and open re-certifications ``user`` may attest (a reviewer who did not request it and has
    not attested it: ``_waiting_for``'s rule, owners' exclusion left to the page), and every visible overdue
    re-certification; two queries, at most ``QUEUE_GOVERNANCE_LIMIT`` rows each."""
    in_reviewers = Exists(get_user_model().objects.filter(pk=user.pk, groups__name=roles.REVIEWERS))

    def mine(**subject):
        return Exists(Attestation.objects.filter(reviewer_id=user.pk, **subject))

    waivers = (
        _visible(user, Waiver.objects.filter(status=Waiver.PENDING))
        .filter(in_reviewers)
        .exclude(requested_by_id=user.pk)
        .exclude(mine(waiver=OuterRef("pk")))
        .order_by("created_at", "id")[:QUEUE_GOVERNANCE_LIMIT]
    )
    awaiting = Q(in_reviewers) & ~Q(mine(recertification=OuterRef("pk")))
    now = timezone.now()
    recerts = list(
        _visible(user, Recertification.objects.filter(status=Recertification.OPEN))
        .annotate(awaiting=ExpressionWrapper(awaiting, output_field=BooleanField()))
        .filter(Q(awaiting=True) | Q(due_at__lte=now))
        .order_by("due_at", "id")[: 2 * QUEUE_GOVERNANCE_LIMIT]
    )
    return QueueGovernance(
        waivers=list(waivers),
        recertifications=[r for r in recerts if r.awaiting][:QUEUE_GOVERNANCE_LIMIT],
        overdue=[r for r in recerts if r.due_at <= now][:QUEUE_GOVERNANCE_LIMIT],
    )


def subject_page(user, subject) -> dict:
    """The waiver or re-certification page's context: attestations, what the user may do, the version's facts."""
    from cards.completeness import version_card_completeness

    version = subject.version
    ctx = {
        "subject": subject,
        "attestations": list(subject.attestations.all()),
        "attest_refusal": access.attestation_refusal(user, subject),
        "version": version,
    }
    if isinstance(subject, Waiver):
        ctx["withdraw_refusal"] = access.waiver_withdraw_refusal(user, subject)
    if version is not None:
        ctx["metrics"] = sorted(version.metrics.items())
        ctx["completeness"] = version_card_completeness(version)
        if isinstance(subject, Recertification):
            ctx["findings"] = recertification_findings(version)
    return ctx


def recertification_findings(version: ModelVersion) -> list:
    """The version's findings for reviewers attesting it: unresolved (open, remediated) first, by severity; one
    query."""
    from findings.selectors import version_findings

    return sorted(version_findings(version), key=lambda f: (not f.is_unresolved, -f.severity_rank, f.pk))
