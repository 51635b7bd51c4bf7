"""Creating and revoking API tokens; each is an audit event in the same transaction."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import Target, record
from registry_portal.access import enforce

from .access import token_revoke_refusal
from .models import PREFIX_LENGTH, SECRET_PREFIX, ApiToken, hash_secret


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
