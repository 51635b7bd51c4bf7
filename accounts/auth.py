"""How the API knows who asks: a personal token (``Authorization: Bearer rp_…``) or the browser's session.

A token that is presented but does not hold (malformed, unknown, revoked, expired, its user inactive)
answers 401 with its reason, never falls through to the session. Failed attempts are counted per client
address in Django's cache: past ``API_TOKEN_FAILURES_PER_MINUTE`` in a minute, every token attempt from
that address answers 429 until the minute is over, so secrets cannot be guessed at speed.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from ninja.errors import AuthenticationError, Throttled
from ninja.security import HttpBearer, SessionAuth

from .models import SECRET_PREFIX, ApiToken, hash_secret

FAILURE_WINDOW_SECONDS = 60
# A token's last use is written at most this often: no write per request.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


class TokenRefused(AuthenticationError):
    """A presented token that does not hold; ``code`` says why (the error body's ``code``)."""

    def __init__(self, message: str, code: str):
        super().__init__(message=message)
        self.code = code


def client_address(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wrote unless a trusted proxy set it.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def client_ip(request) -> str | None:
    """``client_address`` for django-axes (``AXES_CLIENT_IP_CALLABLE``), which stores it in an IP address column: no
    address (a request built in a test, ``force_login``) is None, not "unknown"."""
    return request.META.get("REMOTE_ADDR") or None


def _failures_key(request) -> str:
    return f"api-token-failures:{client_address(request)}"


def _count_failure(request) -> None:
    key = _failures_key(request)
    if not cache.add(key, 1, timeout=FAILURE_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: this failure starts a new window
            cache.add(key, 1, timeout=FAILURE_WINDOW_SECONDS)


class BearerToken(HttpBearer):
    """``Authorization: Bearer <secret>`` → the token's user (``request.user``; the token is ``request.api_token``)."""

    def __call__(self, request):
        header = request.headers.get(self.header)
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            # Another scheme: maybe meant for something else; the session may still authenticate.
            return None
        return self.authenticate(request, secret.strip())

    def authenticate(self, request, token: str):
        if (cache.get(_failures_key(request)) or 0) >= settings.API_TOKEN_FAILURES_PER_MINUTE:
            raise Throttled(wait=FAILURE_WINDOW_SECONDS)
        api_token = self._find(request, token)
        now = timezone.now()
        # At most one write a minute: a token used just now (as loaded) costs no query at all.
        if api_token.last_used_at is None or api_token.last_used_at < now - LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=api_token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
            ).update(last_used_at=now)
        request.user = api_token.user
        request.api_token = api_token
        return api_token.user

    def _find(self, request, secret: str) -> ApiToken:
        if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
            self._refuse(request, f"malformed token: expected 'Bearer {SECRET_PREFIX}…'", "token_malformed")
        api_token = ApiToken.objects.select_related("user").filter(key_hash=hash_secret(secret)).first()
        if api_token is None:
            self._refuse(request, "unknown token", "token_invalid")
        if api_token.is_revoked:
            self._refuse(request, "this token was revoked", "token_revoked")
        if api_token.is_expired():
            self._refuse(request, "this token has expired", "token_expired")
        if not api_token.user.is_active:
            self._refuse(request, "this token's user is inactive", "token_invalid")
        return api_token

    def _refuse(self, request, message: str, code: str):
        _count_failure(request)
        raise TokenRefused(message, code)


def api_auth() -> list:
    """The API's authentication: a token first, else the signed-in browser (with its CSRF token for writes)."""
    return [BearerToken(), SessionAuth(csrf=True)]
