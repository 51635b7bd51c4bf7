"""May this user do X? One function per question, returning a ``Refusal`` (with its message) or None.

Services raise from the refusal (``Refusal.raise_``); pages and the API show its message. Both ask the
same function, so a page can never offer what the service refuses. The ``Refusal`` type lives here
because every app that decides imports ``registry``.
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


def sync_refusal(user) -> Refusal | None:
    """ "Sync now": every signed-in user may ask MLflow for the latest (it changes nothing MLflow holds)."""
    if not user.is_authenticated:
        return Refusal("sign in to sync the registry")
    return None
