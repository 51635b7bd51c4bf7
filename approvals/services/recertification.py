"""Re-certification: every Production version falls due ``recertify_days`` after it entered Production (or
after its last certification); the hourly beat (``recertifications_open``) opens one exactly once, reminds
``recertify_remind_days`` before, and flags it overdue; reviewers certify it by attestation (``attestation_give``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Target, record
from registry.models import ModelVersion, StageChange
from registry_portal import roles

from ..models import Attestation, Recertification, TransitionRequest
from ..policies import policy_settings, required_approvals


def recertification_target(recert: Recertification) -> Target:
    return Target(
        type="recertification", id=str(recert.pk), model_name=recert.model_name, version=recert.version_number
    )


def production_entered_at(version: ModelVersion):
    """When ``version`` entered Production: its applied request, else the StageChange sync saw, else its creation."""
    applied = (
        TransitionRequest.objects.for_version(version)
        .filter(to_stage="Production", status=TransitionRequest.APPLIED, applied_at__isnull=False)
        .order_by("-applied_at")
        .values_list("applied_at", flat=True)
        .first()
    )
    if applied:
        return applied
    change = (
        StageChange.objects.of_version(version)
        .filter(kind=StageChange.KIND_STAGE, to_value="Production")
        .order_by("-seen_at", "-id")
        .first()
    )
    if change is not None:
        return change.mlflow_timestamp or change.seen_at
    return version.created_at or timezone.now()


def due_at(version: ModelVersion):
    """The version's next review date (None: the policy never re-certifies, or it is not in Production)."""
    if version.stage != "Production":
        return None
    days = policy_settings(version.model.name).recertify_days
    if not days:
        return None
    last = (
        Recertification.objects.filter(
            model_name=version.model.name, version_number=version.version, status=Recertification.CERTIFIED
        )
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)
        .first()
    )
    return (last or production_entered_at(version)) + timedelta(days=days)


def recertifications_supersede(*, model_name: str | None = None) -> list[int]:
    """Open re-certifications (of ``model_name``, or every model) whose version is no longer in Production, or
    no longer in the registry: ``superseded`` (audited), never left open to fall overdue. Called after a sync
    that saw stage changes, after an applied request, and by the beat's tick; a conditional update, so two
    callers supersede a row once."""
    stale = Recertification.objects.filter(status=Recertification.OPEN).exclude(version__stage="Production")
    if model_name is not None:
        stale = stale.filter(model_name=model_name)
    superseded = []
    for recert in stale.select_related("version"):
        with transaction.atomic():
            if not Recertification.objects.filter(pk=recert.pk, status=Recertification.OPEN).update(
                status=Recertification.SUPERSEDED, decided_at=timezone.now()
            ):
                continue
            where = f"in {recert.version.stage}" if recert.version_id else "no longer in the registry"
            record(
                actor=roles.SYSTEM_WORKER,
                action="recertification.superseded",
                target=recertification_target(recert),
                data={"reason": f"{recert.model_name} v{recert.version_number} left Production: it is {where}"},
            )
            superseded.append(recert.pk)
    return superseded


def recertifications_open(*, now=None) -> dict:
    """The beat's tick: for every Production version, remind once before it falls due, open one
    re-certification when due (exactly once: the partial unique constraint and the version's row lock), and
    notify once when an open one is overdue. Safe to run twice or after a worker restart."""
    now = now or timezone.now()
    recertifications_supersede()
    opened, reminded, overdue = [], [], []
    for version in ModelVersion.objects.filter(stage="Production").select_related("model"):
        settings_ = policy_settings(version.model.name)
        due = due_at(version)
        if due is None:
            continue
        with transaction.atomic():
            ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
            current = (
                Recertification.objects.filter(
                    model_name=version.model.name, version_number=version.version, status=Recertification.OPEN
                )
                .select_for_update()
                .first()
            )
            if current is None and due - timedelta(days=settings_.recertify_remind_days or 0) <= now:
                try:
                    with transaction.atomic():
                        current = Recertification.objects.create(
                            version=version,
                            model_name=version.model.name,
                            version_number=version.version,
                            due_at=due,
                            required_approvals=max(2, required_approvals(version.model.name, "Production")),
                        )
                except IntegrityError:  # another tick opened it first
                    continue
                record(
                    actor=roles.SYSTEM_WORKER,
                    action="recertification.opened",
                    target=recertification_target(current),
                    data={"due_at": due.isoformat()},
                )
                opened.append(current.pk)
            if current is None:
                continue
            if current.reminded_at is None and current.due_at > now:
                current.reminded_at = now
                current.save(update_fields=["reminded_at"])
                record(
                    actor=roles.SYSTEM_WORKER,
                    action="recertification.reminder",
                    target=recertification_target(current),
                    data={"due_at": current.due_at.isoformat()},
                )
                reminded.append(current.pk)
            if current.due_at <= now and current.overdue_notified_at is None:
                current.overdue_notified_at = now
                current.save(update_fields=["overdue_notified_at"])
                record(
                    actor=roles.SYSTEM_WORKER,
                    action="recertification.overdue",
                    target=recertification_target(current),
                    data={"due_at": current.due_at.isoformat()},
                )
                overdue.append(current.pk)
    return {"opened": opened, "reminded": reminded, "overdue": overdue}


def recertification_decide(recert: Recertification, attestation: Attestation, approvals: list) -> None:
    """Called by ``attestation_give`` under the row lock: a rejection rejects (the version is flagged; MLflow is
    not touched), a quorum certifies (the next due date counts from now)."""
    now = timezone.now()
    if attestation.decision == Attestation.REJECT:
        recert.status, recert.decided_at = Recertification.REJECTED, now
        recert.save(update_fields=["status", "decided_at"])
        record(
            actor=attestation.reviewer,
            action="recertification.rejected",
            target=recertification_target(recert),
            data={"comment": attestation.comment},
        )
        return
    if len({a.reviewer_id for a in approvals}) < recert.required_approvals:
        return
    recert.status, recert.decided_at = Recertification.CERTIFIED, now
    recert.save(update_fields=["status", "decided_at"])
    record(
        actor=roles.SYSTEM_WORKER,
        action="recertification.certified",
        target=recertification_target(recert),
        data={"certified_by": [a.reviewer.get_username() for a in approvals]},
    )


def recertification_state(version: ModelVersion, *, now=None) -> dict | None:
    """What the version page, API extras and gate show: {due_at, status, overdue, id}; None when none applies."""
    now = now or timezone.now()
    latest = (
        Recertification.objects.filter(model_name=version.model.name, version_number=version.version)
        .exclude(status=Recertification.SUPERSEDED)
        .order_by("-id")
        .first()
    )
    if latest is not None and latest.status in (Recertification.OPEN, Recertification.REJECTED):
        return {
            "id": latest.pk,
            "due_at": latest.due_at,
            "status": latest.status,
            "overdue": latest.due_at <= now or latest.status == Recertification.REJECTED,
        }
    due = due_at(version)
    if due is None:
        return None
    return {"id": None, "due_at": due, "status": "scheduled", "overdue": due <= now}
