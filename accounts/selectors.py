"""Reads of tokens; views never query ``ApiToken`` directly."""

from django.shortcuts import get_object_or_404

from .models import ApiToken


def tokens_of(user):
    """The user's own tokens, newest first (revoked ones too: their history stays visible)."""
    return ApiToken.objects.filter(user=user)


def token_get_for_user(user, pk: int) -> ApiToken:
    """One of ``user``'s own tokens, or 404 (another user's token is as good as absent)."""
    return get_object_or_404(ApiToken.objects.select_related("user"), pk=pk, user=user)
