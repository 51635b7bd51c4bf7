"""The reads ``/readyz`` and ``/metrics`` make: each one cheap (an indexed count or the newest row)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, Max

from approvals.models import TransitionRequest
from notifications.models import Delivery
from registry.models import SyncRun

from .models import Heartbeat
from .tasks import HEARTBEAT_NAME

# Deliveries still owed to someone: never tried, waiting for a retry, or given up on (until an admin retries).
BACKLOG_STATUSES = (Delivery.PENDING, Delivery.FAILED, Delivery.DEAD)


def database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def last_successful_sync_at() -> dt.datetime | None:
    """When a whole-registry sync last finished having written what it read (``partial`` counts: one broken
    model must not make the portal unready, its own ``sync_error`` shows it)."""
    return (
        SyncRun.objects.filter(model_name="", status__in=(SyncRun.SUCCEEDED, SyncRun.PARTIAL))
        .aggregate(at=Max("finished_at"))
        .get("at")
    )


def heartbeat_at() -> dt.datetime | None:
    return Heartbeat.objects.filter(name=HEARTBEAT_NAME).values_list("beat_at", flat=True).first()


def open_requests_by_state() -> dict[str, int]:
    """Every open state, zeros included, so a gauge goes back to 0 instead of vanishing."""
    counts = dict(
        TransitionRequest.objects.filter(status__in=TransitionRequest.OPEN)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {state: counts.get(state, 0) for state in TransitionRequest.OPEN}


def delivery_backlog() -> dict[str, int]:
    counts = dict(
        Delivery.objects.filter(status__in=BACKLOG_STATUSES)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in BACKLOG_STATUSES}
