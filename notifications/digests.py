"""What a daily digest says to a user, without ``notifications`` importing the apps that know it.

The counterpart of ``registry.panels`` / ``registry.api_extras`` for mail: an app registers, in its
``AppConfig.ready()``, a name and a function ``(user) -> list[str]`` — one line per thing waiting for that
user, each with its link (``approvals`` registers "waiting for your review"). The daily digest task
(``services.digests_send``) asks every registered function for each opted-in user and mails the ones with any
line. Registering a name again replaces it. A function decides visibility itself, as its app's selectors do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Lines = Callable[[Any], list[str]]

_digests: dict[str, Lines] = {}


def register(name: str, lines: Lines) -> None:
    _digests[name] = lines


def unregister(name: str) -> None:
    _digests.pop(name, None)


def sections_for(user) -> list[tuple[str, list[str]]]:
    """(name, lines) of each registered function that has something for ``user``, in registration order."""
    sections = []
    for name, lines in _digests.items():
        found = list(lines(user))
        if found:
            sections.append((name, found))
    return sections


def lines_for(user) -> list[str]:
    """Every registered function's lines for ``user``, in registration order; [] when nothing waits."""
    return [line for _, found in sections_for(user) for line in found]
