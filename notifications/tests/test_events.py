"""Derived event keys: "check run failed" is a checks.completed event whose data says the run did not pass."""

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse

from audit.services import Target, record
from notifications import events, services
from notifications.admin import SubscriptionForm
from notifications.models import Subscription


def check_run(status, model="iris", run_id="5"):
    return record(
        actor="system:worker",
        action="checks.completed",
        target=Target(type="check_run", id=run_id, model_name=model, version=2),
        data={"stage": "Production", "status": status, "failed": ["card"] if status == "failed" else [], "error": ""},
    )


@pytest.mark.parametrize(
    ("status", "keys"),
    [
        ("passed", {"checks.completed"}),
        ("failed", {"checks.completed", "checks.failed"}),
        ("error", {"checks.completed", "checks.failed"}),
    ],
)
def test_checks_failed_is_a_completed_run_that_did_not_pass(status, keys):
    assert events.keys_of("checks.completed", {"status": status}) == keys


def test_only_derived_keys_read_the_events_data():
    assert not events.needs_data(["request.created", "checks.completed"])
    assert events.needs_data(["checks.failed"])


def test_a_webhook_on_checks_failed_gets_failed_runs_only(webhook):
    webhook.actions = ["checks.failed"]
    webhook.save()
    check_run("passed", run_id="1")
    failed = check_run("failed", run_id="2")
    errored = check_run("error", run_id="3")
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 2
    assert [d.event_id for d in webhook.deliveries.order_by("id")] == [failed.pk, errored.pk]


def test_subscribed_to_both_a_failed_run_makes_one_delivery(webhook):
    webhook.actions = ["checks.completed", "checks.failed"]
    webhook.save()
    check_run("failed")
    assert services.subscription_catch_up(subscription_id=webhook.pk) == 1


def test_the_email_of_a_failed_run_says_so(reviewer_a, mailoutbox):
    services.email_preferences_save(actor=reviewer_a, actions=["checks.failed"], model_names=["iris"])
    check_run("passed")
    check_run("failed", run_id="6")
    check_run("failed", model="wine", run_id="7")
    services.notifications_dispatch()
    [message] = mailoutbox
    assert message.subject == "[Registry Portal] iris v2: a governance check run finished (failed), by system:worker"
    assert reverse("approvals:check_run_detail", args=[6]) in message.body


def test_checks_failed_is_offered_on_my_notifications(client, reviewer_a):
    client.force_login(reviewer_a)
    assert 'value="checks.failed"' in client.get(reverse("notifications:preferences")).content.decode()
    client.post(reverse("notifications:preferences"), {"actions": ["checks.failed"], "model_names": ""})
    assert Subscription.objects.get(user=reviewer_a).actions == ["checks.failed"]


def test_admins_choose_checks_failed_for_a_webhook(admin_user, receiver):
    form = SubscriptionForm(
        {
            "channel": "webhook",
            "name": "#ml-alerts",
            "url": receiver.url,
            "secret": "x",
            "actions": ["checks.failed", "request.failed"],
            "model_names": "[]",
            "active": "on",
        }
    )
    assert form.is_valid(), form.errors
    assert form.save().actions == ["checks.failed", "request.failed"]
    assert not SubscriptionForm({"channel": "webhook", "url": receiver.url, "actions": ["auth.login"]}).is_valid()
    request = RequestFactory().get("/")
    request.user = admin_user
    assert "checks.failed" in str(site._registry[Subscription].get_form(request)().as_p())
