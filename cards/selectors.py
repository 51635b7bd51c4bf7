"""Reads for card pages. The version itself always comes from ``registry.selectors`` (visibility)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cached_property

from django.db.models import OuterRef, Subquery
from django.utils.safestring import SafeString

from .access import card_edit_refusal
from .document import CardFacts, card_facts, generated_sections
from .lifecycle import LifecycleChanges, last_production_change_at, lifecycle_changes
from .models import CardPublication, CardRevision, ModelCard
from .placeholders import PLACEHOLDER_PATTERNS, has_placeholder
from .profiles import DEFAULT_PROFILE, Completeness, PointStatus, Profile, get_profile, profile_completeness
from .render import render_markdown
from .sections import SECTIONS, Section

CARRIED_FORWARD = "_Carried forward from v{version} — please review, then remove this line._"
CARRIED_FORWARD_LINE = re.compile(r"^.*" + PLACEHOLDER_PATTERNS[-1].pattern + r".*\n*", re.IGNORECASE | re.MULTILINE)


def card_revision_latest(version) -> CardRevision | None:
    """The latest saved revision of ``version``'s card (with ``card`` and ``publication``), or None; one query."""
    return CardRevision.objects.latest_for(version)


def card_draft_sections(version) -> tuple[dict[str, str], int | None]:
    """Prose for a card never saved: the previous version's latest card, marked for review, else prompts.

    Returns the sections and the version the prose was carried forward from (None: prompts only); one query.
    """
    previous = (
        CardRevision.objects.filter(card__model_name=version.model.name, card__version__lt=version.version)
        .order_by("-card__version", "-card_id", "-number")
        .only("sections", "card__version")
        .select_related("card")
        .first()
    )
    sections = {}
    for section in SECTIONS:
        carried = CARRIED_FORWARD_LINE.sub("", (previous.sections.get(section.key) or "") if previous else "").strip()
        if carried:
            sections[section.key] = CARRIED_FORWARD.format(version=previous.card.version) + "\n\n" + carried
        else:
            sections[section.key] = section.prompt if section.required else ""
    return sections, (previous.card.version if previous else None)


@dataclass(frozen=True)
class RenderedSection:
    section: Section
    generated_html: SafeString
    prose_html: SafeString
    state: str  # "ok", "missing" (required, empty) or "placeholder"


@dataclass(frozen=True)
class RenderedPoint:
    status: PointStatus
    sections: list[RenderedSection]

    @property
    def point(self):
        return self.status.point


@dataclass
class CardPage:
    """What a card page shows: the latest revision (or the unsaved draft), generated parts, completeness."""

    version: object
    revision: CardRevision | None
    sections: dict[str, str]
    carried_from: int | None
    can_edit: bool

    @property
    def is_draft(self) -> bool:
        return self.revision is None

    @property
    def publication(self) -> CardPublication | None:
        return getattr(self.revision, "publication", None) if self.revision else None

    @property
    def profile(self) -> Profile:
        """The profile the latest revision was saved under (the card's); a draft follows the default."""
        return get_profile(self.revision.profile) if self.revision else DEFAULT_PROFILE

    @cached_property
    def completeness(self) -> Completeness:
        # The draft is never complete: governance judges saved revisions only.
        saved = self.revision is not None
        return profile_completeness(self.sections if saved else {}, self.profile, saved=saved)

    @cached_property
    def facts(self) -> CardFacts:
        return card_facts(self.version)

    @cached_property
    def rendered(self) -> list[RenderedSection]:
        generated = generated_sections(self.facts)
        result = []
        for section in self.profile.sections:
            prose = (self.sections.get(section.key) or "").strip()
            if section.required and not prose:
                state = "missing"
            elif section.required and has_placeholder(prose):
                state = "placeholder"
            else:
                state = "ok"
            result.append(
                RenderedSection(section, render_markdown(generated.get(section.key, "")), render_markdown(prose), state)
            )
        return result

    @cached_property
    def points(self) -> list[RenderedPoint]:
        """The profile's points, each with its rendered sections (pages show them for a grouped profile)."""
        by_key = {item.section.key: item for item in self.rendered}
        return [
            RenderedPoint(status, [by_key[key] for key in status.point.sections]) for status in self.completeness.points
        ]

    @property
    def next_to_edit(self) -> Section:
        """The first section still missing or holding a placeholder (else the profile's first section)."""
        return next((item.section for item in self.rendered if item.state != "ok"), self.rendered[0].section)

    @cached_property
    def lifecycle(self) -> LifecycleChanges | None:
        """Changes since one of the model's versions last entered Production, for a saved card: four queries
        (three before any has), only when a page shows the lifecycle point."""
        if self.revision is None:
            return None
        since = last_production_change_at(self.version.model)
        return lifecycle_changes(self.revision.card, since, latest=self.revision)


def card_page(version, user) -> CardPage:
    """The card of ``version`` (selected with ``model`` and ``run``); two queries, three for a draft."""
    revision = card_revision_latest(version)
    if revision is not None:
        sections, carried_from = revision.sections, None
    else:
        sections, carried_from = card_draft_sections(version)
    return CardPage(
        version=version,
        revision=revision,
        sections=sections,
        carried_from=carried_from,
        can_edit=card_edit_refusal(user, version) is None,
    )


def card_revisions(revision: CardRevision | None) -> list[CardRevision]:
    """Every revision of the card ``revision`` belongs to, newest first, with publication status."""
    if revision is None:
        return []
    return list(CardRevision.objects.filter(card_id=revision.card_id).select_related("publication").order_by("-number"))


@dataclass(frozen=True)
class SectionDiff:
    title: str
    lines: list[tuple[str, str]]  # (kind: "add" / "del" / "hunk" / "same", text)


def diff_sections(old: dict[str, str], new: dict[str, str], *, old_label: str, new_label: str) -> list[SectionDiff]:
    """A unified diff per changed section; templates escape the text."""
    diffs = []
    for section in SECTIONS:
        before = (old.get(section.key) or "").splitlines()
        after = (new.get(section.key) or "").splitlines()
        if before == after:
            continue
        lines = []
        for line in difflib.unified_diff(before, after, old_label, new_label, n=2, lineterm=""):
            if line.startswith(("---", "+++")):
                continue
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
            lines.append((kind, line))
        diffs.append(SectionDiff(section.title, lines))
    return diffs


@dataclass(frozen=True)
class CardStatus:
    number: int | None
    percent: int
    complete: bool
    publication: str

    @property
    def exists(self) -> bool:
        return self.number is not None


NO_CARD = CardStatus(number=None, percent=0, complete=False, publication="")


def card_statuses_for_model(model_id: int) -> dict[int, CardStatus]:
    """Model version pk → status of its card's latest revision, for every version of one model; one query."""
    latest = CardRevision.objects.filter(card=OuterRef("pk")).order_by("-number")
    rows = (
        ModelCard.objects.filter(model_version__model_id=model_id)
        .annotate(
            number=Subquery(latest.values("number")[:1]),
            percent=Subquery(latest.values("percent")[:1]),
            complete=Subquery(latest.values("complete")[:1]),
            publication_status=Subquery(latest.values("publication__status")[:1]),
        )
        .values_list("model_version_id", "number", "percent", "complete", "publication_status")
    )
    return {
        pk: CardStatus(number=number, percent=percent or 0, complete=bool(complete), publication=status or "")
        for pk, number, percent, complete, status in rows
        if number is not None
    }
