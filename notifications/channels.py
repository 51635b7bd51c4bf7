"""How a delivery leaves the portal: a signed webhook POST or an email. Both raise ``SendFailed`` on failure."""

from __future__ import annotations

import json
import time

import requests
from django.conf import settings
from django.core.mail import send_mail

from registry_portal.signing import webhook_signature

from . import events


class SendFailed(Exception):
    """The receiver did not take it. ``retry=False``: trying again cannot help (e.g. the user has no address)."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def webhook_request(subscription, delivery, *, now: float | None = None) -> tuple[dict, bytes]:
    """The headers and body of one webhook POST; the id is the delivery's, so the receiver can drop repeats."""
    body = json.dumps(events.slack_body(delivery.event, delivery_id=delivery.pk), separators=(",", ":")).encode()
    webhook_id, timestamp = str(delivery.pk), str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "registry-portal-notifications",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": webhook_signature(subscription.secret, webhook_id, timestamp, body),
    }
    return headers, body


def webhook_session(url: str) -> requests.Session:
    """A keep-alive session for one subscription's run, with the environment's proxies and CA bundle read once:
    requests would scan the whole environment on every POST, a third of a local delivery's time."""
    session = requests.Session()
    environment = session.merge_environment_settings(url, {}, None, None, None)
    session.trust_env = False
    session.proxies, session.verify = environment["proxies"], environment["verify"]
    return session


def send_webhook(session: requests.Session, subscription, delivery) -> None:
    headers, body = webhook_request(subscription, delivery)
    try:
        response = session.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=settings.NOTIFY_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:1000]) from exc
    # The body is not read beyond what requests already has: a receiver's answer is only its status.
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code}: {response.text[:200]}")


def send_email(subscription, delivery) -> None:
    user = subscription.user
    if not user.is_active or not user.email:
        raise SendFailed(f"{user.get_username()} has no email address or is inactive", retry=False)
    subject, body = events.email_message(delivery.event)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception as exc:  # noqa: BLE001 - any mail backend error is a failed attempt, retried with backoff
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:1000]) from exc
