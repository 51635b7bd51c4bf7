"""The cursor: starts at the newest event, never skips one committed late, never makes a delivery twice."""

from django.db.models import Max

from audit.models import AuditEvent
from audit.services import ACTIONS
from notifications import services
from notifications.events import DERIVED, NOTIFIABLE
from notifications.models import Delivery, Subscription

from .conftest import event


def test_notifiable_events_are_audit_actions_or_derived_from_one():
    assert set(NOTIFIABLE) - set(DERIVED) <= set(ACTIONS)
    assert set(DERIVED) <= set(NOTIFIABLE) and not set(DERIVED) & set(ACTIONS)
    assert {action for action, _ in DERIVED.values()} <= set(ACTIONS)


def test_a_new_subscription_starts_after_the_newest_event(webhook):
    event()
    old = Subscription.objects.create(
        channel=Subscription.WEBHOOK, url="http://127.0.0.1:9/x", actions=["request.created"]
    )
    assert old.cursor == AuditEvent.objects.aggregate(m=Max("seq"))["m"]
    services.subscription_catch_up(subscription_id=old.pk)
    services.subscription_catch_up(subscription_id=webhook.pk)
    assert not old.deliveries.exists()
    assert webhook.deliveries.count() == 1


def test_only_matching_events_become_deliveries_and_the_cursor_passes_the_rest(webhook):
    event("request.created")
    event("auth.login", target_type="user")
    event("review.approved")
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 2
    webhook.refresh_from_db()
    assert webhook.cursor == AuditEvent.objects.aggregate(m=Max("seq"))["m"]
    assert [d.event.action for d in webhook.deliveries.order_by("id")] == ["request.created", "review.approved"]


def test_model_names_filter(webhook):
    webhook.model_names = ["iris"]
    webhook.save()
    event(model="iris")
    event(model="wine")
    services.subscription_catch_up(subscription_id=webhook.pk)
    assert [d.event.model_name for d in webhook.deliveries.all()] == ["iris"]


def test_dispatching_twice_makes_no_second_delivery(webhook):
    first = event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    Subscription.objects.filter(pk=webhook.pk).update(cursor=first.seq - 1)  # as if the cursor write was lost
    services.subscription_catch_up(subscription_id=webhook.pk)
    assert Delivery.objects.filter(subscription=webhook).count() == 1


def test_batches_are_bounded_and_catch_up_takes_them_all(webhook, settings):
    settings.NOTIFY_BATCH_SIZE = 3
    for _ in range(7):
        event()
    assert services.subscription_dispatch(subscription_id=webhook.pk) == (3, 3)
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 4
    assert webhook.deliveries.count() == 7


def _chain_append(seq: int, action="request.created"):
    """An event row as a transaction that committed out of order leaves it (the chain itself is not our test)."""
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                seq=seq,
                created_at=AuditEvent.objects.first().created_at,
                actor="system:worker",
                action=action,
                target_type="transition_request",
                target_id=str(seq),
                model_name="iris",
                prev_hash="0" * 64,
                hash=f"{seq:064x}",
            )
        ]
    )


def test_an_event_committed_late_is_not_skipped(webhook):
    """seq n+2 visible before n+1 (its transaction commits later): the cursor waits at n, then takes both."""
    first = event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    n = first.seq
    _chain_append(n + 2)
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 0
    webhook.refresh_from_db()
    assert webhook.cursor == n
    _chain_append(n + 1)
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 2
    webhook.refresh_from_db()
    assert webhook.cursor == n + 2
    assert [d.event.seq for d in webhook.deliveries.order_by("id")] == [n, n + 1, n + 2]


def test_inactive_subscriptions_are_not_dispatched(webhook):
    Subscription.objects.filter(pk=webhook.pk).update(active=False)
    event()
    services.notifications_dispatch()
    assert not Delivery.objects.exists()
