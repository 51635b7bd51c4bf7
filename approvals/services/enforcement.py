"""Enforcement (``out_of_band: revert``): an unapproved change of the Production stage or alias, put back by a
worker exactly once, with the apply path's machinery (claim token + lease, writes guarded by the claim, MLflow
read first so a lost answer is not a second write, a sweeper for expired leases). Never touches tags."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record
from registry.mlflow_client import RegistryClient
from registry.models import StageChange, SyncRun
from registry.sync import sync_registry, version_target
from registry_portal import roles
from registry_portal.celery import queue_task

from ..models import Revert, TransitionRequest, UnapprovedTransition
from ..policies import policy_settings

logger = logging.getLogger(__name__)
TASK = "approvals.tasks.revert_unapproved"
PRODUCTION = "Production"


def _alias() -> str | None:
    return settings.STAGE_ALIASES.get(PRODUCTION)


def _plan(unapproved: UnapprovedTransition, siblings: list[StageChange]) -> dict | None:
    """What restoring this change means, or None when it is not a Production change (or a sibling covers it)."""
    change = unapproved.stage_change
    if unapproved.kind == StageChange.KIND_STAGE:
        if PRODUCTION not in (unapproved.from_value, unapproved.to_value):
            return None
        return {
            "kind": "stage",
            "version": unapproved.version_number,
            "from": unapproved.to_value,
            "to": unapproved.from_value or "None",
        }
    alias = _alias()
    if not alias or unapproved.alias != alias:
        return None
    others = [c for c in siblings if c.kind == StageChange.KIND_ALIAS and c.alias == alias and c != change]
    if unapproved.to_value == alias:  # the alias moved to (or was created on) this version
        previous = next((c.version for c in others if c.from_value == alias), None)
        return {"kind": "alias", "alias": alias, "from": unapproved.version_number, "to": previous}
    if any(c.to_value == alias for c in others):
        return None  # the alias moved to another version: that change's revert brings it back here
    return {"kind": "alias", "alias": alias, "from": None, "to": unapproved.version_number}


def reverts_create(*, unapproved: list[UnapprovedTransition]) -> list[Revert]:
    """Inside the detecting transaction: a queued Revert per Production change of a revert-mode model."""
    created = []
    modes: dict[str, bool] = {}
    for item in unapproved:
        if item.model_name not in modes:
            modes[item.model_name] = policy_settings(item.model_name).reverts
        if not modes[item.model_name] or item.stage_change is None:
            continue
        siblings = list(StageChange.objects.filter(sync_run=item.stage_change.sync_run_id, model_name=item.model_name))
        plan = _plan(item, siblings)
        if plan is None:
            continue
        revert = Revert.objects.create(
            unapproved=item, model_name=item.model_name, version_number=item.version_number, plan=plan
        )
        created.append(revert)
        transaction.on_commit(lambda pk=revert.pk: queue_task(TASK, pk))
    return created


def explained_by_revert(change: StageChange, sync_run: SyncRun) -> Revert | None:
    """The revert whose own restoring write this change is (so it is not a new unapproved change, no loop).

    ``queued`` counts, as an approved request explains its change: a claim taken back by the sweeper after MLflow
    applied the write leaves a queued revert whose write a sync can see before the next worker runs."""
    since = sync_run.started_at - timedelta(minutes=10)
    candidates = Revert.objects.filter(model_name=change.model_name).filter(
        Q(status__in=(Revert.QUEUED, Revert.APPLYING)) | Q(status=Revert.REVERTED, finished_at__gte=since)
    )
    return next((r for r in candidates if explained_by_revert_plan(r, change)), None)


def revert_claim(*, revert_id: int) -> str | None:
    """``queued`` → ``applying`` with a token and a lease; one winner."""
    token, now = uuid.uuid4().hex, timezone.now()
    claimed = Revert.objects.filter(pk=revert_id, status=Revert.QUEUED).update(
        status=Revert.APPLYING,
        status_changed_at=now,
        claim_token=token,
        lease_expires_at=now + timedelta(seconds=settings.APPLY_LEASE_SECONDS),
        attempts=F("attempts") + 1,
    )
    return token if claimed else None


def revert_extend_lease(*, revert_id: int, claim: str, seconds: float) -> bool:
    until = timezone.now() + timedelta(seconds=seconds + settings.APPLY_LEASE_SECONDS)
    return bool(
        Revert.objects.filter(pk=revert_id, status=Revert.APPLYING, claim_token=claim).update(lease_expires_at=until)
    )


def _finish(revert_id: int, claim: str, status: str, *, outcome: str = "", error: str = "", data=None) -> bool:
    action = {
        Revert.REVERTED: "registry.unapproved_reverted",
        Revert.SKIPPED: "registry.revert_skipped",
        Revert.FAILED: "registry.revert_failed",
    }[status]
    now = timezone.now()
    with transaction.atomic():
        done = Revert.objects.filter(pk=revert_id, status=Revert.APPLYING, claim_token=claim).update(
            status=status,
            status_changed_at=now,
            finished_at=now,
            lease_expires_at=None,
            mlflow_outcome=outcome[:200],
            last_error=error,
        )
        if done:
            revert = Revert.objects.get(pk=revert_id)
            record(
                actor=roles.SYSTEM_WORKER,
                action=action,
                target=version_target(revert.model_name, revert.version_number),
                data={
                    "plan": revert.plan,
                    "unapproved": revert.unapproved_id,
                    "outcome": outcome,
                    "reason": error,
                    **(data or {}),
                },
            )
    return bool(done)


def _later_change(revert: Revert) -> bool:
    """The mirror saw another change of the same version's stage / the same alias after the unapproved one."""
    change_id = revert.unapproved.stage_change_id or 0
    plan = revert.plan
    later = StageChange.objects.filter(model_name=revert.model_name, id__gt=change_id)
    if plan["kind"] == "stage":
        later = later.filter(kind=StageChange.KIND_STAGE, version=plan["version"])
    else:
        later = later.filter(kind=StageChange.KIND_ALIAS, alias=plan["alias"])
    return any(explained_by_revert_plan(revert, c) is False for c in later)


def explained_by_revert_plan(revert: Revert, change: StageChange) -> bool:
    """Whether ``change`` is this revert's own restoring write (seen by a sync after a lost answer)."""
    plan = revert.plan
    if plan["kind"] != change.kind or (change.kind == StageChange.KIND_ALIAS and change.alias != plan["alias"]):
        return False
    if plan["kind"] == "stage":
        return (change.version, change.from_value, change.to_value) == (plan["version"], plan["from"], plan["to"])
    lost = change.version == plan["from"] and change.from_value == plan["alias"] and not change.to_value
    return lost or (change.version == plan["to"] and change.to_value == plan["alias"])


def revert_apply(*, revert_id: int, claim: str) -> Revert | None:
    """Restore MLflow as the plan says, if still safe. MLflow is read first: already restored is success.
    Raises ``MlflowUnavailable`` (retry) or ``MlflowRequestError`` (give up)."""
    revert = (
        Revert.objects.select_related("unapproved")
        .filter(pk=revert_id, status=Revert.APPLYING, claim_token=claim)
        .first()
    )
    if revert is None:
        return None
    name, plan, client = revert.model_name, revert.plan, RegistryClient()
    if plan["kind"] == "stage":
        version = client.find_version(name, plan["version"])
        if version is None:
            return _skip(revert, claim, f"v{plan['version']} was deleted in MLflow")
        current, wanted, changed = version.stage, plan["to"], plan["from"]
    else:
        target = client.get_aliases(name).get(plan["alias"])
        current, wanted, changed = target, plan["to"], plan["from"]
        restored_to = plan["to"]
        if restored_to is not None and current != restored_to and client.find_version(name, restored_to) is None:
            return _skip(revert, claim, f"v{restored_to}, where @{plan['alias']} pointed, was deleted in MLflow")
        if changed is not None and client.find_version(name, changed) is None:
            return _skip(revert, claim, f"v{changed} was deleted in MLflow")
    if current == wanted:
        outcome = "MLflow already showed the previous state: nothing written"
    elif current != changed:
        return _skip(revert, claim, f"a newer change arrived: MLflow now shows {current or 'nothing'}")
    elif _later_change(revert):
        return _skip(revert, claim, "a newer change arrived (seen by a later sync)")
    elif TransitionRequest.objects.filter(
        model_name=name,
        version_number=revert.version_number,
        status__in=(TransitionRequest.APPROVED, TransitionRequest.APPLYING),
    ).exists():
        return _skip(revert, claim, "an approved request for this version is being applied")
    elif plan["kind"] == "stage":
        client.transition_stage(name, plan["version"], wanted, archive_existing=False)
        outcome = f"v{plan['version']} back {changed} → {wanted}"
    elif wanted is None:
        client.delete_alias(name, plan["alias"])
        outcome = f"@{plan['alias']} deleted (it did not exist before)"
    else:
        client.set_alias(name, plan["alias"], wanted)
        outcome = f"@{plan['alias']} back to v{wanted}"
    sync_registry(model_name=name, trigger="revert")
    if not _finish(revert_id, claim, Revert.REVERTED, outcome=outcome, data={"mlflow_calls": client.calls}):
        return None
    return Revert.objects.get(pk=revert_id)


def _skip(revert: Revert, claim: str, reason: str) -> Revert | None:
    _finish(revert.pk, claim, Revert.SKIPPED, error=reason)
    return Revert.objects.filter(pk=revert.pk, status=Revert.SKIPPED).first()


def revert_fail(*, revert_id: int, claim: str, error: str) -> bool:
    return _finish(revert_id, claim, Revert.FAILED, error=error)


def reverts_sweep() -> dict[str, int]:
    """Expired claims go back to ``queued`` (audited, like a request's ``request.lease_expired``) and are queued at
    once; queued reverts whose message was lost are queued again."""
    now = timezone.now()
    taken_back = []
    for pk, token in Revert.objects.filter(status=Revert.APPLYING, lease_expires_at__lt=now).values_list(
        "pk", "claim_token"
    ):
        with transaction.atomic():
            taken = Revert.objects.filter(pk=pk, status=Revert.APPLYING, claim_token=token).update(
                status=Revert.QUEUED, status_changed_at=now, claim_token="", lease_expires_at=None
            )
            if taken:
                taken_back.append(pk)
                revert = Revert.objects.get(pk=pk)
                record(
                    actor=roles.SYSTEM_WORKER,
                    action="registry.revert_lease_expired",
                    target=version_target(revert.model_name, revert.version_number),
                    data={"revert": pk, "plan": revert.plan, "attempts": revert.attempts},
                )
    waiting = Revert.objects.filter(
        status=Revert.QUEUED,
        status_changed_at__lt=now - timedelta(seconds=settings.APPLY_REQUEUE_AFTER_SECONDS),
    ).values_list("pk", flat=True)
    ids = sorted(set(waiting) | set(taken_back))
    for pk in ids:
        queue_task(TASK, pk)
    return {"expired": len(taken_back), "queued": len(ids)}
