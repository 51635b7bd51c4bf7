"""Reads of waivers and re-certifications (the version page, the API, the gate, the lists)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from registry.models import ModelVersion, RegisteredModel

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
