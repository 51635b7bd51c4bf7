"""Password sign-in hardening: lockout per username + address (django-axes) and per address, failed sign-ins
counted per (claimed username, address, window) with a bounded number of audit events, the password validators."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import LoginFailureWindow
from accounts.services import COUNT_GRACE, login_failures_count
from audit.models import AuditEvent
from audit.services import verify_chain

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    """Each guess hashes a password: a fast hasher keeps dozens of guesses quick (what is tested is the counting)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def otto(outsider):
    outsider.set_password(PASSWORD)
    outsider.save()
    return outsider


def sign_in(client, username, password, address="10.0.0.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_a_wrong_password_answers_400_with_the_form_error(client, otto):
    response = sign_in(client, otto.username, "wrong")

    assert response.status_code == 400
    assert "Please enter a correct username and password" in response.content.decode()


def test_the_limit_locks_the_username_out_from_that_address_even_with_the_right_password(client, otto, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        assert sign_in(client, otto.username, "wrong").status_code == 400

    fifth = sign_in(client, otto.username, "wrong")
    right = sign_in(client, otto.username, PASSWORD)

    for response in (fifth, right):
        assert response.status_code == 429
        page = response.content.decode()
        assert f"Too many failed sign-ins for {otto.username} from your address: try again in 15 minutes." in page
    assert "_auth_user_id" not in client.session
    # Another address, and another username from this address, are not locked out.
    assert sign_in(Client(), otto.username, PASSWORD, address="10.0.0.99").status_code == 302
    assert sign_in(Client(), "someone-else", "wrong").status_code == 400


def test_the_lockout_page_counts_down_the_cool_off(client, otto, settings):
    settings.AXES_FAILURE_LIMIT = 2
    sign_in(client, otto.username, "wrong")
    sign_in(client, otto.username, "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=11, seconds=30))

    response = sign_in(client, otto.username, PASSWORD)

    assert "try again in 4 minutes." in response.content.decode()
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert sign_in(client, otto.username, PASSWORD).status_code == 302  # the cool-off is over


def test_a_successful_sign_in_resets_the_count(client, otto, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        sign_in(client, otto.username, "wrong")
    assert sign_in(client, otto.username, PASSWORD).status_code == 302
    client.logout()

    for _ in range(4):
        assert sign_in(client, otto.username, "wrong").status_code == 400
    assert sign_in(client, otto.username, PASSWORD).status_code == 302


def test_failed_sign_ins_are_counted_with_a_bounded_number_of_audit_events(client, otto, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(12):
        sign_in(client, otto.username, "wrong")

    # The first failure of the window, and the lockout: not one event per guess.
    assert [(e.actor, e.action) for e in AuditEvent.objects.order_by("seq")] == [
        ("anonymous:otto-outsider", "auth.login_failed"),
        ("anonymous:otto-outsider", "auth.locked_out"),
    ]
    window = LoginFailureWindow.objects.get()
    assert window.failures == 12
    window_start = window.window_start.isoformat()
    assert events("auth.locked_out")[0].data == {"ip": "10.0.0.7", "window_start": window_start, "failures": 5}

    assert login_failures_count(now=window.window_end) == 0  # not before the window is over (and its grace)
    assert login_failures_count(now=window.window_end + COUNT_GRACE) == 1

    (counted,) = events("auth.login_failures")
    assert (counted.actor, counted.target_id) == ("anonymous:otto-outsider", "otto-outsider")
    assert counted.data == {
        "ip": "10.0.0.7",
        "window_start": window_start,
        "window_end": window.window_end.isoformat(),
        "failures": 12,
    }
    assert not LoginFailureWindow.objects.exists()
    assert login_failures_count(now=window.window_end + COUNT_GRACE) == 0  # counted once
    assert verify_chain().intact


def test_each_username_address_and_window_is_counted_apart(client, settings):
    settings.AXES_FAILURE_LIMIT = 100
    now = timezone.now()
    for username, address in [("ann", "10.0.0.1"), ("ann", "10.0.0.1"), ("ann", "10.0.0.2"), ("bob", "10.0.0.1")]:
        sign_in(client, username, "wrong", address=address)

    first_events = [(e.target_id, e.data["ip"]) for e in events("auth.login_failed")]
    assert first_events == [("ann", "10.0.0.1"), ("ann", "10.0.0.2"), ("bob", "10.0.0.1")]
    login_failures_count(now=now + dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS) + COUNT_GRACE)
    counts = sorted((e.target_id, e.data["ip"], e.data["failures"]) for e in events("auth.login_failures"))
    assert counts == [("ann", "10.0.0.1", 2), ("ann", "10.0.0.2", 1), ("bob", "10.0.0.1", 1)]


def test_guessing_across_usernames_is_bounded_per_address(client, settings):
    settings.AXES_FAILURE_LIMIT = 100
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for number in range(3):
        assert sign_in(client, f"user{number}", "wrong").status_code == 400

    refused = sign_in(client, "user3", "wrong")

    assert refused.status_code == 429
    assert "Too many failed sign-ins from your address: try again in" in refused.content.decode()
    assert len(events("auth.login_failed")) == 3  # the refused attempt reached no backend and wrote nothing
    assert sign_in(client, "user3", "wrong", address="10.0.0.8").status_code == 400


def test_the_tests_sign_in_helpers_still_work(otto):
    client = Client()
    assert client.login(username=otto.username, password=PASSWORD)  # no request: nothing to lock out
    assert client.get(reverse("accounts:tokens")).status_code == 200


@pytest.mark.parametrize("password", ["password", "12345678", "otto-outsider", "short"])
def test_the_password_validators_refuse_weak_passwords(otto, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=otto)


def test_a_strong_password_passes_the_validators(otto):
    validate_password("a-long-enough-password", user=otto)
