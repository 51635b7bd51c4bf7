"""Failed sign-ins and lockouts, from Django's ``user_login_failed`` and django-axes's ``user_locked_out`` signals
(connected in ``AccountsConfig.ready``): counted per (claimed username, address, window), never one audit event per
guess (``services.login_failure_note``)."""

from django.contrib.auth import get_user_model

from . import services
from .auth import client_address


def _address(request) -> str:
    return client_address(request) if request is not None else "unknown"


def note_login_failed(sender, credentials, request=None, **kwargs):
    claimed = str(credentials.get(get_user_model().USERNAME_FIELD, "") or "")
    services.login_failure_note(claimed=claimed, address=_address(request))


def note_locked_out(sender, request, username, ip_address, **kwargs):
    services.login_lockout_note(
        claimed=str(username or ""),
        address=_address(request),
        failures=getattr(request, "axes_failures_since_start", None),
    )
