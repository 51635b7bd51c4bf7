"""Tokens: created with the secret shown once (only its hash kept), revoked by their owner or an admin, audited."""

import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, hash_secret
from accounts.services import api_token_create, api_token_revoke
from audit.models import AuditEvent


def test_create_keeps_only_the_hash_and_audits(owner):
    token, secret = api_token_create(actor=owner, user=owner, name="training pipeline")
    assert secret.startswith("rp_") and len(secret) > 40
    assert token.key_hash == hash_secret(secret) and token.prefix == secret[:8]
    assert not ApiToken.objects.filter(key_hash=secret).exists()
    event = AuditEvent.objects.get(action="token.created")
    assert event.actor == owner.username and event.data["prefix"] == token.prefix
    assert secret not in str(event.data)


@pytest.mark.parametrize(
    ("name", "expires_at", "field"),
    [("  ", None, "name"), ("x" * 101, None, "name"), ("ok", dt.timedelta(days=-1), "expires_at")],
)
def test_create_refuses_bad_values_naming_the_field(owner, name, expires_at, field):
    with pytest.raises(ValidationError) as refused:
        api_token_create(actor=owner, user=owner, name=name, expires_at=expires_at and timezone.now() + expires_at)
    assert field in refused.value.message_dict


def test_owner_and_admin_revoke_others_may_not(owner, outsider, admin_user):
    mine, _ = api_token_create(actor=owner, user=owner, name="a")
    with pytest.raises(PermissionDenied):
        api_token_revoke(actor=outsider, token=mine)
    assert api_token_revoke(actor=owner, token=mine).is_revoked
    other, _ = api_token_create(actor=owner, user=owner, name="b")
    assert api_token_revoke(actor=admin_user, token=other).is_revoked
    api_token_revoke(actor=owner, token=mine)  # again: nothing changes, no second event
    assert AuditEvent.objects.filter(action="token.revoked").count() == 2


def test_page_lists_creates_shows_secret_once_and_revokes(client, owner, outsider):
    api_token_create(actor=outsider, user=outsider, name="not mine")
    client.force_login(owner)
    url = reverse("accounts:tokens")
    response = client.post(url, {"name": "ci", "expires_in_days": "30"})
    token = ApiToken.objects.get(user=owner)
    page = response.content.decode()
    assert response.status_code == 200 and 'id="new-token"' in page and token.prefix in page
    assert "not mine" not in page and token.expires_at > timezone.now() + dt.timedelta(days=29)
    assert 'id="new-token"' not in client.get(url).content.decode()
    assert 'href="/accounts/tokens/"' in client.get(reverse("registry:model_list")).content.decode()

    assert client.post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    assert token.is_revoked and "revoked" in client.get(url).content.decode()


def test_page_shows_form_errors_and_hides_others_tokens(client, owner, outsider):
    theirs, _ = api_token_create(actor=outsider, user=outsider, name="theirs")
    client.force_login(owner)
    response = client.post(reverse("accounts:tokens"), {"name": "", "expires_in_days": "0"})
    assert response.status_code == 400 and not ApiToken.objects.filter(user=owner).exists()
    assert client.post(reverse("accounts:token_revoke", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("accounts:tokens")).status_code == 200


def test_page_needs_sign_in(client):
    assert client.get(reverse("accounts:tokens")).status_code == 302


def test_command_creates_prints_the_secret_once_and_revokes_by_prefix(owner):
    out, err = StringIO(), StringIO()
    call_command(
        "api_token", "create", owner.username, "--name", "deploy", "--expires-days", "7", stdout=out, stderr=err
    )
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=hash_secret(secret))
    assert token.user == owner and token.expires_at is not None and secret not in err.getvalue()
    assert AuditEvent.objects.get(action="token.created").actor == "system:command-line"

    out = StringIO()
    call_command("api_token", "revoke", owner.username, "--prefix", token.prefix, stdout=out)
    token.refresh_from_db()
    assert token.is_revoked and token.prefix in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "nobody", "--name", "x"], "no user named 'nobody'"),
        (["create", "olga-owner", "--name", "x", "--expires-days", "0"], "--expires-days"),
        (["create", "olga-owner", "--name", " "], "name:"),
        (["revoke", "olga-owner", "--prefix", "rp_nope"], "no active token with prefix 'rp_nope'"),
        (["revoke", "nobody", "--prefix", "rp_nope"], "no user named 'nobody'"),
    ],
)
def test_command_errors_are_clear(owner, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("api_token", *args, stdout=StringIO(), stderr=StringIO())
