"""Portal-assigned owners: the audited services, the owner tag flagged by sync (never trusted), the roles page,
adopt_owner_tags, and the "Sync now" cooldown (docs/roles.md)."""

import datetime as dt
import io

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from registry import services
from registry.models import ModelOwner, RegisteredModel, SyncCooldown
from registry.sync import sync_registry
from registry_portal.roles import REVIEWERS, is_owner
from tests.factories import make_model

pytestmark = pytest.mark.django_db


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- services ------------------------------------------------------------------------------------------------


def test_admins_add_and_remove_user_and_group_owners_each_audited(admin_user, outsider, owner, reviewer):
    model = make_model("Churn", owner=None)
    team = Group.objects.create(name="churn-team")
    reviewer.groups.add(team)
    assert not is_owner(outsider, model) and not is_owner(reviewer, model)

    by_user = services.model_owner_add(actor=admin_user, model=model, user=outsider)
    by_group = services.model_owner_add(actor=admin_user, model=model, group=team)

    assert is_owner(outsider, model) and is_owner(reviewer, model) and not is_owner(owner, model)
    prefetched = RegisteredModel.objects.prefetch_related("owners").get(pk=model.pk)
    assert is_owner(outsider, prefetched) and is_owner(reviewer, prefetched) and not is_owner(owner, prefetched)
    assert [e.data for e in events("registry.owner_added")] == [
        {"user": "otto-outsider", "via": "roles page"},
        {"group": "churn-team", "via": "roles page"},
    ]
    with pytest.raises(ValidationError, match="already owns"):
        services.model_owner_add(actor=admin_user, model=model, user=outsider)
    with pytest.raises(ValidationError, match="not both"):
        services.model_owner_add(actor=admin_user, model=model)

    services.model_owner_remove(actor=admin_user, owner=by_group)
    assert not is_owner(reviewer, model) and is_owner(outsider, model)
    assert events("registry.owner_removed")[0].data == {"group": "churn-team", "via": "roles page"}
    assert ModelOwner.objects.filter(pk=by_user.pk).exists()


@pytest.mark.parametrize("persona", ["owner", "reviewer", "lead", "staff"])
def test_only_admins_change_owners(request, persona, outsider):
    model = make_model("Churn")
    actor = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied):
        services.model_owner_add(actor=actor, model=model, user=outsider)
    with pytest.raises(PermissionDenied):
        services.model_owner_remove(actor=actor, owner=model.owners.get())
    assert not events("registry.owner_added") and not events("registry.owner_removed")


# --- the tag: a suggestion, flagged when it changes --------------------------------------------------------------


def test_sync_flags_an_owner_tag_change_and_it_grants_nothing(mlflow_store, owner, outsider, admin_user):
    world = mlflow_store
    world.client.create_registered_model("Churn", tags={"owner": owner.username})
    assert sync_registry().status == "succeeded"
    model = RegisteredModel.objects.get(name="Churn")
    assert model.owner_tag == owner.username and model.owner_tag_flagged_at is None  # a new model: no flag
    assert not is_owner(owner, model)  # the tag alone grants nothing

    world.client.set_registered_model_tag("Churn", "owner", outsider.username)
    assert sync_registry().status == "succeeded"

    model.refresh_from_db()
    assert (model.owner_tag, model.owner_tag_previous) == (outsider.username, owner.username)
    assert model.owner_tag_flagged_at is not None and not is_owner(outsider, model)
    [changed] = events("registry.owner_tag_changed")
    assert changed.data == {"from": owner.username, "to": outsider.username, "grants": "nothing"}
    assert sync_registry().status == "succeeded"  # seen again, unchanged: no second event
    assert len(events("registry.owner_tag_changed")) == 1

    # An admin accepts it with "make owner": the flag goes, the event says so.
    services.model_owner_add(actor=admin_user, model=model, user=outsider)
    model.refresh_from_db()
    assert model.owner_tag_flagged_at is None and is_owner(outsider, model)
    assert events("registry.owner_added")[-1].data["owner_tag_accepted"] is True


def test_an_admin_dismisses_a_flag_and_the_owners_stay(admin_user, owner):
    model = make_model("Churn", owner=owner, owner_tag="mallory", owner_tag_flagged_at=timezone.now())
    assert services.owner_tag_dismiss(actor=admin_user, model=model) is True
    assert services.owner_tag_dismiss(actor=admin_user, model=model) is False
    model.refresh_from_db()
    assert model.owner_tag_flagged_at is None and is_owner(owner, model)
    assert events("registry.owner_tag_dismissed")[0].data == {"tag": "mallory", "previous": ""}


def test_the_model_page_shows_the_suggestion_and_the_flag(client, admin_user, outsider, owner):
    make_model("Churn", owner=owner, owner_tag="otto-outsider", owner_tag_flagged_at=timezone.now())
    client.force_login(outsider)
    page = client.get(reverse("registry:model_detail", args=["Churn"])).content.decode()
    assert "Owners <strong>olga-owner</strong>" in page
    assert "MLflow says: <strong>otto-outsider</strong> — not an owner here." in page
    assert 'id="owner-tag-flag"' in page and "Dismiss" not in page
    listing = client.get("/").content.decode()
    assert "MLflow says: otto-outsider, not an owner here" in listing and "tag changed" in listing
    client.force_login(admin_user)
    page = client.get(reverse("registry:model_detail", args=["Churn"])).content.decode()
    assert "Make otto-outsider an owner" in page and "Dismiss" in page


def test_adopt_owner_tags_is_explicit_and_audited(owner):
    make_model("Churn", owner=None, owner_tag=owner.username)
    make_model("Fraud", owner=None, owner_tag="nobody-here")
    out = io.StringIO()
    call_command("adopt_owner_tags", "--dry-run", stdout=out)
    assert "would adopt olga-owner as an owner of Churn" in out.getvalue() and not ModelOwner.objects.exists()
    out = io.StringIO()
    call_command("adopt_owner_tags", stdout=out)
    assert "skipped Fraud: its owner tag 'nobody-here' names no user" in out.getvalue()
    assert is_owner(owner, RegisteredModel.objects.get(name="Churn"))
    [added] = events("registry.owner_added")
    assert (added.actor, added.data) == ("system:command-line", {"user": "olga-owner", "via": "adopt_owner_tags"})
    call_command("adopt_owner_tags", stdout=io.StringIO())  # again: nothing new
    assert len(events("registry.owner_added")) == 1


# --- the roles page --------------------------------------------------------------------------------------------


def test_the_roles_page_changes_members_and_owners_with_400_for_bad_input(client, admin_user, outsider):
    make_model("Churn", owner=None)
    client.force_login(admin_user)
    add, remove = reverse("accounts:role_member_add"), reverse("accounts:role_member_remove")

    assert client.post(add, {"user": "otto-outsider", "role": REVIEWERS}).status_code == 302
    assert outsider.groups.filter(name=REVIEWERS).exists()
    assert [e.data for e in events("role.granted")] == [
        {"user": "otto-outsider", "role": REVIEWERS, "via": "roles page"}
    ]
    bad = {
        "unknown user": (add, {"user": "ghost", "role": REVIEWERS}, "No user named &#x27;ghost&#x27;."),
        "unknown role": (add, {"user": "otto-outsider", "role": "wizards"}, "Select a valid choice."),
        "duplicate member": (add, {"user": "otto-outsider", "role": REVIEWERS}, "already in reviewers"),
        "own admin role": (remove, {"user": "ada-admin", "role": "admin"}, None),
    }
    for case, (url, data, message) in bad.items():
        response = client.post(url, data)
        if message is None:
            assert response.status_code == 403, case
            continue
        assert response.status_code == 400, case
        assert message in response.content.decode(), case
    assert client.post(remove, {"user": "otto-outsider", "role": REVIEWERS}).status_code == 302
    assert not outsider.groups.filter(name=REVIEWERS).exists() and len(events("role.revoked")) == 1
    assert client.post(remove, {"user": "otto-outsider", "role": REVIEWERS}).status_code == 400  # not a member

    owner_add = reverse("accounts:owner_add")
    assert client.post(owner_add, {"model": "Churn", "user": "otto-outsider"}).status_code == 302
    for data, message in (
        ({"model": "Nope", "user": "otto-outsider"}, "No model named &#x27;Nope&#x27; in the mirror."),
        ({"model": "Churn", "user": "ghost"}, "No user named &#x27;ghost&#x27;."),
        ({"model": "Churn", "group": "ghosts"}, "No group named &#x27;ghosts&#x27;."),
        ({"model": "Churn"}, "Name a user or a group (one of them)."),
        ({"model": "Churn", "user": "otto-outsider"}, "otto-outsider already owns Churn."),
    ):
        response = client.post(owner_add, data)
        assert response.status_code == 400 and message in response.content.decode(), data
    row = ModelOwner.objects.get()
    assert client.post(reverse("accounts:owner_remove", args=[row.pk])).status_code == 302
    assert client.post(reverse("accounts:owner_remove", args=[row.pk])).status_code == 404
    assert len(events("registry.owner_added")) == 1 and len(events("registry.owner_removed")) == 1


def test_make_owner_from_the_model_page_returns_there_but_never_offsite(client, admin_user, outsider):
    make_model("Churn", owner=None, owner_tag="otto-outsider")
    client.force_login(admin_user)
    back = client.post(
        reverse("accounts:owner_add"), {"model": "Churn", "user": "otto-outsider", "next": "/models/Churn/"}
    )
    assert back["Location"] == "/models/Churn/"
    make_model("Fraud", owner=None)
    offsite = client.post(
        reverse("accounts:owner_add"), {"model": "Fraud", "user": "otto-outsider", "next": "https://evil.example/"}
    )
    assert offsite["Location"] == reverse("accounts:roles")


# --- "Sync now": once a minute per scope, across processes (the database row) -------------------------------------


def test_the_cooldown_is_per_scope_and_says_when_to_try_again():
    now = timezone.now()
    services.sync_cooldown_take("Churn", now=now)
    services.sync_cooldown_take("Fraud", now=now)  # another model: its own minute
    services.sync_cooldown_take("", now=now)  # the whole registry: its own too
    with pytest.raises(services.SyncTooSoon) as too_soon:
        services.sync_cooldown_take("Churn", now=now + dt.timedelta(seconds=15))
    assert too_soon.value.retry_after == 45 and "try again in 45 s" in str(too_soon.value)
    services.sync_cooldown_take("Churn", now=now + dt.timedelta(seconds=60))
    assert SyncCooldown.objects.get(scope="Churn").requested_at == now + dt.timedelta(seconds=60)


def test_an_owner_syncs_their_model_once_a_minute_and_an_outsider_never(client, owner, outsider, settings):
    make_model("Churn", owner=owner)
    url = reverse("registry:model_sync", args=["Churn"])
    client.force_login(outsider)
    refused = client.post(url)
    assert (
        refused.status_code == 403
        and "the model&#x27;s owners, reviewers, ML leads and admins may sync it" in refused.content.decode()
    )
    client.force_login(owner)
    assert client.post(url).status_code == 302
    again = client.post(url)
    assert again.status_code == 429 and "try again in" in again.content.decode()
    assert 1 <= int(again["Retry-After"]) <= 60
    assert client.post(reverse("registry:sync_now")).status_code == 403  # the whole registry: not an owner's
