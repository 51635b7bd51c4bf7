"""Stage and alias changes made in MLflow outside the portal, and what follows a change of the registry
itself: detection after each sync, superseding the requests they overtake, a rename followed, and an
admin's acknowledgement."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import PendingEvent, record, record_many
from registry.access import enforce
from registry.models import StageChange, SyncRun
from registry.sync import version_target
from registry_portal import roles

from .. import access
from ..models import CheckRun, ModelRiskTier, Policy, TransitionRequest, UnapprovedTransition
from ._common import RequestConflict, request_target, set_status
from .enforcement import explained_by_revert, reverts_create

# An applied request still explains the changes a sync sees this long after it was applied
# (a beat sync that read MLflow just before the apply task's own sync committed).
EXPLAINS_FOR = timedelta(minutes=10)


def _explains(request: TransitionRequest, change: StageChange) -> bool:
    stage = request.to_stage
    alias = settings.STAGE_ALIASES.get(stage)
    mine = change.version == request.version_number
    if change.kind == StageChange.KIND_STAGE:
        if mine:
            return change.to_value == stage
        return stage == "Production" and change.from_value == "Production" and change.to_value == "Archived"
    if alias and change.alias == alias:
        return (mine and change.to_value == alias) or (not mine and change.from_value == alias)
    # The version left its previous stage, and with it that stage's alias.
    return mine and not change.to_value and change.alias in settings.STAGE_ALIASES.values()


def unapproved_transitions_detect(*, sync_run: SyncRun) -> list[UnapprovedTransition]:
    """Record every stage/alias change of ``sync_run`` that no approved/applying/applied request explains.

    The first successful sync is the baseline: what it finds is the registry as it was, not a change.
    """
    changes = list(StageChange.objects.filter(sync_run=sync_run, unapproved__isnull=True).order_by("id"))
    if not changes:
        return []
    if not SyncRun.objects.filter(status=SyncRun.SUCCEEDED, pk__lt=sync_run.pk).exists():
        return []
    names = {c.model_name for c in changes}
    explaining = [
        r
        for r in TransitionRequest.objects.filter(
            model_name__in=names,
            # Approved too: a claim taken back by the sweeper may already have reached MLflow.
            status__in=(
                TransitionRequest.APPROVED,
                TransitionRequest.APPLYING,
                TransitionRequest.APPLIED,
                TransitionRequest.FAILED,
            ),
        )
        if r.applied_at is None or r.applied_at + EXPLAINS_FOR >= sync_run.started_at
    ]
    found, events = [], []
    with transaction.atomic():
        for change in changes:
            by = next((r for r in explaining if r.model_name == change.model_name and _explains(r, change)), None)
            if by is None and explained_by_revert(change, sync_run) is not None:
                continue  # a revert's own restoring write (enforcement), not a new out-of-band change
            if by is not None:
                if by.version_number != change.version and change.kind == StageChange.KIND_STAGE:
                    # e.g. the previous Production version, archived by this apply: its pending requests lapse.
                    events += _supersede_for(change, reason=f"moved by request #{by.pk}")
                continue
            unapproved = UnapprovedTransition.objects.create(
                stage_change=change,
                model_name=change.model_name,
                version_number=change.version,
                kind=change.kind,
                alias=change.alias,
                from_value=change.from_value,
                to_value=change.to_value,
                seen_at=change.seen_at,
            )
            found.append(unapproved)
            events.append(
                PendingEvent(
                    roles.SYSTEM_SYNC,
                    "registry.unapproved_transition",
                    version_target(change.model_name, change.version),
                    {
                        "kind": change.kind,
                        "alias": change.alias,
                        "from": change.from_value,
                        "to": change.to_value,
                        "sync_run": sync_run.pk,
                    },
                )
            )
            events += _supersede_for(change, reason=f"changed in MLflow outside the portal: {change}")
        record_many(events)
        reverts_create(unapproved=found)
    return found


def _supersede_for(change: StageChange, *, reason: str) -> list[PendingEvent]:
    """Pending requests of a version whose stage or alias moved under them no longer hold."""
    return _supersede(
        model_name=change.model_name, versions=[change.version], statuses=[TransitionRequest.PENDING], reason=reason
    )


def transition_requests_supersede_for_removed(*, model_name: str, versions: list[int], reason: str) -> None:
    """Open requests of versions that left the mirror (deleted, or name/number re-used in MLflow) are superseded."""
    statuses = [TransitionRequest.PENDING, TransitionRequest.APPROVED, TransitionRequest.FAILED]
    record_many(_supersede(model_name=model_name, versions=versions, statuses=statuses, reason=reason))


def _supersede(*, model_name: str, versions: list[int], statuses: list[str], reason: str) -> list[PendingEvent]:
    """Supersede the requests of these versions in these states, under row locks; their audit events, to record."""
    events = []
    for request in TransitionRequest.objects.select_for_update().filter(
        model_name=model_name, version_number__in=versions, status__in=statuses
    ):
        set_status(request, TransitionRequest.SUPERSEDED)
        request.save(update_fields=["status", "status_changed_at"])
        events.append(
            PendingEvent(roles.SYSTEM_SYNC, "request.superseded", request_target(request), {"reason": reason})
        )
    return events


def model_rename_follow(*, old_name: str, new_name: str) -> None:
    """Requests, check runs, out-of-band findings and the model's own policy follow a model renamed in MLflow.
    A policy already written for the new name is kept, not overwritten."""
    for queryset in (CheckRun.objects, TransitionRequest.objects, UnapprovedTransition.objects):
        queryset.filter(model_name=old_name).update(model_name=new_name)
    if not Policy.objects.filter(model_name=new_name, tier__isnull=True).exists():
        Policy.objects.filter(model_name=old_name, tier__isnull=True).update(model_name=new_name)
    if not ModelRiskTier.objects.filter(model_name=new_name).exists():
        ModelRiskTier.objects.filter(model_name=old_name).update(model_name=new_name)


def unapproved_transition_acknowledge(*, actor, unapproved: UnapprovedTransition) -> UnapprovedTransition:
    with transaction.atomic():
        unapproved = UnapprovedTransition.objects.select_for_update().get(pk=unapproved.pk)
        enforce(access.acknowledge_refusal(actor, unapproved), conflict=RequestConflict)
        unapproved.acknowledged_by, unapproved.acknowledged_at = actor, timezone.now()
        unapproved.save(update_fields=["acknowledged_by", "acknowledged_at"])
        record(
            actor=actor,
            action="registry.unapproved_acknowledged",
            target=version_target(unapproved.model_name, unapproved.version_number),
            data={"change": unapproved.describe()},
        )
    return unapproved
