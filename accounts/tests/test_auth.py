"""API authentication: bearer tokens (missing, malformed, unknown, revoked, expired, rate limit) and the session."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke

URL = "/api/v1/models"


@pytest.fixture(autouse=True)
def fresh_failure_counts():
    cache.clear()
    yield
    cache.clear()


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_token_acts_as_its_user(client, owner):
    _, secret = api_token_create(actor=owner, user=owner, name="ci")
    response = client.get(URL, **bearer(secret))
    assert response.status_code == 200 and response.json() == {"items": [], "count": 0}


def test_without_credentials_401_asks_for_a_bearer_token(client, db):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized" and "Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer ", "token_malformed"), ("Bearer abc", "token_malformed"), ("bearer rp_unknown", "token_invalid")],
)
def test_bad_tokens_are_refused_with_their_reason(client, db, header, code):
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401 and response.json()["code"] == code
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_another_scheme_is_no_credential(client, owner):
    client.force_login(owner)
    assert client.get(URL, HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==").status_code == 200


def test_revoked_and_expired_tokens_are_refused(client, owner):
    revoked, revoked_secret = api_token_create(actor=owner, user=owner, name="old")
    api_token_revoke(actor=owner, token=revoked)
    expired, expired_secret = api_token_create(actor=owner, user=owner, name="short")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(URL, **bearer(revoked_secret)).json() == {
        "detail": "this token was revoked",
        "code": "token_revoked",
    }
    assert client.get(URL, **bearer(expired_secret)).json() == {
        "detail": "this token has expired",
        "code": "token_expired",
    }


def test_an_inactive_users_token_is_refused(client, owner):
    _, secret = api_token_create(actor=owner, user=owner, name="ci")
    owner.is_active = False
    owner.save()
    assert client.get(URL, **bearer(secret)).status_code == 401


def test_a_bad_token_is_not_rescued_by_the_session(client, owner):
    client.force_login(owner)
    assert client.get(URL, **bearer("rp_wrong")).status_code == 401


def test_failed_attempts_are_rate_limited_per_address(client, owner, settings):
    settings.API_TOKEN_FAILURES_PER_MINUTE = 3
    _, secret = api_token_create(actor=owner, user=owner, name="ci")
    for _ in range(3):
        assert client.get(URL, **bearer("rp_guess")).status_code == 401
    limited = client.get(URL, **bearer("rp_guess"))
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited["Retry-After"]) > 0
    # While limited, even the right secret waits: guessing cannot continue by luck.
    assert client.get(URL, **bearer(secret)).status_code == 429
    assert client.get(URL, REMOTE_ADDR="10.0.0.9", **bearer(secret)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, owner, django_assert_num_queries):
    token, secret = api_token_create(actor=owner, user=owner, name="ci")
    assert token.last_used_at is None
    client.get(URL, **bearer(secret))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as again:
        client.get(URL, **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at == first
    assert not [q for q in again.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    client.get(URL, **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at > first - dt.timedelta(minutes=2)


def test_session_works_for_reads_and_needs_csrf_for_writes(reviewer):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reviewer)
    assert browser.get(URL).status_code == 200
    refused = browser.post("/api/v1/sync")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    browser.get("/accounts/tokens/")  # any page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    assert browser.post("/api/v1/sync", HTTP_X_CSRFTOKEN=token).status_code == 202


def test_a_token_needs_no_csrf_for_writes(reviewer):
    from django.test import Client

    _, secret = api_token_create(actor=reviewer, user=reviewer, name="ci")
    assert Client(enforce_csrf_checks=True).post("/api/v1/sync", **bearer(secret)).status_code == 202
