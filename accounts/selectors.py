"""Reads of tokens and of role members; views never query ``ApiToken`` or users directly."""

from django.db.models import Q
from django.shortcuts import get_object_or_404

from .access import ADMIN_ROLE, MANAGED_ROLES
from .models import ApiToken


def tokens_of(user):
    """The user's own tokens, newest first (revoked ones too: their history stays visible)."""
    return ApiToken.objects.filter(user=user)


def token_get_for_user(user, pk: int) -> ApiToken:
    """One of ``user``'s own tokens, or 404 (another user's token is as good as absent)."""
    return get_object_or_404(ApiToken.objects.select_related("user"), pk=pk, user=user)


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
