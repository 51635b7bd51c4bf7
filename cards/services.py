"""Writes to model cards: revisions (with conflict detection) and their publication to MLflow."""

from __future__ import annotations

from .models import CardRevision


def latest_revision(version) -> CardRevision | None:
    """The latest saved revision of ``version``'s card (with ``card`` and ``publication``), or None; one query."""
    return CardRevision.objects.latest_for(version)
