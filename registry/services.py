"""Writes the registry app makes on a user's behalf. The mirror itself is written only by ``sync``."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from .models import SyncRun
from .tasks import sync_registry

logger = logging.getLogger(__name__)


def sync_run_start(*, actor, model_name: str = "") -> SyncRun:
    """ "Sync now": a SyncRun the page can poll, and the sync task queued once it is committed.

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
