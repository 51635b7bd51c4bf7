"""Default email subscriptions by role, made by the dispatcher for users who have none yet."""

import re
from datetime import timedelta

from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from conftest import member
from notifications import defaults, services
from notifications.models import Subscription
from registry_portal import roles

from .conftest import event


def test_each_role_gets_its_default_events_and_others_none(reviewer_a, lead, admin_user, outsider, owner):
    member("ina-inactive", roles.REVIEWERS, is_active=False)
    no_address = member("nora-noaddress", roles.REVIEWERS)
    no_address.email = ""
    no_address.save()
    services.notifications_dispatch()
    by_user = {s.user.username: s.actions for s in Subscription.objects.filter(channel="email")}
    governance = ["recertification.overdue", "waiver.expired"]
    assert by_user == {
        reviewer_a.username: sorted(
            ["request.created", "finding.remediated", "waiver.requested", *governance, "recertification.opened"]
            + ["recertification.reminder", "recertification.rejected"]
        ),
        lead.username: sorted(["finding.opened", "model.risk_tier_set", "registry.unapproved_transition", *governance]),
        admin_user.username: sorted(
            ["registry.unapproved_transition", *governance]
            + ["registry.revert_failed", "registry.revert_skipped", "registry.unapproved_reverted"]
        ),
    }


def test_a_reviewer_who_never_chose_gets_the_request_mail(reviewer_a, reviewer_b):
    event("request.created", actor=reviewer_b)
    services.notifications_dispatch()
    [message] = mail.outbox  # reviewer B filed it: not mailed about their own request
    assert message.to == [reviewer_a.email]
    assert "/approvals/requests/7/" in message.body


def test_an_existing_subscription_is_the_users_own_even_when_off(reviewer_a):
    services.email_preferences_save(actor=reviewer_a, actions=[], model_names=[])
    event()
    services.notifications_dispatch()
    subscription = Subscription.objects.get(user=reviewer_a)
    assert (subscription.actions, subscription.active) == ([], False)
    assert mail.outbox == []


def test_a_user_who_gets_a_role_later_is_subscribed_by_the_next_dispatch(outsider):
    services.notifications_dispatch()
    assert not Subscription.objects.exists()
    outsider.groups.add(Group.objects.get_or_create(name=roles.REVIEWERS)[0])
    event()
    services.notifications_dispatch()
    assert [m.to for m in mail.outbox] == [[outsider.email]]


def test_the_cursor_starts_at_joining_or_the_lookback_whichever_is_later(db, settings):
    before = event()  # before anyone joined
    member("ravi-reviewer", roles.REVIEWERS)
    event()
    services.notifications_dispatch()
    assert len(mail.outbox) == 1  # not the event from before they joined
    # Someone who joined long ago and got the role only now hears of the last NOTIFY_DEFAULT_LOOKBACK_SECONDS only.
    veteran = member("vera-veteran", roles.REVIEWERS)
    veteran.date_joined = timezone.now() - timedelta(days=365)
    veteran.save()
    newest = event()
    assert defaults.start_seq(veteran, timezone.now()) == before.seq - 1  # all three are within the hour
    later = timezone.now() + timedelta(seconds=settings.NOTIFY_DEFAULT_LOOKBACK_SECONDS + 60)
    assert defaults.start_seq(veteran, later) == newest.seq  # older than the lookback: not sent


def test_nobody_to_add_costs_one_query(reviewer_a, django_assert_num_queries):
    defaults.default_subscriptions_create()
    with django_assert_num_queries(1):
        assert defaults.default_subscriptions_create() == 0


def test_my_notifications_shows_the_role_defaults_before_the_first_dispatch(client, reviewer_a):
    client.force_login(reviewer_a)
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert re.search(r'<input[^>]*value="request.created"[^>]*checked', page)
    assert not re.search(r'<input[^>]*value="card.published"[^>]*checked', page)
