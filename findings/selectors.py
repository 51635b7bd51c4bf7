"""Reading findings: per version, per model, across the portal."""

from __future__ import annotations

from .models import Finding, severity_rank


def version_findings(version):
    return Finding.objects.of_version(version).select_related("owner")


def open_findings(version, min_severity: str = "low") -> list[Finding]:
    """Unresolved findings (open or remediated, not closed) of ``version`` at ``min_severity`` or above."""
    return list(Finding.objects.of_version(version).unresolved().filter(severity_rank__gte=severity_rank(min_severity)))


def findings_list(*, model_name: str = "", severity: str = "", overdue: bool = False, owner=None):
    qs = Finding.objects.select_related("owner")
    if model_name:
        qs = qs.filter(model_name=model_name)
    if severity:
        qs = qs.filter(severity_rank__gte=severity_rank(severity))
    if overdue:
        qs = qs.overdue()
    if owner is not None:
        qs = qs.filter(owner=owner)
    return qs
