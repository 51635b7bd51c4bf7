"""Waivers: requested by an owner for one failing rule of one version, decided by reviewers' attestations
under the Production quorum, withdrawn, and expired exactly once by the beat (``waivers_expire``)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Target, record
from registry.access import Refusal, enforce
from registry.models import ModelVersion
from registry_portal import roles

from ..access import attestation_refusal, waiver_create_refusal, waiver_withdraw_refusal
from ..checks import evaluate
from ..digest import version_content_digest
from ..models import Attestation, TransitionRequest, Waiver
from ..policies import required_approvals
from ..rules import FAILED, STAGES
from ..selectors import eligible_approvals

MAX_WAIVER_DAYS = 365


def waiver_target(waiver: Waiver) -> Target:
    return Target(type="waiver", id=str(waiver.pk), model_name=waiver.model_name, version=waiver.version_number)


def waiver_create(*, actor, version: ModelVersion, stage: str, rule_id: str, justification: str, expires_at) -> Waiver:
    """File a pending waiver of ``rule_id`` (failing now for ``version`` against ``stage``'s policy)."""
    enforce(waiver_create_refusal(actor, version))
    now = timezone.now()
    if stage not in STAGES:
        raise ValidationError({"stage": f"unknown stage {stage!r}; stages are {', '.join(STAGES)}"})
    if not (justification or "").strip():
        raise ValidationError({"justification": "a waiver needs a justification"})
    if expires_at is None or expires_at <= now:
        raise ValidationError({"expires_at": "a waiver's expiry must be in the future"})
    if expires_at > now + timedelta(days=MAX_WAIVER_DAYS):
        raise ValidationError({"expires_at": f"a waiver lasts at most {MAX_WAIVER_DAYS} days"})
    evaluation = evaluate(version, stage, now=now)
    verdict = next((v for v in evaluation.verdicts if v.rule.id == rule_id), None)
    if verdict is None:
        raise ValidationError({"rule_id": f"the {stage} policy of {version.model.name} has no rule {rule_id!r}"})
    if verdict.status != FAILED:
        raise ValidationError(
            {"rule_id": f"rule {rule_id!r} is {verdict.status} for v{version.version}: only a failing rule is waived"}
        )
    with transaction.atomic():
        if Waiver.objects.filter(
            version=version, stage=stage, rule_id=rule_id, status__in=(Waiver.PENDING, Waiver.ACTIVE)
        ).exists():
            enforce(Refusal(f"rule {rule_id!r} already has a pending or active waiver", conflict=True))
        waiver = Waiver.objects.create(
            version=version,
            model_name=version.model.name,
            version_number=version.version,
            stage=stage,
            rule_id=rule_id,
            justification=justification.strip(),
            requested_by=actor,
            required_approvals=max(2, required_approvals(version.model.name, "Production")),
            expires_at=expires_at,
        )
        record(
            actor=actor,
            action="waiver.requested",
            target=waiver_target(waiver),
            data={
                "stage": stage,
                "rule_id": rule_id,
                "expires_at": expires_at.isoformat(),
                "justification": justification,
            },
        )
    return waiver


def _locked(model, pk):
    return model.objects.select_for_update(of=("self",)).select_related("version__model").get(pk=pk)


def attestation_give(*, actor, subject, decision: str, comment: str = "") -> Attestation:
    """One reviewer's decision on a waiver or re-certification (``subject``), under its row lock: audited
    ``attestation.given``; a rejection rejects, a quorum of eligible approvals activates or certifies."""
    from .recertification import recertification_decide

    if decision not in (Attestation.APPROVE, Attestation.REJECT):
        raise ValidationError({"decision": f"decision must be approve or reject, not {decision!r}"})
    if decision == Attestation.REJECT and not (comment or "").strip():
        raise ValidationError({"comment": "a rejection needs a comment"})
    is_waiver = isinstance(subject, Waiver)
    with transaction.atomic():
        subject = _locked(type(subject), subject.pk)
        enforce(attestation_refusal(actor, subject))
        digest = version_content_digest(subject.version)
        attestation = Attestation.objects.create(
            waiver=subject if is_waiver else None,
            recertification=None if is_waiver else subject,
            reviewer=actor,
            decision=decision,
            comment=(comment or "").strip(),
            content_digest=digest,
        )
        kind = "waiver" if is_waiver else "recertification"
        target = Target(type=kind, id=str(subject.pk), model_name=subject.model_name, version=subject.version_number)
        record(actor=actor, action="attestation.given", target=target, data={"decision": decision, "comment": comment})
        approvals = eligible_approvals(
            subject.attestations.all(), requester_id=getattr(subject, "requested_by_id", None)
        )
        if is_waiver:
            _waiver_decide(subject, attestation, approvals)
        else:
            recertification_decide(subject, attestation, approvals)
    return attestation


def _waiver_decide(waiver: Waiver, attestation: Attestation, approvals: list) -> None:
    now = timezone.now()
    if attestation.decision == Attestation.REJECT:
        waiver.status, waiver.decided_at = Waiver.REJECTED, now
        waiver.save(update_fields=["status", "decided_at"])
        record(
            actor=attestation.reviewer,
            action="waiver.rejected",
            target=waiver_target(waiver),
            data={"comment": attestation.comment},
        )
        return
    if len({a.reviewer_id for a in approvals}) < waiver.required_approvals:
        return
    waiver.status, waiver.decided_at = Waiver.ACTIVE, now
    waiver.save(update_fields=["status", "decided_at"])
    record(
        actor=roles.SYSTEM_WORKER,
        action="waiver.approved",
        target=waiver_target(waiver),
        data={"approved_by": [a.reviewer.get_username() for a in approvals], "rule_id": waiver.rule_id},
    )
    _recheck_open_requests(waiver.version)


def waiver_withdraw(*, actor, waiver: Waiver) -> Waiver:
    with transaction.atomic():
        waiver = _locked(Waiver, waiver.pk)
        enforce(waiver_withdraw_refusal(actor, waiver))
        was_active = waiver.status == Waiver.ACTIVE
        waiver.status, waiver.decided_at = Waiver.WITHDRAWN, timezone.now()
        waiver.save(update_fields=["status", "decided_at"])
        record(actor=actor, action="waiver.withdrawn", target=waiver_target(waiver), data={"rule_id": waiver.rule_id})
        if was_active:
            _recheck_open_requests(waiver.version)
    return waiver


def _recheck_open_requests(version: ModelVersion | None) -> None:
    """Re-run the checks of the version's pending requests after commit (a waiver began or ended)."""
    if version is None:
        return
    from .check_runs import check_run_create

    for request in TransitionRequest.objects.for_version(version).filter(status=TransitionRequest.PENDING):
        check_run_create(actor=roles.SYSTEM_WORKER, version=version, stage=request.to_stage, request_id=request.pk)


def waivers_expire(*, now=None) -> list[int]:
    """Move active waivers past ``expires_at`` to ``expired``, each exactly once under its row lock; re-check
    the version's open requests; flag (audit data ``in_production``) a Production version. The expired ids."""
    now = now or timezone.now()
    expired = []
    for pk in Waiver.objects.filter(status=Waiver.ACTIVE, expires_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            waiver = _locked(Waiver, pk)
            if waiver.status != Waiver.ACTIVE or waiver.expires_at > now:
                continue
            waiver.status = Waiver.EXPIRED
            waiver.save(update_fields=["status"])
            in_production = waiver.version is not None and waiver.version.stage == "Production"
            record(
                actor=roles.SYSTEM_WORKER,
                action="waiver.expired",
                target=waiver_target(waiver),
                data={"rule_id": waiver.rule_id, "stage": waiver.stage, "in_production": in_production},
            )
            _recheck_open_requests(waiver.version)
            expired.append(pk)
    return expired
