"""May this user do X to a token? One function per question, returning the refusal's message or None.

``accounts`` sits below ``registry`` (it imports only ``audit`` and ``registry_portal.roles``), so it
cannot return ``registry.access.Refusal``; every refusal here is "not you" (403).
"""

from registry_portal import roles

# The audit actor of ``manage.py api_token``: whoever has a shell on the server.
COMMAND_LINE = "system:command-line"


def token_revoke_refusal(user, token) -> str | None:
    """A token is revoked by its own user, an admin, or from the command line."""
    if user == COMMAND_LINE:
        return None
    if not getattr(user, "is_authenticated", False):
        return "sign in to revoke a token"
    if token.user_id != user.pk and not roles.is_admin(user):
        return "only the token's owner or an admin may revoke it"
    return None
