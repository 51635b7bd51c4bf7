"""May this user change this version's card? One function per question, returning a ``Refusal`` or None.

``cards.services`` raises from these (``registry.access.enforce``); the card page, the version page's panel
and an API show the same refusal, so none of them offers what the service would refuse. Everyone signed in
reads cards: reading is decided by ``registry.selectors.version_get_for_user``, not here.
"""

from __future__ import annotations

from registry.access import Refusal
from registry_portal import roles


def _is_editor(user, version) -> bool:
    # One rule for every change to a card (a save, a preview, publishing again), so they never drift apart.
    return roles.is_owner_or_admin(user, version.model)


def card_edit_refusal(user, version) -> Refusal | None:
    """Saving a section or previewing it: the model's owners and admins (``version`` with ``model``; no query when its owners are prefetched, as pages do)."""
    if _is_editor(user, version):
        return None
    return Refusal("only the model's owner or an admin may edit its card")


def card_publish_refusal(user, version) -> Refusal | None:
    """Publishing the latest revision to MLflow again: whoever may edit the card (no query with the owners prefetched)."""
    if _is_editor(user, version):
        return None
    return Refusal("only the model's owner or an admin may publish its card")


def card_profile_refusal(user, version) -> Refusal | None:
    """Choosing the regulation profile the card follows: whoever may edit the card (no query with the owners prefetched)."""
    if _is_editor(user, version):
        return None
    return Refusal("only the model's owner or an admin may choose its card's profile")
