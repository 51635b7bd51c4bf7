"""May this user do X to the mirror? One function per question, returning a ``Refusal`` (with its message) or None.

Services raise from the refusal (``enforce``); pages and the API show its message. Both ask the same
function, so a page can never offer what the service refuses. ``Refusal``, ``Conflict`` and ``enforce`` are
``registry_portal.access``'s, re-exported here for the apps above ``registry``.
"""

from __future__ import annotations

from registry_portal.access import Conflict, Refusal, enforce

__all__ = ["Conflict", "Refusal", "enforce", "sync_refusal"]


def sync_refusal(user) -> Refusal | None:
    """ "Sync now": every signed-in user may ask MLflow for the latest (it changes nothing MLflow holds)."""
    if not user.is_authenticated:
        return Refusal("sign in to sync the registry")
    return None
