"""May this user do X to a token, or on the roles page? One function per question, returning a ``Refusal`` or None."""

from registry_portal import roles
from registry_portal.access import Refusal

# The audit actor of ``manage.py api_token``: whoever has a shell on the server.
COMMAND_LINE = roles.SYSTEM_COMMAND_LINE
# The roles the roles page manages (group names, and "admin": a superuser; accounts.services.user_roles_set).
ADMIN_ROLE = "admin"
MANAGED_ROLES = (roles.REVIEWERS, roles.ML_LEADS, roles.OWNERS, ADMIN_ROLE)


def token_revoke_refusal(user, token) -> Refusal | None:
    """A token is revoked by its own user, an admin, or from the command line."""
    if user == COMMAND_LINE:
        return None
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to revoke a token")
    if token.user_id != user.pk and not roles.is_admin(user):
        return Refusal("only the token's owner or an admin may revoke it")
    return None


def roles_page_refusal(user) -> Refusal | None:
    """The roles page (group members, model owners) and every change made there: admins only; no query."""
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to manage roles")
    if not roles.is_admin(user):
        return Refusal("only an admin may see and change roles and model owners")
    return None


def role_change_refusal(user, member, role: str) -> Refusal | None:
    """Adding ``member`` to ``role`` or removing them: admins (``roles_page_refusal``); an admin never removes
    their own admin role (someone else must, so the portal keeps an admin)."""
    refusal = roles_page_refusal(user)
    if refusal is None and role == ADMIN_ROLE and member.pk == user.pk:
        return Refusal("you cannot change your own admin role: ask another admin")
    return refusal
