"""What counts as not written yet: prose that still holds a placeholder.

``[TO BE FILLED]``, ``TODO``, ``[More Information Needed]`` (the Hugging Face template's), or the note
"carried forward from vN — please review" that a new version's draft puts on prose copied from the previous
version: copied text counts as unreviewed until an owner edits it away.
"""

import re

PLACEHOLDER_PATTERNS = (
    re.compile(r"\[\s*TO BE FILLED\s*\]", re.IGNORECASE),
    re.compile(r"\bTODO\b"),
    re.compile(r"\[\s*More Information Needed\s*\]", re.IGNORECASE),
    re.compile(r"carried forward from v\d+\s*(?:—|–|-{1,2})\s*please review", re.IGNORECASE),
)


def has_placeholder(text: str) -> bool:
    return any(pattern.search(text) for pattern in PLACEHOLDER_PATTERNS)
