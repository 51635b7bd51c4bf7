"""API v1 for findings: list (filters), get, open, and the status actions. Access is ``findings.access``'s
answer, raised by the services (403 / 409; bad input 400). Endpoints: docs/findings.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from registry.access import enforce
from registry.selectors import version_get_for_user

from . import access, selectors, services
from .models import Finding

router = Router(tags=["findings"])
Severity = Literal["low", "medium", "high", "critical"]
Category = Literal["validation_issue", "limitation", "policy_exception_request"]


class FindingOut(Schema):
    id: int
    model_name: str
    version: int
    title: str
    description: str
    severity: str
    category: str
    owner: str
    due_date: date | None
    overdue: bool
    card_section: str
    check_result_id: int | None
    rule_id: str
    status: str
    remediation_notes: str
    opened_by: str | None
    carried_from: int | None
    created_at: datetime
    updated_at: datetime


class FindingIn(Schema):
    title: str
    severity: Severity
    owner: str
    description: str = ""
    category: Category = "validation_issue"
    due_date: date | None = None
    card_section: str = ""
    check_result_id: int | None = None
    rule_id: str = ""


class RemediateIn(Schema):
    notes: str


class CarryIn(Schema):
    to_version: int
    finding_ids: list[int]


def finding_dict(finding: Finding) -> dict:
    return {
        "id": finding.pk,
        "model_name": finding.model_name,
        "version": finding.version_number,
        "title": finding.title,
        "description": finding.description,
        "severity": finding.severity,
        "category": finding.category,
        "owner": finding.owner.get_username(),
        "due_date": finding.due_date,
        "overdue": finding.is_overdue,
        "card_section": finding.card_section,
        "check_result_id": finding.check_result_id,
        "rule_id": finding.rule_id,
        "status": finding.status,
        "remediation_notes": finding.remediation_notes,
        "opened_by": finding.opened_by.get_username() if finding.opened_by else None,
        "carried_from": finding.carried_from_id,
        "created_at": finding.created_at,
        "updated_at": finding.updated_at,
    }


def findings_extra(user, version) -> list[dict]:
    """The version response's ``extras["findings"]``: every finding of the version, most severe first."""
    return [finding_dict(f) for f in selectors.version_findings(version).select_related("opened_by")]


def _user(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError(f"no active user {username!r}")
    return user


def _get(request, finding_id: int) -> Finding:
    enforce(access.read_refusal(request.user))
    return get_object_or_404(Finding.objects.select_related("owner", "opened_by", "version__model"), pk=finding_id)


@router.get("/findings", response=list[FindingOut], url_name="finding_list")
def finding_list(request, severity: Severity | None = None, overdue: bool = False, owner: str = "", model: str = ""):
    """Findings across the portal, most severe first: ``severity`` (that or above), ``overdue``, ``owner``."""
    enforce(access.read_refusal(request.user))
    found = selectors.findings_list(
        model_name=model, severity=severity or "", overdue=overdue, owner=_user(owner) if owner else None
    )
    return [finding_dict(f) for f in found.select_related("opened_by")[:500]]


@router.get("/findings/{finding_id}", response=FindingOut, url_name="finding_get")
def finding_get(request, finding_id: int):
    return finding_dict(_get(request, finding_id))


@router.post("/models/{name}/versions/{version}/findings", response={201: FindingOut}, url_name="finding_create")
def finding_create(request, name: str, version: int, payload: FindingIn):
    """Open a finding (reviewers, ML leads, admins)."""
    model_version = version_get_for_user(request.user, name, version)
    data = payload.dict()
    data["owner"] = _user(data["owner"])
    finding = services.finding_open(actor=request.user, version=model_version, **data)
    return 201, finding_dict(_get(request, finding.pk))


@router.post("/findings/{finding_id}/remediate", response=FindingOut, url_name="finding_remediate")
def finding_remediate(request, finding_id: int, payload: RemediateIn):
    services.finding_remediate(actor=request.user, finding_id=_get(request, finding_id).pk, notes=payload.notes)
    return finding_dict(_get(request, finding_id))


@router.post("/findings/{finding_id}/{action}", response=FindingOut, url_name="finding_action")
def finding_action(request, finding_id: int, action: Literal["close", "accept", "reopen"]):
    service = {"close": services.finding_close, "accept": services.finding_accept, "reopen": services.finding_reopen}
    service[action](actor=request.user, finding_id=_get(request, finding_id).pk)
    return finding_dict(_get(request, finding_id))


@router.post("/models/{name}/versions/{version}/findings/carry", response=list[FindingOut], url_name="finding_carry")
def finding_carry(request, name: str, version: int, payload: CarryIn):
    """Carry unresolved findings of this version to a newer one (the model's owners)."""
    source = version_get_for_user(request.user, name, version)
    target = version_get_for_user(request.user, name, payload.to_version)
    carried = services.findings_carry_over(
        actor=request.user, from_version=source, to_version=target, finding_ids=payload.finding_ids
    )
    return [finding_dict(_get(request, f.pk)) for f in carried]
