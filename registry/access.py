"""May this user do X to the mirror? One function per question, returning a ``Refusal`` (with its message) or None.

Services raise from the refusal (``enforce``); pages and the API show its message. Both ask the same
function, so a page can never offer what the service refuses. ``Refusal``, ``Conflict`` and ``enforce`` are
``registry_portal.access``'s, re-exported here for the apps above ``registry``.
"""

from __future__ import annotations

from registry_portal import roles
from registry_portal.access import Conflict, Refusal, enforce

__all__ = ["Conflict", "Refusal", "enforce", "owners_manage_refusal", "sync_refusal"]


def sync_refusal(user, model=None) -> Refusal | None:
    """ "Sync now" of ``model`` (None: the whole registry): reviewers, ML leads, admins and, for one model, its
    owners (docs/roles.md). At most two queries. The once-a-minute limit is the service's (``SyncCooldown``)."""
    if not getattr(user, "is_authenticated", False):
        return Refusal("sign in to sync the registry")
    if roles.is_admin(user) or roles.in_group(user, roles.REVIEWERS, roles.ML_LEADS):
        return None
    if model is not None and roles.is_owner(user, model):
        return None
    if model is None:
        return Refusal("only reviewers, ML leads and admins may sync the whole registry; owners sync their model")
    return Refusal("only the model's owners, reviewers, ML leads and admins may sync it")


def owners_manage_refusal(user) -> Refusal | None:
    """Assigning or removing a model's portal owners, accepting or dismissing its ``owner`` tag: admins, and an
    operator at ``manage.py`` (``adopt_owner_tags``); no query."""
    if user == roles.SYSTEM_COMMAND_LINE or roles.is_admin(user):
        return None
    return Refusal("only an admin may change a model's owners")
