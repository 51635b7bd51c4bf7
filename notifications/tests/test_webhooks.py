"""Webhooks against a real receiver on 127.0.0.1: signed, in order, retried while it is down, each arrives once."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.utils import timezone

from notifications import services
from notifications.models import Delivery

from .conftest import SECRET, event


def _standard_webhooks_signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Written from the Standard Webhooks spec, as a receiver would, not with the portal's own signer."""
    mac = hmac.new(secret.encode(), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def _verify(headers: dict, body: bytes, secret: str = SECRET) -> dict:
    """What a receiver does: signature, then timestamp."""
    webhook_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    expected = _standard_webhooks_signature(secret, webhook_id, timestamp, body)
    assert any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split())
    assert abs(time.time() - int(timestamp)) < 300
    return json.loads(body)


def _run(now=None, subscription=None):
    """One beat: the task queues the sender (in-process here) at the real time; time travel sends by hand."""
    services.notifications_dispatch(now=now)
    if now is not None:
        services.subscription_deliver(subscription_id=subscription.pk, now=now)


def test_a_delivery_arrives_signed_with_a_slack_message(webhook, receiver):
    created = event("request.created", model="iris", version=3, actor="system:worker")
    _run()
    [(headers, body)] = receiver.received
    message = _verify(headers, body)
    assert headers["webhook-id"] == str(Delivery.objects.get().pk)
    assert message["text"].startswith("[Registry Portal] iris v3: a transition request was filed, by system:worker")
    assert "/approvals/requests/7/" in message["blocks"][0]["text"]["text"]
    assert message["event"]["seq"] == created.seq and message["event"]["action"] == "request.created"
    assert Delivery.objects.get().status == Delivery.DELIVERED


def test_a_wrong_secret_does_not_verify(webhook, receiver):
    event()
    _run()
    [(headers, body)] = receiver.received
    assert (
        _standard_webhooks_signature("another", headers["webhook-id"], headers["webhook-timestamp"], body)
        != headers["webhook-signature"]
    )


def test_receiver_down_then_failing_then_up_every_event_arrives_once_in_order(webhook, receiver, settings):
    settings.NOTIFY_CLAIM_BATCH = 3
    receiver.stop()
    seqs = [event("request.created", version=n).seq for n in range(1, 8)]
    now = timezone.now()
    _run(now, webhook)  # not listening: the first fails and blocks the rest
    first = Delivery.objects.order_by("id").first()
    assert first.status == Delivery.FAILED and first.attempts == 1 and "ConnectionError" in first.last_error
    assert Delivery.objects.filter(status=Delivery.PENDING).count() == 6
    _run(now, webhook)  # not due yet: nothing is tried
    assert Delivery.objects.get(pk=first.pk).attempts == 1

    receiver.start()
    receiver.answer = 500
    now += timedelta(seconds=settings.NOTIFY_RETRY_CAP_SECONDS)
    _run(now, webhook)
    assert Delivery.objects.get(pk=first.pk).attempts == 2
    assert "HTTP 500" in Delivery.objects.get(pk=first.pk).last_error

    receiver.answer = 200
    for _ in range(3):
        now += timedelta(seconds=settings.NOTIFY_RETRY_CAP_SECONDS)
        _run(now, webhook)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.DELIVERED}
    assert [m["event"]["seq"] for m in receiver.seen()] == seqs
    assert len(receiver.ids) == len(set(receiver.ids)) == 7


def test_a_worker_killed_after_claiming_loses_nothing(webhook, receiver, settings):
    for n in range(1, 4):
        event(version=n)
    services.subscription_catch_up(subscription_id=webhook.pk)
    now = timezone.now()
    claimed = services.deliveries_claim(subscription=webhook, now=now)  # ...and the worker dies here
    assert len(claimed) == 3
    services.subscription_deliver(subscription_id=webhook.pk, now=now)
    assert receiver.received == []  # the claim holds: no second worker sends them meanwhile
    later = now + timedelta(seconds=settings.NOTIFY_LEASE_SECONDS + 1)
    assert services.subscription_deliver(subscription_id=webhook.pk, now=later).delivered == 3
    assert [m["event"]["version"] for m in receiver.seen()] == [1, 2, 3]


def test_a_delivery_sent_twice_counts_once_at_the_receiver(webhook, receiver):
    """At least once: a worker that sent but died before writing "delivered" sends it again, same webhook-id."""
    event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    delivery = Delivery.objects.get()
    services.subscription_deliver(subscription_id=webhook.pk)
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.PENDING)
    services.subscription_deliver(subscription_id=webhook.pk)
    assert receiver.ids == [str(delivery.pk)] * 2
    assert len(receiver.seen()) == 1


def test_two_claims_never_hold_the_same_delivery(webhook, receiver):
    event()
    event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    now = timezone.now()
    assert len(services.deliveries_claim(subscription=webhook, now=now)) == 2
    assert services.deliveries_claim(subscription=webhook, now=now) == []


def test_after_the_last_attempt_it_is_dead_and_later_events_go_on(webhook, receiver, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    receiver.answer = 500
    event(version=1)
    now = timezone.now()
    _run(now, webhook)
    now += timedelta(seconds=settings.NOTIFY_RETRY_CAP_SECONDS)
    _run(now, webhook)
    dead = Delivery.objects.get()
    assert dead.status == Delivery.DEAD and dead.attempts == 2
    receiver.answer = 200
    event(version=2)
    _run(now, webhook)
    assert [m["event"]["version"] for m in receiver.seen()] == [2]


def test_backoff_grows_with_jitter_up_to_the_cap(settings):
    settings.NOTIFY_RETRY_BASE_SECONDS, settings.NOTIFY_RETRY_CAP_SECONDS = 10, 100
    assert 5 <= services.backoff_seconds(1) <= 10
    assert 10 <= services.backoff_seconds(2) <= 20
    assert 50 <= services.backoff_seconds(9) <= 100
