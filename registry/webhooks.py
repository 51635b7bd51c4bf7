"""MLflow registry webhooks in: ``POST /hooks/mlflow`` turns a signed delivery into a sync of one model.

A webhook is a nudge that makes the mirror fresh within seconds; the periodic sync stays the guarantee
(MLflow drops a delivery after a few retries, and stage changes send none). See docs/webhooks.md.
"""

import datetime as dt
import hmac
import json
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from registry_portal.signing import webhook_signature

from . import tasks
from .mlflow_client import RegistryClient
from .models import WebhookDelivery

# MLflow 3.17's model registry events (mlflow/entities/webhook.py); each payload's ``data.name`` is the model.
# Prompt events are left out on purpose: the mirror does not hold prompts.
MODEL_EVENTS = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
)
WEBHOOK_NAME = "registry-portal"
# Standard Webhooks' tolerance; MLflow's own retries (a few, backoff capped at 60 s) fit well inside it.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
# Far longer than the tolerance: a replay older than that is refused by its timestamp already.
DELIVERY_RETENTION = dt.timedelta(days=1)


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def verified_event(*, secret: str, headers, body: bytes, now: float) -> tuple[str, dict]:
    """The delivery id and JSON payload of an authentic, fresh delivery; ``WebhookRefused`` otherwise."""
    delivery_id = headers.get("X-MLflow-Delivery-Id", "")
    timestamp = headers.get("X-MLflow-Timestamp", "")
    received = headers.get("X-MLflow-Signature", "")
    if not (delivery_id and timestamp and received):
        raise WebhookRefused(401, "missing X-MLflow-Delivery-Id, X-MLflow-Timestamp or X-MLflow-Signature")
    if not hmac.compare_digest(webhook_signature(secret, delivery_id, timestamp, body).encode(), received.encode()):
        raise WebhookRefused(401, "bad signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRefused(400, "X-MLflow-Timestamp is not unix seconds") from None
    if abs(now - sent_at) > TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookRefused(401, "timestamp outside the 5 minute tolerance")
    if len(delivery_id) > WebhookDelivery._meta.get_field("delivery_id").max_length:
        raise WebhookRefused(400, "X-MLflow-Delivery-Id too long")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused(400, "body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
        raise WebhookRefused(400, "body is not an MLflow webhook payload")
    return delivery_id, payload


def webhook_delivery_accept(*, delivery_id: str, payload: dict) -> tuple[bool, str]:
    """Record the delivery and, for a model event, queue a sync of that one model once it commits.

    Returns (recorded, model name or ""); ``recorded`` is False for a delivery id seen before. The unique
    ``delivery_id`` decides, not a prior lookup: two concurrent copies of one delivery cannot both insert.
    """
    entity, action = str(payload.get("entity", "")), str(payload.get("action", ""))
    model_name = ""
    if f"{entity}.{action}" in MODEL_EVENTS:
        model_name = payload["data"].get("name")
        if not isinstance(model_name, str) or not model_name:
            raise WebhookRefused(400, f"{entity}.{action} without data.name")
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                delivery_id=delivery_id, entity=entity[:64], action=action[:64], model_name=model_name
            )
            if model_name:
                transaction.on_commit(lambda: tasks.sync_registry.delay(model_name=model_name, trigger="webhook"))
    except IntegrityError:
        return False, model_name
    WebhookDelivery.objects.filter(received_at__lt=timezone.now() - DELIVERY_RETENTION).delete()
    return True, model_name


@csrf_exempt
def mlflow_hook(request):
    """Answers: 404 no secret configured, 401 unsigned/stale, 400 malformed, 200 duplicate, 202 accepted."""
    secret = settings.MLFLOW_WEBHOOK_SECRET
    if not secret:
        raise Http404("no webhook endpoint")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        delivery_id, payload = verified_event(
            secret=secret, headers=request.headers, body=request.body, now=time.time()
        )
        recorded, model_name = webhook_delivery_accept(delivery_id=delivery_id, payload=payload)
    except WebhookRefused as refused:
        return JsonResponse({"error": str(refused)}, status=refused.status)
    if not recorded:
        # 200, not 409: MLflow resends a delivery whose answer it lost; it was handled, so the sender is done.
        return JsonResponse({"status": "duplicate", "delivery_id": delivery_id})
    return JsonResponse(
        {"status": "queued" if model_name else "ignored", "delivery_id": delivery_id, "model": model_name or None},
        status=202,
    )


def webhook_register(*, url: str, name: str = WEBHOOK_NAME, events: list[str] | None = None) -> tuple[str, object]:
    """Make MLflow hold exactly one webhook called ``name``, sending ``events`` to ``url`` signed with our secret.

    Returns ("created" | "updated", the webhook). Other webhooks of that name are deleted, so running this
    twice, or after a half-finished run, still leaves one.
    """
    secret = settings.MLFLOW_WEBHOOK_SECRET
    if not secret:
        raise ValueError("MLFLOW_WEBHOOK_SECRET is not set: MLflow would send unsigned deliveries, which we refuse")
    events = sorted(events or MODEL_EVENTS)
    client = RegistryClient()
    fields = {
        "name": name,
        "url": url,
        "events": events,
        "secret": secret,
        "description": "Registry Portal: sync the changed model",
    }
    existing = [w for w in client.list_webhooks() if w.name == name]
    if not existing:
        return "created", client.create_webhook(**fields)
    keep, *extra = existing
    for webhook in extra:
        client.delete_webhook(webhook.webhook_id)
    return "updated", client.update_webhook(keep.webhook_id, **fields)
