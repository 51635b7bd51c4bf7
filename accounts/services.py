"""Creating and revoking API tokens, setting a user's roles, counting failed sign-ins; each change is audited in its
own transaction."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import ANONYMOUS_PREFIX, Target, anonymous_actor, record
from registry_portal.access import enforce

from .access import token_revoke_refusal
from .models import PREFIX_LENGTH, SECRET_PREFIX, ApiToken, LoginFailureWindow, hash_secret


def _target(token: ApiToken) -> Target:
    return Target(type="api_token", id=str(token.pk))


def api_token_create(*, actor, user, name: str, expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its secret: returned this once, only its hash is stored."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the pipeline that will use it."})
    if len(name) > ApiToken._meta.get_field("name").max_length:
        raise ValidationError({"name": "At most 100 characters."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, key_hash=hash_secret(secret), prefix=secret[:PREFIX_LENGTH], expires_at=expires_at
        )
        record(
            actor=actor,
            action="token.created",
            target=_target(token),
            data={
                "user": user.get_username(),
                "name": name,
                "prefix": token.prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return token, secret


def api_token_revoke(*, actor, token: ApiToken) -> ApiToken:
    """Revoke ``token`` (its owner or an admin); revoking a revoked token changes nothing."""
    enforce(token_revoke_refusal(actor, token))
    with transaction.atomic():
        now = timezone.now()
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now) == 1:
            record(
                actor=actor,
                action="token.revoked",
                target=_target(token),
                data={"user": token.user.get_username(), "name": token.name, "prefix": token.prefix},
            )
    token.refresh_from_db()
    return token


from .access import ADMIN_ROLE  # noqa: E402 (one spelling of the role, beside the roles page's access)


def roles_of(user) -> set[str]:
    """``user``'s roles: group names, plus ``"admin"`` for a superuser."""
    return set(user.groups.values_list("name", flat=True)) | ({ADMIN_ROLE} if user.is_superuser else set())


def user_roles_set(*, actor, user, roles, managed=None, via: str) -> tuple[set[str], set[str]]:
    """Make ``user``'s roles (group names, plus ``"admin"`` for a superuser) equal ``roles`` within ``managed``
    (default: every role), one ``role.granted``/``role.revoked`` event per change, in one transaction.

    The one way a role changes: the roles page, sign-in through the identity provider (``via="sso"``, managing only
    the groups its claim maps) and Django admin (``via="admin"``) all call this. Groups are created on first use.
    Returns ``(granted, revoked)``; nothing changes, nothing is recorded, when the roles already match.
    """
    from django.contrib.auth.models import Group

    roles = {str(role).strip() for role in roles if str(role).strip()}
    with transaction.atomic():
        user = type(user).objects.select_for_update().get(pk=user.pk)
        current = roles_of(user)
        scope = current | roles if managed is None else set(managed)
        granted = sorted((roles - current) & scope)
        revoked = sorted((current - roles) & scope)
        for role in granted:
            if role == ADMIN_ROLE:
                user.is_superuser = user.is_staff = True
                user.save(update_fields=["is_superuser", "is_staff"])
            else:
                user.groups.add(Group.objects.get_or_create(name=role)[0])
        for role in revoked:
            if role == ADMIN_ROLE:
                user.is_superuser = False
                user.save(update_fields=["is_superuser"])
            else:
                user.groups.remove(*Group.objects.filter(name=role))
        for action, changed in (("role.granted", granted), ("role.revoked", revoked)):
            for role in changed:
                record(
                    actor=actor,
                    action=action,
                    target=Target(type="user", id=user.get_username()),
                    data={"user": user.get_username(), "role": role, "via": via},
                )
    return set(granted), set(revoked)


# A window is counted this long after it closed: a failure stamped just before the end may still be committing.
COUNT_GRACE = dt.timedelta(seconds=30)


def _login_failure_window(claimed: str, address: str, now: dt.datetime) -> tuple[LoginFailureWindow, str]:
    """The locked counter row of (claimed username, address, the window of ``now``), and the audit actor."""
    actor = anonymous_actor(claimed)
    window, _ = LoginFailureWindow.objects.select_for_update().get_or_create(
        username=actor.removeprefix(ANONYMOUS_PREFIX), address=address, window_start=LoginFailureWindow.start_of(now)
    )
    return window, actor


def _window_data(window: LoginFailureWindow) -> dict:
    return {"ip": window.address, "window_start": window.window_start.isoformat()}


def login_failure_note(*, claimed: str, address: str, now: dt.datetime | None = None) -> LoginFailureWindow:
    """Count one failed sign-in claiming ``claimed`` from ``address``; only the window's first is an audit event
    (``auth.login_failed``); ``login_failures_count`` writes the exact count once the window has closed."""
    now = now or timezone.now()
    with transaction.atomic():
        window, actor = _login_failure_window(claimed, address, now)
        if window.failures == 0:
            record(
                actor=actor,
                action="auth.login_failed",
                target=Target(type="user", id=window.username),
                data=_window_data(window),
            )
        LoginFailureWindow.objects.filter(pk=window.pk).update(failures=F("failures") + 1)
    window.refresh_from_db()
    return window


def login_lockout_note(*, claimed: str, address: str, failures: int | None, now: dt.datetime | None = None) -> None:
    """django-axes locked (claimed username, address) out: ``auth.locked_out``, once per window however often the
    locked-out client tries again."""
    now = now or timezone.now()
    with transaction.atomic():
        window, actor = _login_failure_window(claimed, address, now)
        if window.locked_out_at is not None:
            return
        LoginFailureWindow.objects.filter(pk=window.pk).update(locked_out_at=now)
        record(
            actor=actor,
            action="auth.locked_out",
            target=Target(type="user", id=window.username),
            data={**_window_data(window), "failures": failures},
        )


def login_failures_count(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """One ``auth.login_failures`` event with the exact count for each window that has closed, then its row goes
    (the audit log keeps it). Returns how many windows were counted; the beat task calls this every minute."""
    now = now or timezone.now()
    closed_before = now - COUNT_GRACE - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    counted = 0
    while True:
        with transaction.atomic():
            windows = list(
                LoginFailureWindow.objects.select_for_update(skip_locked=True)
                .filter(window_start__lte=closed_before)
                .order_by("window_start", "pk")[:batch]
            )
            for window in windows:
                record(
                    actor=anonymous_actor(window.username),
                    action="auth.login_failures",
                    target=Target(type="user", id=window.username),
                    data={
                        **_window_data(window),
                        "window_end": window.window_end.isoformat(),
                        "failures": window.failures,
                    },
                )
            LoginFailureWindow.objects.filter(pk__in=[window.pk for window in windows]).delete()
        counted += len(windows)
        if len(windows) < batch:
            return counted
