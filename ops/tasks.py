import socket

from celery import shared_task
from django.utils import timezone

from .models import Heartbeat

HEARTBEAT_NAME = "worker"


@shared_task(name="ops.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat queues this every ``HEARTBEAT_INTERVAL_SECONDS``; a worker running it proves broker, beat and a
    worker all move. ``/readyz`` fails when the row is older than ``HEARTBEAT_MAX_AGE_SECONDS``."""
    Heartbeat.objects.update_or_create(
        name=HEARTBEAT_NAME, defaults={"beat_at": timezone.now(), "hostname": socket.gethostname()}
    )
