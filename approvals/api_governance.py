"""API v1 for waivers and re-certifications (mounted beside ``approvals.api``): create, get and attest a waiver;
get and attest a re-certification. Refusals are the services' (403/409), bad input 400 (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Router, Schema

from registry.selectors import version_get_for_user

from . import selectors_governance as sg
from . import services

router = Router(tags=["governance"])


class WaiverIn(Schema):
    stage: str = "Production"
    rule_id: str
    justification: str
    expires_at: datetime


class AttestIn(Schema):
    decision: Literal["approve", "reject"]
    comment: str = ""


def _attestations(subject) -> list[dict]:
    return [
        {
            "reviewer": a.reviewer.get_username(),
            "decision": a.decision,
            "comment": a.comment,
            "created_at": a.created_at,
        }
        for a in subject.attestations.all()
    ]


def _waiver_out(user, pk: int) -> dict:
    w = sg.waiver_get_for_user(user, pk)
    return {
        "id": w.pk,
        "model_name": w.model_name,
        "version": w.version_number,
        "stage": w.stage,
        "rule_id": w.rule_id,
        "justification": w.justification,
        "requested_by": w.requested_by.get_username(),
        "required_approvals": w.required_approvals,
        "status": w.status,
        "created_at": w.created_at,
        "expires_at": w.expires_at,
        "decided_at": w.decided_at,
        "attestations": _attestations(w),
    }


def _recert_out(user, pk: int) -> dict:
    r = sg.recertification_get_for_user(user, pk)
    return {
        "id": r.pk,
        "model_name": r.model_name,
        "version": r.version_number,
        "status": r.status,
        "due_at": r.due_at,
        "overdue": r.is_overdue(),
        "opened_at": r.opened_at,
        "decided_at": r.decided_at,
        "reminded_at": r.reminded_at,
        "required_approvals": r.required_approvals,
        "attestations": _attestations(r),
    }


@router.post("/models/{name}/versions/{version}/waivers", response={201: dict}, url_name="waiver_create")
def waiver_create(request, name: str, version: int, payload: WaiverIn):
    """Request a waiver of one failing rule (the model's owners or admins)."""
    model_version = version_get_for_user(request.user, name, version)
    waiver = services.waiver_create(actor=request.user, version=model_version, **payload.dict())
    return 201, _waiver_out(request.user, waiver.pk)


@router.get("/waivers/{waiver_id}", response=dict, url_name="waiver_detail")
def waiver_detail(request, waiver_id: int):
    return _waiver_out(request.user, waiver_id)


@router.post("/waivers/{waiver_id}/attestations", response={201: dict}, url_name="waiver_attest")
def waiver_attest(request, waiver_id: int, payload: AttestIn):
    """Approve or reject a pending waiver (reviewers other than the requester, once)."""
    services.attestation_give(
        actor=request.user, subject=sg.waiver_get_for_user(request.user, waiver_id), **payload.dict()
    )
    return 201, _waiver_out(request.user, waiver_id)


@router.get("/recertifications/{recertification_id}", response=dict, url_name="recertification_detail")
def recertification_detail(request, recertification_id: int):
    return _recert_out(request.user, recertification_id)


@router.post(
    "/recertifications/{recertification_id}/attestations", response={201: dict}, url_name="recertification_attest"
)
def recertification_attest(request, recertification_id: int, payload: AttestIn):
    """Attest "still fit for purpose" (approve) or reject an open re-certification."""
    subject = sg.recertification_get_for_user(request.user, recertification_id)
    services.attestation_give(actor=request.user, subject=subject, **payload.dict())
    return 201, _recert_out(request.user, recertification_id)
