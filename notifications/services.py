"""The dispatcher (audit events after a cursor → deliveries) and the sender (due deliveries, in order, claimed).

docs/notifications.md says why each rule holds; every function here is safe to run in several workers at once.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Target, record
from registry_portal import roles
from registry_portal.access import enforce
from registry_portal.celery import queue_task

from . import access, channels, defaults, digests, events
from .models import Delivery, Subscription, newest_seq

logger = logging.getLogger(__name__)


def subscription_dispatch(*, subscription_id: int, now=None) -> tuple[int, int]:
    """One bounded step of a subscription's cursor: (events looked at, deliveries created).

    The cursor only moves over consecutive ``seq`` numbers: a missing one is an event not committed yet
    (or a broken chain), and the cursor waits before it rather than skip it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(pk=subscription_id, active=True)
            .first()
        )
        if subscription is None:
            return 0, 0
        # Nobody is emailed about what they did themselves (a reviewer filing a request is not asked to review it).
        myself = subscription.user.get_username() if subscription.user else None
        # The events' data is read only when a derived key (e.g. checks.failed) has to look at it.
        fields = ["id", "seq", "action", "model_name", "actor"]
        if events.needs_data(subscription.actions):
            fields.append("data")
        # Owners of the model (``owned:`` keys): the models the user owns now, one query a step.
        owned = frozenset()
        if subscription.user and events.needs_ownership(subscription.actions):
            owned = frozenset(roles.owned_model_names(subscription.user))
        rows = (
            AuditEvent.objects.filter(seq__gt=subscription.cursor)
            .order_by("seq")
            .values_list(*fields)[: settings.NOTIFY_BATCH_SIZE]
        )
        cursor, matching = subscription.cursor, []
        for event_id, seq, action, model_name, actor, *data in rows:
            if seq != cursor + 1:
                logger.info(
                    "subscription %s waits at seq %s: #%s is not visible yet", subscription.pk, cursor, cursor + 1
                )
                break
            cursor = seq
            if actor != myself and subscription.wants(action, model_name, data[0] if data else None, owned):
                matching.append(Delivery(subscription=subscription, event_id=event_id, next_attempt_at=now))
        Delivery.objects.bulk_create(matching, ignore_conflicts=True)
        looked_at = cursor - subscription.cursor
        if looked_at:
            Subscription.objects.filter(pk=subscription.pk).update(cursor=cursor)
    return looked_at, len(matching)


def subscription_catch_up(*, subscription_id: int, now=None) -> int:
    """Step the cursor until it reaches the newest visible event (or a gap); the deliveries created."""
    created = 0
    while True:
        looked_at, made = subscription_dispatch(subscription_id=subscription_id, now=now)
        created += made
        if looked_at < settings.NOTIFY_BATCH_SIZE:
            return created


def notifications_dispatch(*, now=None) -> int:
    """The beat task's work: every active subscription's cursor catches up; those with due deliveries are sent."""
    now = now or timezone.now()
    defaults.default_subscriptions_create(now=now)
    ids = list(Subscription.objects.filter(active=True).values_list("pk", flat=True))
    created = sum(subscription_catch_up(subscription_id=pk, now=now) for pk in ids)
    due = Delivery.objects.claimable(now).filter(subscription__active=True)
    for pk in sorted(set(due.values_list("subscription_id", flat=True))):
        # By name: tasks import services, never the reverse; in-process when there is no broker.
        queue_task(
            "notifications.tasks.deliver_subscription", pk, expires=max(settings.NOTIFY_INTERVAL_SECONDS * 0.9, 1)
        )
    return created


def deliveries_claim(*, subscription: Subscription, now=None) -> list[Delivery]:
    """Claim the next due deliveries of ``subscription``, oldest first, under a lease; [] when another holds them.

    Only a run from the oldest open delivery on is claimed: one that is waiting for its retry, or held by
    another worker, stops the run, so a subscription's events leave in order.
    """
    now = now or timezone.now()
    heads = (
        Delivery.objects.open()
        .filter(subscription=subscription)
        .order_by("id")
        .values_list("id", "next_attempt_at", "claimed_until")[: settings.NOTIFY_CLAIM_BATCH]
    )
    ids = []
    for pk, next_attempt_at, claimed_until in heads:
        if next_attempt_at > now or (claimed_until is not None and claimed_until > now):
            break
        ids.append(pk)
    if not ids:
        return []
    token = uuid.uuid4().hex
    lease = now + timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    Delivery.objects.claimable(now).filter(pk__in=ids).update(claim_token=token, claimed_until=lease)
    claimed = set(Delivery.objects.filter(claim_token=token).values_list("pk", flat=True))
    # Another worker may have taken some between our read and our update: keep only an unbroken run from the head.
    run = []
    for pk in ids:
        if pk not in claimed:
            break
        run.append(pk)
    if len(run) < len(claimed):
        _release(token, keep=run)
    deliveries = {d.pk: d for d in Delivery.objects.filter(pk__in=run).select_related("event")}
    return [deliveries[pk] for pk in run]


def _release(token: str, *, keep=()) -> None:
    Delivery.objects.filter(claim_token=token).exclude(pk__in=keep).update(claim_token="", claimed_until=None)


def backoff_seconds(attempts: int) -> float:
    """Exponential from NOTIFY_RETRY_BASE_SECONDS, capped at NOTIFY_RETRY_CAP_SECONDS, with jitter (50–100 %)."""
    ceiling = min(settings.NOTIFY_RETRY_CAP_SECONDS, settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** (attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not secrecy


def _delivered(pks: list[int], now) -> None:
    # Not guarded by the claim: if a lease ran out and another worker sent them too, they still were delivered.
    if pks:
        Delivery.objects.filter(pk__in=pks).update(
            status=Delivery.DELIVERED,
            attempts=F("attempts") + 1,
            delivered_at=now,
            last_error="",
            claim_token="",
            claimed_until=None,
        )


def _failed(delivery: Delivery, error: channels.SendFailed, now) -> str:
    attempts = delivery.attempts + 1
    dead = not error.retry or attempts >= settings.NOTIFY_MAX_ATTEMPTS
    status = Delivery.DEAD if dead else Delivery.FAILED
    Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(
        status=status,
        attempts=attempts,
        last_error=str(error),
        claim_token="",
        claimed_until=None,
        next_attempt_at=now if dead else now + timedelta(seconds=backoff_seconds(attempts)),
    )
    return status


@dataclass
class SendReport:
    delivered: int = 0
    failed: int = 0


def subscription_deliver(*, subscription_id: int, now=None) -> SendReport:
    """Send the subscription's due deliveries in order; the first failure stops it until that one's retry."""
    report = SendReport()
    subscription = Subscription.objects.filter(pk=subscription_id, active=True).select_related("user").first()
    if subscription is None:
        return report
    with channels.webhook_session(subscription.url) as session:
        while batch := deliveries_claim(subscription=subscription, now=now):
            # Marked delivered once per claimed batch, not per POST: one write instead of NOTIFY_CLAIM_BATCH. A worker
            # killed mid-batch sends those again when its lease runs out; the receiver drops them by webhook-id.
            sent = []
            for delivery in batch:
                try:
                    if subscription.channel == Subscription.WEBHOOK:
                        channels.send_webhook(session, subscription, delivery)
                    else:
                        channels.send_email(subscription, delivery)
                except channels.SendFailed as error:
                    _delivered(sent, now or timezone.now())
                    report.delivered += len(sent)
                    sent = []
                    status = _failed(delivery, error, now or timezone.now())
                    logger.warning("delivery %s to %s %s: %s", delivery.pk, subscription, status, error)
                    report.failed += 1
                    if status == Delivery.FAILED:
                        _release(delivery.claim_token)
                        return report
                    continue
                sent.append(delivery.pk)
            _delivered(sent, now or timezone.now())
            report.delivered += len(sent)
    return report


def delivery_retry(*, actor, delivery: Delivery) -> Delivery:
    """An admin sends a failed or dead delivery again, now (attempts start over); audited in the same transaction."""
    enforce(access.delivery_retry_refusal(actor, delivery))
    with transaction.atomic():
        locked = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("event", "subscription__user")
            .get(pk=delivery.pk)
        )
        enforce(access.delivery_retry_refusal(actor, locked))
        was, attempts_before = locked.status, locked.attempts
        locked.status, locked.attempts, locked.next_attempt_at = Delivery.PENDING, 0, timezone.now()
        locked.claim_token, locked.claimed_until = "", None
        locked.save(update_fields=["status", "attempts", "next_attempt_at", "claim_token", "claimed_until"])
        subscription_id = locked.subscription_id
        record(
            actor=actor,
            action="notification.retried",
            target=Target(
                type="notification_delivery",
                id=str(locked.pk),
                model_name=locked.event.model_name,
                version=locked.event.version,
            ),
            data={
                "subscription_id": subscription_id,
                "subscription": str(locked.subscription),
                "event_seq": locked.event.seq,
                "event_action": locked.event.action,
                "was": was,
                "attempts_before": attempts_before,
                "last_error": locked.last_error[:500],
            },
        )
    transaction.on_commit(lambda: queue_task("notifications.tasks.deliver_subscription", subscription_id))
    return locked


def email_preferences_save(
    *, actor, actions: list[str], model_names: list[str], digest: bool | None = None
) -> Subscription:
    """The user's own email subscription: which events, for which models (none chosen = no email), and whether
    they want the daily digest (``None``: unchanged). The digest does not depend on the events chosen."""
    enforce(access.preferences_refusal(actor))
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(
            channel=Subscription.EMAIL, user=actor, defaults={"actions": [], "model_names": []}
        )
        if actions and not subscription.active:
            # Switched back on: from now on, not a flood of what happened while it was off.
            subscription.cursor = newest_seq()
        subscription.actions, subscription.model_names = sorted(actions), sorted(set(model_names))
        subscription.active = bool(actions)
        if digest is not None:
            subscription.digest = digest
        subscription.save(update_fields=["actions", "model_names", "active", "cursor", "digest"])
    return subscription


def digest_message(user, sections) -> tuple[str, str]:
    """(subject, body) of a user's daily digest: each registered section's lines, with their links."""
    count = sum(len(lines) for _, lines in sections)
    parts = [f"{name} ({len(lines)}):\n" + "\n".join(f"- {line}" for line in lines) for name, lines in sections]
    body = (
        "\n\n".join(parts)
        + "\n\nYou receive this daily digest because you chose it on your notification preferences: "
        + f"{settings.PORTAL_URL}{reverse('notifications:preferences')}\n"
    )
    return f"[Registry Portal] Daily digest: {count} waiting for you", body


def digests_send(*, now=None) -> int:
    """The daily beat's work: one digest mail to each opted-in user with anything waiting; the mails sent.

    At most once a day per user: the day is claimed by a conditional update of ``digest_sent_on`` before the
    mail leaves, so two workers (two beats, a retried task) never both send it. A mail that fails gives the day
    back (the next run tries again); nothing waiting sends nothing and claims nothing.
    """
    today = timezone.localdate(now or timezone.now())
    not_yet = Q(digest_sent_on__isnull=True) | Q(digest_sent_on__lt=today)
    candidates = (
        Subscription.objects.filter(channel=Subscription.EMAIL, digest=True, user__is_active=True)
        .exclude(user__email="")
        .filter(not_yet)
        .select_related("user")
        .order_by("pk")
    )
    sent = 0
    for subscription in candidates:
        sections = digests.sections_for(subscription.user)
        if not sections:
            continue
        before = subscription.digest_sent_on
        if not Subscription.objects.filter(not_yet, pk=subscription.pk, digest=True).update(digest_sent_on=today):
            continue  # another worker took this user's day
        subject, body = digest_message(subscription.user, sections)
        try:
            send_mail(subject, body, None, [subscription.user.email])
        except Exception:  # noqa: BLE001 - one user's mail must not stop the others; the day is given back
            logger.exception("could not send the daily digest to %s", subscription.user)
            Subscription.objects.filter(pk=subscription.pk, digest_sent_on=today).update(digest_sent_on=before)
            continue
        sent += 1
    return sent
