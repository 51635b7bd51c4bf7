"""The refusal every app's ``access.py`` returns: a message, and whether it means 403 or 409.

Services raise from it (``enforce``); pages and the API show its message. It lives in the project package
because every app decides something, ``accounts`` and ``registry`` included, and both sit low in the
import order (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied


class Conflict(Exception):
    """The thing's state forbids the action now (409): e.g. the request was decided meanwhile."""


@dataclass(frozen=True)
class Refusal:
    """Why the action is refused: ``conflict`` means "not now, in this state" (409), else "not you" (403)."""

    message: str
    conflict: bool = False

    @property
    def status(self) -> int:
        return 409 if self.conflict else 403

    def __str__(self) -> str:
        return self.message


def enforce(refusal: Refusal | None, *, conflict: type[Exception] = Conflict) -> None:
    """Raise what ``refusal`` means (PermissionDenied, or ``conflict``); nothing when the action is allowed."""
    if refusal is None:
        return
    raise (conflict if refusal.conflict else PermissionDenied)(refusal.message)
