"""The daily "waiting for you" digest: registered by approvals, one mail a day to the users who chose it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import TransitionRequest
from notifications import digests, services
from notifications.models import Subscription
from tests.factories import file_request


@pytest.fixture
def waiting(mirror, owner, reviewer_a):
    """A Production request for Churn v1, filed by the owner: it waits for reviewer A."""
    return file_request(owner, mirror.version("Churn", stage="Staging"))


def opt_in(user, actions=()):
    return services.email_preferences_save(actor=user, actions=list(actions), model_names=[], digest=True)


def test_the_seam_collects_each_registered_functions_lines(reviewer_a):
    digests.register("test: nothing", lambda user: [])
    digests.register("test: one", lambda user: [f"for {user.username}"])
    try:
        assert "for rita-reviewer" in digests.lines_for(reviewer_a)
        assert "test: nothing" not in dict(digests.sections_for(reviewer_a))
    finally:
        digests.unregister("test: nothing")
        digests.unregister("test: one")
    assert "for rita-reviewer" not in digests.lines_for(reviewer_a)


def test_an_opted_in_reviewer_with_a_waiting_request_gets_one_mail(
    waiting, reviewer_a, reviewer_b, mailoutbox, settings
):
    opt_in(reviewer_a)
    assert services.digests_send() == 1
    [message] = mailoutbox
    assert message.to == [reviewer_a.email]
    assert message.subject == "[Registry Portal] Daily digest: 1 waiting for you"
    assert "Waiting for your review (1):" in message.body
    assert f"- Churn v1: Staging → Production, filed by {waiting.requested_by.username}" in message.body
    assert settings.PORTAL_URL + waiting.get_absolute_url() in message.body
    subscription = Subscription.objects.get(user=reviewer_a)
    assert subscription.digest_sent_on == timezone.localdate()
    assert not subscription.active  # the digest alone: no event emails


def test_twice_the_same_day_sends_once_and_the_next_day_again(waiting, reviewer_a, mailoutbox):
    opt_in(reviewer_a)
    services.digests_send()
    assert services.digests_send() == 0
    assert len(mailoutbox) == 1
    assert services.digests_send(now=timezone.now() + timedelta(days=1)) == 1
    assert len(mailoutbox) == 2


def test_not_opted_in_gets_none(waiting, reviewer_a, mailoutbox):
    services.email_preferences_save(actor=reviewer_a, actions=["request.created"], model_names=[])
    assert services.digests_send() == 0
    assert mailoutbox == []


def test_nothing_waiting_sends_none_and_claims_no_day(waiting, reviewer_a, owner, lead, mailoutbox):
    opt_in(owner)  # their own request does not wait for them, and they are no reviewer
    opt_in(lead)  # not a reviewer: nothing waits for them
    assert services.digests_send() == 0
    opt_in(reviewer_a)
    TransitionRequest.objects.filter(pk=waiting.pk).update(status=TransitionRequest.WITHDRAWN)
    assert services.digests_send() == 0
    assert mailoutbox == []
    assert not Subscription.objects.filter(digest_sent_on__isnull=False).exists()


def test_a_user_another_worker_already_mailed_today_is_not_mailed_again(waiting, reviewer_a, mailoutbox, monkeypatch):
    opt_in(reviewer_a)
    real = digests.sections_for

    def meanwhile(user):
        # Another worker claims this user's day between our read of the candidates and our conditional update.
        Subscription.objects.filter(user=user).update(digest_sent_on=timezone.localdate())
        return real(user)

    monkeypatch.setattr(digests, "sections_for", meanwhile)
    assert services.digests_send() == 0
    assert mailoutbox == []


def test_a_mail_that_fails_gives_the_day_back(waiting, reviewer_a, monkeypatch, mailoutbox):
    opt_in(reviewer_a)

    def down(*args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr(services, "send_mail", down)
    assert services.digests_send() == 0
    assert Subscription.objects.get(user=reviewer_a).digest_sent_on is None
    monkeypatch.undo()
    assert services.digests_send() == 1


def test_an_inactive_user_or_one_without_an_address_gets_none(waiting, reviewer_a, mailoutbox):
    opt_in(reviewer_a)
    reviewer_a.email = ""
    reviewer_a.save()
    assert services.digests_send() == 0


def test_my_notifications_shows_and_saves_the_digest_choice(client, reviewer_a):
    client.force_login(reviewer_a)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert 'name="digest"' in page
    client.post(reverse("notifications:preferences"), {"actions": ["request.created"], "digest": "on"})
    subscription = Subscription.objects.get(user=reviewer_a)
    assert subscription.digest and subscription.actions == ["request.created"]
    assert "The daily digest is on" in client.get(reverse("notifications:preferences")).content.decode()
    client.post(reverse("notifications:preferences"), {"actions": ["request.created"]})
    assert not Subscription.objects.get(user=reviewer_a).digest


def test_the_beat_schedule_sends_digests_daily_expiring_just_under_the_period(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-notification-digests"]
    assert entry["task"] == "notifications.tasks.send_digests"
    assert entry["schedule"] == settings.NOTIFY_DIGEST_INTERVAL_SECONDS == 24 * 3600
    assert entry["options"]["expires"] == pytest.approx(settings.NOTIFY_DIGEST_INTERVAL_SECONDS * 0.9)
