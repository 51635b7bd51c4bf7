"""Reads of tokens, of failed sign-ins and of role members; views never query ``ApiToken`` or users directly."""

import datetime as dt

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q, Sum
from django.shortcuts import get_object_or_404

from .access import ADMIN_ROLE, MANAGED_ROLES
from .models import ApiToken, LoginFailureWindow


def tokens_of(user):
    """The user's own tokens, newest first (revoked ones too: their history stays visible)."""
    return ApiToken.objects.filter(user=user)


def token_get_for_user(user, pk: int) -> ApiToken:
    """One of ``user``'s own tokens, or 404 (another user's token is as good as absent)."""
    return get_object_or_404(ApiToken.objects.select_related("user"), pk=pk, user=user)


def login_failures_from(address: str, now) -> int:
    """Failed sign-ins from ``address`` in the current window, whatever usernames they claimed."""
    total = LoginFailureWindow.objects.filter(address=address, window_start=LoginFailureWindow.start_of(now)).aggregate(
        total=Sum("failures")
    )["total"]
    return total or 0


def lockout_ends_at(username: str, address: str | None) -> dt.datetime | None:
    """When django-axes lets ``username`` sign in from ``address`` again (its newest counted failure + the cool-off)."""
    newest = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(newest=Max("attempt_time"))
    return newest["newest"] + settings.AXES_COOLOFF_TIME if newest["newest"] else None


def role_members() -> dict[str, list]:
    """The members of each role the roles page manages (``access.MANAGED_ROLES``), by user name; two queries."""
    from django.contrib.auth import get_user_model

    users = (
        get_user_model()
        .objects.filter(Q(groups__name__in=MANAGED_ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
    )
    members: dict[str, list] = {role: [] for role in MANAGED_ROLES}
    for user in users.prefetch_related("groups").order_by("username"):
        for group in user.groups.all():
            if group.name in members:
                members[group.name].append(user)
        if user.is_superuser:
            members[ADMIN_ROLE].append(user)
    return members
