"""Is a model card complete? The one function the card page and governance checks share.

A card is complete when every required section has prose and none of it is a placeholder:
``[TO BE FILLED]``, ``TODO``, ``[More Information Needed]`` (the Hugging Face template's), or the
note "carried forward from vN — please review" that a new version's draft puts on prose copied
from the previous version: copied text counts as unreviewed until an owner edits it away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import CardRevision
from .sections import REQUIRED_SECTIONS

PLACEHOLDER_PATTERNS = (
    re.compile(r"\[\s*TO BE FILLED\s*\]", re.IGNORECASE),
    re.compile(r"\bTODO\b"),
    re.compile(r"\[\s*More Information Needed\s*\]", re.IGNORECASE),
    re.compile(r"carried forward from v\d+\s*(?:—|–|-{1,2})\s*please review", re.IGNORECASE),
)


@dataclass(frozen=True)
class Completeness:
    complete: bool
    percent: int
    missing: list[str]
    placeholders: list[str]


def has_placeholder(text: str) -> bool:
    return any(pattern.search(text) for pattern in PLACEHOLDER_PATTERNS)


def sections_completeness(sections: dict[str, str]) -> Completeness:
    """Completeness of prose sections keyed by ``cards.sections`` keys; lists name sections by title."""
    missing, placeholders = [], []
    for section in REQUIRED_SECTIONS:
        text = (sections.get(section.key) or "").strip()
        if not text:
            missing.append(section.title)
        elif has_placeholder(text):
            placeholders.append(section.title)
    done = len(REQUIRED_SECTIONS) - len(missing) - len(placeholders)
    return Completeness(
        complete=not missing and not placeholders,
        percent=done * 100 // len(REQUIRED_SECTIONS),
        missing=missing,
        placeholders=placeholders,
    )


def version_card_completeness(version) -> Completeness:
    """Completeness of the latest saved revision of ``version``'s card (one query); no card: nothing filled."""
    revision = CardRevision.objects.latest_for(version)
    return sections_completeness(revision.sections if revision else {})
