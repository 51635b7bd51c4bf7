"""The "owners of the model" recipient kind: ``owned:<key>`` reaches whoever owns the event's model (named on it,
or in a group named on it), by default for a Production waiver's expiry, re-certification and revert events."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse

from audit.services import Target, record
from conftest import member
from notifications import defaults, events, services
from notifications.models import Subscription
from tests.factories import make_model, make_owner

pytestmark = pytest.mark.django_db


@pytest.fixture
def owners(owner, outsider):
    """Churn owned by the owner and by the group churn-team (Gita is in it); Fraud owned by nobody here."""
    make_model("Churn", owner=owner)
    make_model("Fraud", owner=None)
    team = Group.objects.create(name="churn-team")
    gita = member("gita-groupie")
    gita.groups.add(team)
    make_owner("Churn", team)
    return {"owner": owner, "gita": gita, "outsider": outsider}


def emit(action, model="Churn", data=None):
    target_type = {"waiver": "waiver", "recertification": "recertification"}.get(action.split(".")[0], "model_version")
    return record(
        actor="system:worker",
        action=action,
        target=Target(type=target_type, id="3", model_name=model, version=1),
        data=data or {},
    )


@pytest.mark.parametrize(
    "action, data",
    [
        ("waiver.expired", {"in_production": True, "rule_id": "accuracy", "stage": "Production"}),
        ("recertification.opened", {}),
        ("recertification.reminder", {}),
        ("recertification.overdue", {}),
        ("registry.unapproved_reverted", {}),
        ("registry.revert_skipped", {}),
        ("registry.revert_failed", {}),
    ],
)
def test_the_models_owners_are_mailed_by_default_and_no_one_else(owners, action, data):
    services.notifications_dispatch()  # the defaults exist before the event
    emit(action, data=data)
    emit(action, model="Fraud", data=data)  # a model they do not own
    services.notifications_dispatch()
    assert sorted(address for m in mail.outbox for address in m.to) == sorted(
        [owners["owner"].email, owners["gita"].email]
    )
    assert not Subscription.objects.filter(user=owners["outsider"]).exists()


def test_a_waiver_expiring_outside_production_is_not_an_owners_mail(owners):
    services.notifications_dispatch()
    emit("waiver.expired", data={"in_production": False, "rule_id": "accuracy", "stage": "Staging"})
    services.notifications_dispatch()
    assert mail.outbox == []


def test_ownership_is_read_when_the_event_is_dispatched(owners):
    services.notifications_dispatch()
    owners["gita"].groups.clear()  # left the team: no longer an owner of Churn
    emit("recertification.overdue")
    services.notifications_dispatch()
    assert [m.to for m in mail.outbox] == [[owners["owner"].email]]


def test_owned_keys_match_only_with_ownership():
    assert events.keys_of("waiver.expired", {"in_production": True}) == {
        "waiver.expired",
        "waiver.expired_in_production",
    }
    assert "owned:waiver.expired_in_production" in events.keys_of("waiver.expired", {"in_production": True}, owned=True)
    assert events.needs_data(["owned:waiver.expired_in_production"])
    assert events.needs_ownership(["owned:recertification.opened"]) and not events.needs_ownership(["request.created"])
    assert set(events.OWNED_NOTIFIABLE) >= set(defaults.BY_ROLE[defaults.MODEL_OWNERS])


def test_a_reviewer_who_owns_a_model_gets_both_kinds(owners, reviewer_a):
    make_owner("Fraud", reviewer_a)
    services.notifications_dispatch()
    actions = Subscription.objects.get(user=reviewer_a).actions
    assert "recertification.opened" in actions and "owned:recertification.opened" in actions
    emit("recertification.opened", model="Fraud")
    services.notifications_dispatch()
    assert [m.to for m in mail.outbox].count([reviewer_a.email]) == 1  # one mail, not one per kind


def test_my_notifications_offers_the_owner_defaults_before_the_first_dispatch(client, owners):
    client.force_login(owners["owner"])
    page = client.get(reverse("notifications:preferences")).content.decode()
    assert re.search(r'<input[^>]*value="owned:recertification.overdue"[^>]*checked', page)
    assert not re.search(r'<input[^>]*value="owned:request.applied"[^>]*checked', page)
    client.post(reverse("notifications:preferences"), {"actions": ["owned:request.applied"], "model_names": ""})
    assert Subscription.objects.get(user=owners["owner"]).actions == ["owned:request.applied"]
