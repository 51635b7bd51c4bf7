"""Notification emails (Django's email backend: console in the demo, SMTP in production).

Sent after the change they announce has committed, and never allowed to fail it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from registry_portal import roles

logger = logging.getLogger(__name__)


def group_emails(*groups: str, admins: bool = False) -> list[str]:
    """Addresses of active members of ``groups`` (and, with ``admins``, of every admin: ``roles.is_admin``)."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    who = Q(groups__name__in=groups)
    if admins:
        who |= Q(is_superuser=True)
    return sorted(set(users.filter(who).values_list("email", flat=True)))


def _send(subject: str, body: str, recipients: list[str]) -> int:
    if not recipients:
        return 0
    try:
        return send_mail(subject, body, None, recipients)
    except Exception:  # noqa: BLE001 - a mail server outage must not undo or fail the change
        logger.exception("could not send %r to %d recipients", subject, len(recipients))
        return 0


def request_created(request) -> int:
    """Tell the reviewers there is a request to review, with its link."""
    recipients = [e for e in group_emails(roles.REVIEWERS) if e != request.requested_by.email]
    subject = f"[Registry Portal] Review: {request.model_name} v{request.version_number} → {request.to_stage}"
    body = (
        f"{request.requested_by.get_username()} asks to move {request.model_name} version "
        f"{request.version_number} from {request.from_stage} to {request.to_stage}.\n\n"
        f"Justification:\n{request.justification}\n\n"
        f"It needs {request.required_approvals} approval(s) and passing governance checks.\n"
        f"Review it here: {settings.PORTAL_URL}{request.get_absolute_url()}\n"
    )
    return _send(subject, body, recipients)


def unapproved_transitions(found) -> int:
    """Tell admins and ML leads about stage/alias changes made in MLflow behind the portal's back."""
    if not found:
        return 0
    lines = "\n".join(f"- {u.describe()} (seen {u.seen_at:%Y-%m-%d %H:%M} UTC)" for u in found)
    models = sorted({u.model_name for u in found})
    links = "\n".join(settings.PORTAL_URL + reverse("registry:model_detail", args=[name]) for name in models)
    subject = f"[Registry Portal] Unapproved transition in MLflow: {', '.join(models)}"
    body = (
        "Sync saw these stage or alias changes in MLflow with no approved portal request behind them:\n\n"
        f"{lines}\n\nModel pages:\n{links}\n"
    )
    return _send(subject, body, group_emails(roles.ML_LEADS, admins=True))
