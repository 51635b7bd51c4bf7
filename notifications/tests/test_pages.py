"""My notifications, and the admins' deliveries page with Retry."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from notifications import services
from notifications.models import Delivery, Subscription

from .conftest import event

PREFS = reverse("notifications:preferences")
DELIVERIES = reverse("notifications:deliveries")


def test_preferences_page_saves_the_users_choice(client, reviewer_a):
    client.force_login(reviewer_a)
    assert client.get(PREFS).status_code == 200
    response = client.post(PREFS, {"actions": ["request.created", "card.published"], "model_names": "iris, wine\nwine"})
    assert response.status_code == 302
    subscription = Subscription.objects.get(user=reviewer_a)
    assert subscription.actions == ["card.published", "request.created"]
    assert subscription.model_names == ["iris", "wine"]
    page = client.get(PREFS).content.decode()
    assert 'value="card.published"' in page and "checked" in page and "Email notifications are on." in page


def test_preferences_page_refuses_an_unknown_action(client, reviewer_a):
    client.force_login(reviewer_a)
    response = client.post(PREFS, {"actions": ["auth.login"]})
    assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_preferences_need_a_sign_in(client, db):
    assert client.get(PREFS).status_code == 302


@pytest.fixture
def failed(webhook):
    event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.DEAD, attempts=10, last_error="HTTP 500")
    return delivery


@pytest.mark.parametrize("persona", ["owner", "reviewer_a", "lead", "outsider"])
def test_only_admins_see_deliveries_and_retry(client, request, failed, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(DELIVERIES).status_code == 403
    assert client.post(reverse("notifications:delivery_retry", args=[failed.pk])).status_code == 403
    assert Delivery.objects.get().status == Delivery.DEAD
    assert "Deliveries" not in client.get(PREFS).content.decode()


def test_admin_lists_filters_and_retries(
    client, admin_user, failed, receiver, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    with django_assert_max_num_queries(7):
        page = client.get(DELIVERIES, {"status": "dead"}).content.decode()
    assert f'id="delivery-{failed.pk}"' in page and "Retry" in page and "Deliveries" in page
    assert f'id="delivery-{failed.pk}"' not in client.get(DELIVERIES, {"status": "delivered"}).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("notifications:delivery_retry", args=[failed.pk]), {"status": "dead"})
    assert response.status_code == 302 and response["Location"] == DELIVERIES + "?status=dead"
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DELIVERED  # sent on commit, in-process (no broker)
    assert len(receiver.seen()) == 1


def test_a_delivered_one_is_not_retried(client, admin_user, failed):
    Delivery.objects.filter(pk=failed.pk).update(status=Delivery.DELIVERED)
    client.force_login(admin_user)
    assert client.post(reverse("notifications:delivery_retry", args=[failed.pk])).status_code == 409


@pytest.mark.parametrize("rows", [1, 30])
def test_the_deliveries_page_costs_the_same_for_many_rows(client, admin_user, webhook, django_assert_num_queries, rows):
    for _ in range(rows):
        event()
    services.subscription_catch_up(subscription_id=webhook.pk)
    client.force_login(admin_user)
    with django_assert_num_queries(6):  # session, user, count, the rows, the nav's reviews badge, the last sync
        assert client.get(DELIVERIES).status_code == 200


def test_the_beat_schedule_dispatches_just_under_its_period(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["dispatch-notifications"]
    assert entry["task"] == "notifications.tasks.dispatch_notifications"
    assert entry["options"]["expires"] == pytest.approx(settings.NOTIFY_INTERVAL_SECONDS * 0.9)


def test_an_admins_retry_is_audited(client, admin_user, failed, django_capture_on_commit_callbacks):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("notifications:delivery_retry", args=[failed.pk]))
    retried = AuditEvent.objects.get(action="notification.retried")
    assert (retried.actor, retried.target_type, retried.target_id) == (
        admin_user.username,
        "notification_delivery",
        str(failed.pk),
    )
    assert retried.model_name == "iris" and retried.version == 1
    assert retried.data["was"] == "dead" and retried.data["attempts_before"] == 10
    assert retried.data["event_seq"] == failed.event.seq and retried.data["last_error"] == "HTTP 500"


def test_a_retry_whose_audit_event_fails_changes_nothing(admin_user, failed, monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(services, "record", refuse)
    failed.refresh_from_db()
    with pytest.raises(RuntimeError):
        services.delivery_retry(actor=admin_user, delivery=failed)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.DEAD and delivery.attempts == 10
