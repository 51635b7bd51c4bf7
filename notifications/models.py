"""Subscriptions (who hears about which audit events) and deliveries (one row per event per subscription).

The audit log is the outbox: a subscription's ``cursor`` is the ``seq`` of the last audit event its
dispatcher has looked at; a ``Delivery`` is created for each matching event after it. docs/notifications.md.
"""

from django.conf import settings
from django.db import models
from django.db.models import Max, Q

from audit.models import AuditEvent

from . import events


def newest_seq() -> int:
    """Where a new subscription starts: it hears about what happens from now on."""
    return AuditEvent.objects.aggregate(newest=Max("seq"))["newest"] or 0


class Subscription(models.Model):
    EMAIL = "email"
    WEBHOOK = "webhook"
    CHANNELS = [(EMAIL, "email"), (WEBHOOK, "webhook")]

    channel = models.CharField(max_length=10, choices=CHANNELS)
    name = models.CharField(max_length=100, blank=True, help_text="what admins call a webhook (e.g. #ml-releases)")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_subscriptions",
    )
    url = models.URLField(max_length=500, blank=True, help_text="webhook only: where the signed JSON is POSTed")
    secret = models.CharField(max_length=200, blank=True, help_text="webhook only: the HMAC-SHA256 key")
    actions = models.JSONField(default=list, blank=True, help_text="audit action names (notifications.events)")
    model_names = models.JSONField(default=list, blank=True, help_text="registered model names; empty = all")
    active = models.BooleanField(default=True)
    # Email only: the daily "waiting for you" digest (notifications.digests), independent of the events chosen.
    digest = models.BooleanField(default=False, help_text="email only: a daily digest of what waits for this user")
    digest_sent_on = models.DateField(null=True, blank=True, help_text="the day the last digest was sent")
    # seq (gapless, assigned under the chain head's lock), not id: docs/notifications.md, "The cursor".
    cursor = models.BigIntegerField(null=True, blank=True, help_text="seq of the last audit event looked at")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(channel="email"), name="one_email_subscription_per_user"
            ),
            models.CheckConstraint(
                condition=Q(channel="webhook", url__gt="") | Q(channel="email", user__isnull=False),
                name="subscription_has_a_recipient",
            ),
        ]

    def __str__(self):
        if self.channel == self.EMAIL:
            return f"email to {self.user}"
        return f"webhook {self.name or self.url}"

    def save(self, *args, **kwargs):
        if self.cursor is None:
            self.cursor = newest_seq()
        super().save(*args, **kwargs)

    def wants(self, action: str, model_name: str, data: dict | None = None, owned: frozenset = frozenset()) -> bool:
        """Whether an event is for this subscription: one of its keys (``events.keys_of``; ``owned:`` ones when
        ``model_name`` is in ``owned``, the models the user owns), one of its models."""
        if self.model_names and model_name not in self.model_names:
            return False
        return not events.keys_of(action, data, owned=model_name in owned).isdisjoint(self.actions)


class DeliveryQuerySet(models.QuerySet):
    def open(self):
        """Still to send: pending (never tried) or failed (waiting for its next attempt)."""
        return self.filter(status__in=(Delivery.PENDING, Delivery.FAILED))

    def claimable(self, now):
        return (
            self.open()
            .filter(next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        )


class Delivery(models.Model):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    STATUSES = [(PENDING, "pending"), (DELIVERED, "delivered"), (FAILED, "failed"), (DEAD, "dead")]

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    # No database constraint: the audit log knows nothing of its readers (a constraint would make TRUNCATE of the
    # audit table, refused by its own trigger, fail on this table instead; events are never deleted anyway).
    event = models.ForeignKey(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # A worker's claim: only the holder sends; when the lease runs out (worker killed) another one may.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_event")]
        indexes = [
            models.Index(fields=["subscription", "status", "id"]),
            models.Index(fields=["status", "id"]),
            models.Index(fields=["claim_token"]),
        ]

    def __str__(self):
        return f"delivery #{self.pk} of event #{self.event_id} to {self.subscription}"

    @property
    def can_retry(self) -> bool:
        return self.status in (self.FAILED, self.DEAD)
