"""Single sign-on against a real OpenID Connect provider on 127.0.0.1: the portal's start and callback views, the
provider's own authorization form, tokens and userinfo over HTTP, the ID token checked against its published keys."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import verify_chain

from .oidc_provider import PROVIDER_NAME, path_of

pytestmark = pytest.mark.django_db


def sign_in_through_provider(client, provider, sub: str, next_url: str | None = None):
    """The browser's round trip: portal → provider's authorization form (submitted for ``sub``) → portal callback."""
    start = client.get(reverse("accounts:oidc_start"), {"next": next_url} if next_url else {})
    assert start.status_code == 302
    callback = provider.authorize(start["Location"], sub)
    return client.get(path_of(callback))


def new_sub() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def roles_of(username: str) -> set[str]:
    user = User.objects.get(username=username)
    return set(user.groups.values_list("name", flat=True)) | ({"admin"} if user.is_superuser else set())


def test_the_login_page_offers_the_provider_only_when_sso_is_on(client, settings, oidc_provider):
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
    assert client.get(reverse("accounts:oidc_start")).status_code == 404
    assert client.get(reverse("accounts:oidc_callback")).status_code == 404

    oidc_provider.configure(settings)
    page = client.get(reverse("login")).content.decode()

    assert f"Sign in with {PROVIDER_NAME}" in page
    assert 'name="password"' in page


def test_a_first_sign_in_creates_the_user_with_the_mapped_roles(client, sso):
    sub = new_sub()
    sso.set_user(
        sub,
        preferred_username="dana",
        email="dana@example.com",
        given_name="Dana",
        family_name="Scully",
        groups=["ml-reviewers", "model-owners", "unrelated-team"],
    )

    response = sign_in_through_provider(client, sso, sub, next_url="/audit/")

    assert response.status_code == 302
    assert response["Location"] == "/audit/"
    dana = User.objects.get(username="dana")
    assert (dana.email, dana.first_name, dana.last_name) == ("dana@example.com", "Dana", "Scully")
    assert not dana.has_usable_password()
    assert roles_of("dana") == {"reviewers", "owners"}
    assert client.get(reverse("accounts:tokens")).status_code == 200  # signed in
    events = list(AuditEvent.objects.filter(action__startswith="role.").values_list("actor", "action", "data"))
    assert events == [
        ("system:sso", "role.granted", {"user": "dana", "role": "owners", "via": "sso"}),
        ("system:sso", "role.granted", {"user": "dana", "role": "reviewers", "via": "sso"}),
    ]
    assert AuditEvent.objects.filter(action="auth.login", actor="dana").count() == 1


def test_the_next_sign_in_follows_the_groups_and_leaves_unmapped_roles_alone(client, sso):
    sub = new_sub()
    sso.set_user(sub, preferred_username="erin", email="erin@example.com", groups=["ml-reviewers", "portal-admins"])
    sign_in_through_provider(client, sso, sub)
    assert roles_of("erin") == {"reviewers", "admin"}
    erin = User.objects.get(username="erin")
    # A role given in the portal, which the provider's groups do not map to.
    erin.groups.create(name="release-managers")
    client.logout()

    sso.set_user(sub, preferred_username="erin", email="erin@example.com", groups=["ml-leads"])
    response = sign_in_through_provider(client, sso, sub)

    assert response.status_code == 302
    assert roles_of("erin") == {"ml-leads", "release-managers"}
    erin.refresh_from_db()
    assert not erin.is_superuser
    changes = list(AuditEvent.objects.filter(action__startswith="role.", seq__gt=0).values_list("action", "data__role"))
    assert changes[-3:] == [("role.granted", "ml-leads"), ("role.revoked", "admin"), ("role.revoked", "reviewers")]
    assert verify_chain().intact


def test_an_existing_local_account_is_the_same_user_and_its_mapped_roles_follow_the_provider(client, sso, reviewer_a):
    sub = new_sub()
    sso.set_user(sub, preferred_username=reviewer_a.username, email="new@example.com", groups=[])

    sign_in_through_provider(client, sso, sub)

    assert User.objects.filter(username=reviewer_a.username).count() == 1
    reviewer_a.refresh_from_db()
    assert reviewer_a.email == "new@example.com"
    # "reviewers" is a mapped role and the provider lists none of its groups: the provider decides, it goes.
    assert roles_of(reviewer_a.username) == set()


def test_the_username_falls_back_to_the_email(client, sso):
    sub = new_sub()
    sso.set_user(sub, email="frank@example.com")

    sign_in_through_provider(client, sso, sub)

    assert User.objects.filter(username="frank@example.com").exists()


@pytest.mark.parametrize(
    "claims",
    [
        {"preferred_username": "bad name with spaces"},
        {"preferred_username": "x" * 151},
        {"preferred_username": "gina", "groups": {"ml-leads": True}},
        {"preferred_username": "gina", "groups": ["ml-leads", 7]},
    ],
    ids=["invalid-username", "too-long", "groups-object", "groups-not-strings"],
)
def test_bad_claims_refuse_the_sign_in(client, sso, claims):
    sub = new_sub()
    sso.set_user(sub, **claims)

    response = sign_in_through_provider(client, sso, sub)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?sso=failed"
    assert User.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert f"Signing in with {PROVIDER_NAME} did not complete" in page
    assert not AuditEvent.objects.filter(action__in=["auth.login", "role.granted"]).exists()


def test_sign_out_ends_the_session_and_goes_to_the_providers_end_session(client, sso):
    sub = new_sub()
    sso.set_user(sub, preferred_username="hank", groups=["ml-leads"])
    sign_in_through_provider(client, sso, sub)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"].startswith(f"{sso.url}/oauth2/end_session?id_token_hint=")
    assert "post_logout_redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Flogin%2F" in response["Location"]
    assert client.get(reverse("accounts:tokens")).status_code == 302  # signed out of the portal


def test_a_password_user_signs_out_to_the_login_page(client, sso, outsider):
    client.force_login(outsider)

    response = client.post(reverse("logout"))

    assert response["Location"] == "http://testserver/accounts/login/"
    assert client.get(reverse("logout")).status_code == 405


def test_with_local_accounts_off_only_the_provider_signs_in(client, settings, oidc_provider, outsider):
    oidc_provider.configure(settings, LOCAL_LOGIN_ENABLED=False)
    outsider.set_password("a-long-enough-password")
    outsider.save()

    page = client.get(reverse("login")).content.decode()
    refused = client.post(reverse("login"), {"username": outsider.username, "password": "a-long-enough-password"})

    assert 'name="password"' not in page
    assert f"Sign in with {PROVIDER_NAME}" in page
    assert refused.status_code == 403
    assert f"Password sign-in is turned off here: sign in with {PROVIDER_NAME}." in refused.content.decode()
    assert "django.contrib.auth.backends.ModelBackend" not in settings.AUTHENTICATION_BACKENDS
    assert client.get(reverse("accounts:tokens")).status_code == 302
    sub = new_sub()
    oidc_provider.set_user(sub, preferred_username="ivy")
    assert sign_in_through_provider(client, oidc_provider, sub)["Location"] == "/"
