"""Is a model card complete? The functions the card page and governance checks share.

A card is complete when every point of the profile it follows is covered (``cards.profiles``): every
required section of the point has prose with no placeholder (``cards.placeholders``), and a generated
point has its data. Under the default profile that is the template: every required section written.
"""

from __future__ import annotations

from .models import CardRevision
from .placeholders import PLACEHOLDER_PATTERNS, has_placeholder
from .profiles import DEFAULT_PROFILE, Completeness, Profile, get_profile, profile_completeness

__all__ = [
    "PLACEHOLDER_PATTERNS",
    "Completeness",
    "has_placeholder",
    "sections_completeness",
    "version_card_completeness",
]


def sections_completeness(sections: dict[str, str], profile: Profile = DEFAULT_PROFILE) -> Completeness:
    """Completeness of saved prose keyed by ``cards.sections`` keys under ``profile``; lists name sections by title."""
    return profile_completeness(sections, profile, saved=True)


def version_card_completeness(version) -> Completeness:
    """Completeness of the latest saved revision of ``version``'s card under the profile it was saved under
    (one query); no card: nothing filled, under the default profile."""
    revision = CardRevision.objects.latest_for(version)
    if revision is None:
        return profile_completeness({}, DEFAULT_PROFILE, saved=False)
    return profile_completeness(revision.sections, get_profile(revision.profile), saved=True)
