"""The settings' readers of the environment: each parses one variable or stops start-up with an
``ImproperlyConfigured`` naming it, so a typo never runs silently. ``registry_portal/settings.py`` uses them;
``tests/test_deploy.py`` finds the variables by these names (``env*``)."""

import os
from urllib.parse import urlsplit

from csp.constants import SELF
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name: str, default: str, *, minimum: int = 1) -> int:
    value = os.environ.get(name, default)
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    return number


def envurl(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip() or default
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme.split("+", 1)[0] not in schemes:
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with one of {', '.join(s + '://' for s in schemes)}; got {value!r}"
        )
    return value


def envchoice(name: str, default: str, *, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip() or default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def env_endpoint(name: str, *, required: bool) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        if required:
            raise ImproperlyConfigured(f"{name} must be set when single sign-on is on (OIDC_RP_CLIENT_ID is set)")
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{name} must be an http(s):// URL, got {value!r}")
    return value


def sso_form_action(logout_endpoint: str) -> list[str]:
    """The CSP form-action sources: sign-out POSTs to the portal, which redirects to the provider's end-session
    page, and browsers hold a form's redirects to form-action too."""
    parts = urlsplit(logout_endpoint)
    return [SELF, f"{parts.scheme}://{parts.netloc}"] if logout_endpoint else [SELF]


DEV_SECRET_KEY = "insecure-dev-key-change-me"  # noqa: S105 - DEBUG only, refused otherwise


def envsecretkey(name: str, *, debug: bool) -> str:
    """Off DEBUG, a missing or guessable key stops start-up (Django's own limits for ``check --deploy``):
    sessions, CSRF tokens and password resets are signed with it. With DEBUG on, the development key stands in."""
    value = os.environ.get(name, "").strip()
    if debug:
        return value or DEV_SECRET_KEY
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(50))"), or set DEBUG=true for development'
        )
    if (
        len(value) < SECRET_KEY_MIN_LENGTH
        or len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or value.startswith((SECRET_KEY_INSECURE_PREFIX, "insecure-dev-key"))
    ):
        raise ImproperlyConfigured(
            f"{name} is too weak for DEBUG off: it needs at least {SECRET_KEY_MIN_LENGTH} characters, "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones, and must not be a development placeholder"
        )
    return value
