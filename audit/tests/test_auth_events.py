import pytest
from django.urls import reverse

from accounts.models import LoginFailureWindow
from audit.models import AuditEvent
from audit.services import verify_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider_with_password(outsider):
    """The outsider, with a password to sign in with."""
    outsider.set_password("correct-horse")
    outsider.save()
    return outsider


def test_a_sign_in_is_recorded_as_the_user(client, outsider_with_password):
    response = client.post(
        reverse("login"),
        {"username": "otto-outsider", "password": "correct-horse"},
        REMOTE_ADDR="10.0.0.7",
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.target_type, event.target_id) == (
        "otto-outsider",
        "auth.login",
        "user",
        "otto-outsider",
    )
    assert event.data == {"ip": "10.0.0.7"}


def test_a_failed_sign_in_is_recorded_as_an_anonymous_claim(client, outsider_with_password):
    response = client.post(reverse("login"), {"username": "otto-outsider", "password": "wrong"}, REMOTE_ADDR="10.0.0.8")

    assert response.status_code == 400
    assert "Please enter a correct username and password" in response.content.decode()
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.target_id) == (
        "anonymous:otto-outsider",
        "auth.login_failed",
        "otto-outsider",
    )
    assert event.data == {"ip": "10.0.0.8", "window_start": LoginFailureWindow.start_of(event.created_at).isoformat()}
    assert "wrong" not in str(event.data)


def test_a_failed_sign_in_with_an_unknown_hostile_name_is_recorded_safely(client):
    claimed = "<script>x</script>\u202e" + "y" * 300

    response = client.post(reverse("login"), {"username": claimed[:150], "password": "guess"})

    assert response.status_code == 400
    event = AuditEvent.objects.get()
    assert event.actor.startswith("anonymous:<script>x</script>y")
    assert len(event.actor) == 150
    assert verify_chain().intact
