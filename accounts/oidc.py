"""Single sign-on through an OpenID Connect provider (mozilla-django-oidc), on when ``OIDC_RP_CLIENT_ID`` is set.

A user is found by the username claim (``OIDC_USERNAME_CLAIM``, then ``email``, then ``sub``), created on first
sign-in, their email and names kept up to date, and at every sign-in the IdP groups claim (``OIDC_GROUPS_CLAIM``)
sets the portal roles ``OIDC_GROUP_MAP`` maps to; roles outside the mapping, given on the roles page, stay.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.db import transaction
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from registry_portal.roles import SYSTEM_SSO

from .services import user_roles_set

NAME_MAX_LENGTH = 150


def claimed_username(claims: dict) -> str:
    """The portal username in ``claims``; ``SuspiciousOperation`` (the sign-in fails) when there is none usable."""
    for claim in (settings.OIDC_USERNAME_CLAIM, "email", "sub"):
        value = claims.get(claim)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > NAME_MAX_LENGTH:
            raise SuspiciousOperation(f"the {claim!r} claim is not a username of at most {NAME_MAX_LENGTH} characters")
        try:
            UnicodeUsernameValidator()(value)
        except ValidationError:
            raise SuspiciousOperation(f"the {claim!r} claim {value!r} is not a valid username") from None
        return value
    raise SuspiciousOperation(f"no {settings.OIDC_USERNAME_CLAIM!r}, 'email' or 'sub' claim to name the user by")


def claimed_groups(claims: dict) -> list[str]:
    """The IdP groups in ``claims`` (absent: none; one name alone: that one)."""
    groups = claims.get(settings.OIDC_GROUPS_CLAIM)
    if groups is None:
        return []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise SuspiciousOperation(f"the {settings.OIDC_GROUPS_CLAIM!r} claim must be a list of group names")
    return groups


def mapped_roles(claims: dict) -> set[str]:
    return {settings.OIDC_GROUP_MAP[group] for group in claimed_groups(claims) if group in settings.OIDC_GROUP_MAP}


def _text_claim(claims: dict, name: str) -> str:
    value = claims.get(name)
    return value[:NAME_MAX_LENGTH] if isinstance(value, str) else ""


class PortalOIDCBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims):
        claimed_username(claims)
        claimed_groups(claims)
        return True

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=claimed_username(claims))

    def create_user(self, claims):
        with transaction.atomic():
            user = self.UserModel(username=claimed_username(claims))
            user.set_unusable_password()  # signs in through the provider only (a password can be set later)
            self._copy_profile(user, claims)
            user.save()
            self._set_roles(user, claims)
        return user

    def update_user(self, user, claims):
        with transaction.atomic():
            before = (user.email, user.first_name, user.last_name)
            self._copy_profile(user, claims)
            if (user.email, user.first_name, user.last_name) != before:
                user.save(update_fields=["email", "first_name", "last_name"])
            self._set_roles(user, claims)
        user.refresh_from_db()
        return user

    @staticmethod
    def _copy_profile(user, claims) -> None:
        user.email = _text_claim(claims, "email") or user.email
        user.first_name = _text_claim(claims, "given_name") or user.first_name
        user.last_name = _text_claim(claims, "family_name") or user.last_name

    @staticmethod
    def _set_roles(user, claims) -> None:
        user_roles_set(
            actor=SYSTEM_SSO,
            user=user,
            roles=mapped_roles(claims),
            managed=set(settings.OIDC_GROUP_MAP.values()),
            via="sso",
        )


def provider_logout_url(request) -> str:
    """Where "Sign out" goes (``OIDC_OP_LOGOUT_URL_METHOD``): the provider's end-session endpoint, for a user who
    signed in through it, which sends them back to the sign-in page; else straight to the sign-in page."""
    after = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    id_token = request.session.get("oidc_id_token")
    if not (settings.OIDC_OP_LOGOUT_ENDPOINT and id_token):
        return after
    query = urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": after, "client_id": settings.OIDC_RP_CLIENT_ID}
    )
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{query}"
