"""Annex IV(6), "changes over the lifecycle": what happened to a version and its card since a point in time.

``lifecycle_changes(card, since)`` gathers the version's stage and alias history since ``since`` (the
``registry.StageChange`` rows sync writes, portal-applied transitions included) and the unified diff of the
card's prose as Markdown between the revision current at ``since`` and the latest. Cards do not know about
approvals: the evidence pack passes ``since`` = when the last approval was applied; the card page passes
``last_production_change_at(model)``, the last time sync saw one of the model's versions enter Production.
``since`` None means from the beginning (every stage change, the whole card as added lines).
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass

from django.db.models import F, Q, Subquery

from registry.models import ModelVersion, StageChange

from .models import CardRevision, ModelCard
from .profiles import get_profile
from .sections import SECTIONS


@dataclass(frozen=True)
class LifecycleChanges:
    since: dt.datetime | None
    stage_changes: list[StageChange]  # oldest first
    revisions: list[CardRevision]  # saved after ``since``, oldest first, without their prose
    base: CardRevision | None  # the revision current at ``since`` (None: no card yet then)
    latest: CardRevision | None
    diff: str  # unified diff of ``prose_markdown``, base → latest; "" when the prose did not change

    @property
    def is_empty(self) -> bool:
        return not (self.stage_changes or self.revisions)

    @property
    def diff_lines(self) -> list[tuple[str, str]]:
        """(kind: "add" / "del" / "hunk" / "file" / "same", line) for pages; templates escape the text."""
        kinds = {"+++": "file", "---": "file"}
        return [
            (kinds.get(line[:3]) or {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same"), line)
            for line in self.diff.splitlines()
        ]


def prose_markdown(revision: CardRevision | None) -> str:
    """A revision's profile and written prose as one Markdown text (generated facts left out: they are the
    mirror's, not the card's); what ``lifecycle_changes`` diffs."""
    if revision is None:
        return ""
    parts = [f"Profile: {get_profile(revision.profile).title}"]
    for section in SECTIONS:
        text = (revision.sections.get(section.key) or "").strip()
        if text:
            parts.append(f"## {section.title}\n\n{text}")
    return "\n\n".join(parts) + "\n"


def _stage_changes(card: ModelCard, since):
    changes = StageChange.objects.filter(model_name=card.model_name, version=card.version)
    if card.model_version_id is not None:
        # As ``StageChange.objects.of_version``: not what an earlier version of the same name and number went
        # through; in the same query, since the card's version row is not at hand.
        mirrored = ModelVersion.objects.filter(pk=card.model_version_id).values("mirrored_since")[:1]
        changes = changes.annotate(mirrored_since=Subquery(mirrored)).filter(
            Q(mirrored_since__isnull=True) | Q(seen_at__gte=F("mirrored_since"))
        )
    if since is not None:
        changes = changes.filter(seen_at__gt=since)
    return list(changes.order_by("seen_at", "id"))


def lifecycle_changes(card: ModelCard, since: dt.datetime | None, *, latest: CardRevision | None = None):
    """Stage history and card changes of ``card`` since ``since``; four queries (``latest``, the card's latest
    revision when the caller has it, saves one)."""
    revisions = card.revisions.all()
    after = list(
        (revisions.filter(created_at__gt=since) if since is not None else revisions)
        .defer("sections")
        .order_by("number")
    )
    base = revisions.filter(created_at__lte=since).order_by("-number").first() if since is not None else None
    if not after:
        latest = base
    elif latest is None or latest.number != after[-1].number:
        latest = revisions.order_by("-number").first()
    before_text, after_text = prose_markdown(base), prose_markdown(latest)
    diff = ""
    if before_text != after_text:
        diff = "\n".join(
            difflib.unified_diff(
                before_text.splitlines(),
                after_text.splitlines(),
                f"r{base.number}" if base else "no card",
                f"r{latest.number}",
                n=2,
                lineterm="",
            )
        )
    return LifecycleChanges(since, _stage_changes(card, since), after, base, latest, diff)


def last_production_change_at(model) -> dt.datetime | None:
    """When sync last saw a version of ``model`` enter Production (None: never); one query."""
    return (
        StageChange.objects.of_model(model)
        .filter(kind=StageChange.KIND_STAGE, to_value="Production")
        .order_by("-seen_at")
        .values_list("seen_at", flat=True)
        .first()
    )
