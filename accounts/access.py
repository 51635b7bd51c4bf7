"""May this user do X to a token? One function per question, returning a ``Refusal`` or None."""

from registry_portal import roles
from registry_portal.access import Refusal

# The audit actor of ``manage.py api_token``: whoever has a shell on the server.
COMMAND_LINE = roles.SYSTEM_COMMAND_LINE


def token_revoke_refusal(user, token) -> Refusal | None:
    """A token is revoked by its own user, an admin, or from the command line."""
    if user == COMMAND_LINE:
        return None
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to revoke a token")
    if token.user_id != user.pk and not roles.is_admin(user):
        return Refusal("only the token's owner or an admin may revoke it")
    return None
