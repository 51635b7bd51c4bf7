"""Reading findings: per version, per model, across the portal, and what the version page and a finding's page show."""

from __future__ import annotations

from dataclasses import dataclass

from django.shortcuts import get_object_or_404

from audit.models import AuditEvent
from registry.access import Refusal, enforce
from registry_portal import roles

from . import access
from .models import Finding, severity_rank


def version_findings(version):
    return Finding.objects.of_version(version).select_related("owner")


def open_findings(version, min_severity: str = "low") -> list[Finding]:
    """Unresolved findings (open or remediated, not closed) of ``version`` at ``min_severity`` or above."""
    return list(Finding.objects.of_version(version).unresolved().filter(severity_rank__gte=severity_rank(min_severity)))


def findings_list(*, model_name: str = "", severity: str = "", overdue: bool = False, owner=None, status: str = ""):
    """``status``: one status, or ``unresolved`` (open or remediated); ``severity``: that or above."""
    qs = Finding.objects.select_related("owner")
    if model_name:
        qs = qs.filter(model_name=model_name)
    if severity:
        qs = qs.filter(severity_rank__gte=severity_rank(severity))
    if overdue:
        qs = qs.overdue()
    if owner is not None:
        qs = qs.filter(owner=owner)
    if status == "unresolved":
        qs = qs.unresolved()
    elif status:
        qs = qs.filter(status=status)
    return qs


def finding_get_for_user(user, pk: int) -> Finding:
    enforce(access.read_refusal(user))
    return get_object_or_404(
        Finding.objects.select_related("owner", "opened_by", "version__model", "carried_from"), pk=pk
    )


def finding_history(finding: Finding) -> list[AuditEvent]:
    """The finding's audit events (target: its version; ``data.finding``: its id), oldest first; one query."""
    return list(
        AuditEvent.objects.filter(
            model_name=finding.model_name,
            version=finding.version_number,
            action__startswith="finding.",
            data__finding=finding.pk,
        ).order_by("seq")
    )


@dataclass
class FindingPage:
    """A finding's page: what ``user`` may do to it is ``access``'s answer (the services enforce the same)."""

    finding: Finding
    history: list[AuditEvent]
    remediate_refusal: Refusal | None
    close_refusal: Refusal | None
    accept_refusal: Refusal | None
    reopen_refusal: Refusal | None

    @property
    def actions(self) -> list[str]:
        return [name for name in ("remediate", "close", "accept", "reopen") if getattr(self, f"{name}_refusal") is None]


def finding_page(user, finding: Finding) -> FindingPage:
    return FindingPage(
        finding=finding,
        history=finding_history(finding),
        remediate_refusal=access.remediate_refusal(user, finding),
        close_refusal=access.close_refusal(user, finding),
        accept_refusal=access.accept_refusal(user, finding),
        reopen_refusal=access.reopen_refusal(user, finding),
    )


def carry_candidates(version, current: list[Finding]) -> list[Finding]:
    """Unresolved findings of the newest older version of the model that has any, not yet carried to
    ``version`` (``current``: its findings); one query."""
    carried = {f.carried_from_id for f in current if f.carried_from_id}
    older = (
        Finding.objects.unresolved()
        .filter(model_name=version.model.name, version_number__lt=version.version, version__isnull=False)
        .exclude(pk__in=carried)
        .select_related("owner", "version")
        .order_by("-version_number", "-severity_rank", "id")
    )
    found = list(older[:200])
    return [f for f in found if f.version_number == found[0].version_number] if found else []


def version_panel(user, version) -> dict:
    """The version page's findings: its findings (one query), the form for those who may open one, and for the
    model's owners the unresolved findings of the previous version they may carry over (one more query)."""
    findings = list(version_findings(version))
    can_open = access.open_refusal(user, version) is None
    candidates = carry_candidates(version, findings) if roles.is_owner(user, version.model) else []
    return {
        "version": version,
        "findings": findings,
        "can_open": can_open,
        "carry_candidates": candidates,
        "carry_from": candidates[0].version if candidates else None,
    }
