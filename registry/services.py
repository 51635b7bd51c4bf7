"""Writes the registry app makes on a user's behalf. The mirror itself is written only by ``sync``."""

from __future__ import annotations

import datetime as dt
import logging
import math

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit.services import Target, actor_name, record

from .access import enforce, owners_manage_refusal, sync_refusal
from .models import ModelOwner, RegisteredModel, SyncCooldown, SyncRun
from .tasks import sync_registry

logger = logging.getLogger(__name__)


class SyncTooSoon(Exception):
    """ "Sync now" was asked for this scope less than ``SYNC_NOW_COOLDOWN_SECONDS`` ago (429)."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"a sync was asked for less than a minute ago: try again in {retry_after} s")


def sync_cooldown_take(scope: str, *, now=None) -> None:
    """Claim this minute's "Sync now" of ``scope`` (a model name, "" for the registry), or raise ``SyncTooSoon``.

    One conditional UPDATE of the scope's row (made on first use): of two processes asking at once, one moves it.
    """
    now = now or timezone.now()
    cooldown = dt.timedelta(seconds=settings.SYNC_NOW_COOLDOWN_SECONDS)
    if not SyncCooldown.objects.filter(scope=scope).exists():
        try:
            with transaction.atomic():
                SyncCooldown.objects.create(scope=scope, requested_at=now)
            return
        except IntegrityError:
            pass  # another process made it just now: its time counts
    if SyncCooldown.objects.filter(scope=scope, requested_at__lte=now - cooldown).update(requested_at=now):
        return
    last = SyncCooldown.objects.filter(scope=scope).values_list("requested_at", flat=True).first() or now
    raise SyncTooSoon(max(1, math.ceil((last + cooldown - now).total_seconds())))


def sync_now(*, actor, model: RegisteredModel | None = None) -> SyncRun:
    """ "Sync now" from a page or the API: who may (``sync_refusal``), at most once a minute per model (or for
    the whole registry, ``model`` None) whoever asks, then ``sync_run_start``. Raises PermissionDenied or
    ``SyncTooSoon``."""
    enforce(sync_refusal(actor, model))
    sync_cooldown_take(model.name if model is not None else "")
    return sync_run_start(actor=actor, model_name=model.name if model is not None else "")


def sync_run_start(*, actor, model_name: str = "") -> SyncRun:
    """A SyncRun the page can poll, and the sync task queued once it is committed (no cooldown: see ``sync_now``).

    A sync of the same scope already running is returned instead of starting another, so double
    clicks and several users pressing the button cost one sync. A row older than the task time
    limit cannot still be running (its worker died): it no longer blocks a new sync.
    """
    limit = timezone.now() - dt.timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900))
    # "Sync now" is a reconcile (it alone sees deletions and tag changes): a fast pass running does not count.
    mode = SyncRun.MODEL if model_name else SyncRun.RECONCILE
    with transaction.atomic():
        running = (
            SyncRun.objects.select_for_update()
            .filter(status=SyncRun.RUNNING, model_name=model_name, mode=mode, started_at__gte=limit)
            .order_by("-started_at")
            .first()
        )
        if running is not None:
            return running
        sync_run = SyncRun.objects.create(model_name=model_name, mode=mode, trigger=f"user:{actor.get_username()}"[:40])
        transaction.on_commit(lambda: _queue(sync_run.pk, model_name))
    sync_run.refresh_from_db()
    return sync_run


def _queue(sync_run_id: int, model_name: str) -> None:
    try:
        sync_registry.delay(model_name=model_name or None, sync_run_id=sync_run_id)
    except OperationalError as exc:
        # Without this the row would claim "running" until the time limit and block every retry.
        logger.warning("could not queue sync #%s: %s", sync_run_id, exc)
        SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.RUNNING).update(
            status=SyncRun.FAILED, finished_at=timezone.now(), error=f"Could not queue the sync: {exc}"
        )


# --- portal-assigned owners (docs/roles.md) ---------------------------------------------------------


def _model_target(model: RegisteredModel) -> Target:
    return Target(type="registered_model", id=model.name, model_name=model.name)


def _owner_data(row: ModelOwner) -> dict:
    return {"user": row.user.get_username()} if row.user_id else {"group": row.group.name}


def model_owner_add(*, actor, model: RegisteredModel, user=None, group=None, via: str = "roles page") -> ModelOwner:
    """Make ``user`` or ``group`` (exactly one) an owner of ``model``: ``registry.owner_added``; a duplicate is a
    ``ValidationError``. Accepting the flagged ``owner`` tag of a model clears the flag (the admin decided)."""
    enforce(owners_manage_refusal(actor))
    if (user is None) == (group is None):
        raise ValidationError("Name a user or a group, not both.")
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        taken = ModelOwner.objects.filter(model=model, **({"user": user} if user is not None else {"group": group}))
        if taken.exists():
            who = user.get_username() if user is not None else f"group {group.name}"
            raise ValidationError(f"{who} already owns {model.name}.")
        row = ModelOwner.objects.create(model=model, user=user, group=group, added_by=actor_name(actor)[:150])
        data = {**_owner_data(row), "via": via}
        if user is not None and model.owner_tag_flagged_at and model.owner_tag == user.get_username():
            _flag_clear(model)
            data["owner_tag_accepted"] = True
        record(actor=actor, action="registry.owner_added", target=_model_target(model), data=data)
    return row


def model_owner_remove(*, actor, owner: ModelOwner, via: str = "roles page") -> None:
    """Remove one portal owner of a model: ``registry.owner_removed``."""
    enforce(owners_manage_refusal(actor))
    with transaction.atomic():
        row = (
            ModelOwner.objects.select_for_update(of=("self",))
            .select_related("model", "user", "group")
            .filter(pk=owner.pk)
        )
        row = row.first()
        if row is None:
            raise ValidationError("That owner was already removed.")
        record(
            actor=actor,
            action="registry.owner_removed",
            target=_model_target(row.model),
            data={**_owner_data(row), "via": via},
        )
        row.delete()


def _flag_clear(model: RegisteredModel) -> None:
    model.owner_tag_flagged_at, model.owner_tag_previous = None, ""
    model.save(update_fields=["owner_tag_flagged_at", "owner_tag_previous"])


def owner_tag_dismiss(*, actor, model: RegisteredModel) -> bool:
    """An admin saw the flagged change of MLflow's ``owner`` tag and keeps the portal's owners as they are:
    ``registry.owner_tag_dismissed``. False when nothing was flagged."""
    enforce(owners_manage_refusal(actor))
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        if model.owner_tag_flagged_at is None:
            return False
        data = {"tag": model.owner_tag, "previous": model.owner_tag_previous}
        _flag_clear(model)
        record(actor=actor, action="registry.owner_tag_dismissed", target=_model_target(model), data=data)
    return True
