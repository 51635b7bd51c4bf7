"""Regulation profiles: which points a card must cover, and which sections fill each point.

A profile is data: ``Profile(key, title, points)``, each ``Point(key, title, sections, generated, ref)``.
``default`` is the course module's template, one point per section, so its completeness is the template's
(the nine required sections; Model Details and References hold generated facts, their prose is optional).
``eu_ai_act_annex_iv`` is the technical documentation of Regulation (EU) 2024/1689, Annex IV: nine points
with their Annex IV numbering, each filled by one or more sections (``cards.sections``).

A *generated* point is filled by the portal, not by prose: "changes over the lifecycle" comes from the
version's stage history and the card's revisions (``cards.lifecycle``). Its data exists as soon as the
card is saved, so it counts as complete then. A point counts towards completeness when it is generated
or one of its sections is required; it is done when every required section it has is written with no
placeholder (``cards.placeholders``).

The card follows ``ModelCard.profile``; each revision keeps the profile it was saved under, and its stored
``complete``/``percent`` are judged under that profile. See docs/cards.md#profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .placeholders import has_placeholder
from .sections import SECTIONS_BY_KEY, TEMPLATE_SECTIONS, Section


@dataclass(frozen=True)
class Point:
    key: str
    title: str
    sections: tuple[str, ...]  # cards.sections keys, in the order the point shows them
    generated: bool
    ref: str = ""  # where the regulation asks for it ("Annex IV(1)"); empty for the template

    @property
    def counted(self) -> bool:
        return self.generated or any(SECTIONS_BY_KEY[key].required for key in self.sections)


@dataclass(frozen=True)
class Profile:
    key: str
    title: str
    points: tuple[Point, ...]

    @property
    def grouped(self) -> bool:
        """Pages and the Markdown show the points as headings over their sections (the template does not)."""
        return any(point.ref for point in self.points)

    @property
    def section_keys(self) -> tuple[str, ...]:
        """Every section the profile shows, in point order, each once."""
        return tuple(dict.fromkeys(key for point in self.points for key in point.sections))

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(SECTIONS_BY_KEY[key] for key in self.section_keys)


DEFAULT = "default"
ANNEX_IV = "eu_ai_act_annex_iv"
LIFECYCLE_POINT = "lifecycle_changes"

PROFILES: tuple[Profile, ...] = (
    Profile(
        DEFAULT,
        "Model card (course template)",
        tuple(Point(section.key, section.title, (section.key,), False) for section in TEMPLATE_SECTIONS),
    ),
    Profile(
        ANNEX_IV,
        "EU AI Act Annex IV technical documentation",
        (
            Point(
                "general_description",
                "General description of the AI system",
                ("model_details", "intended_use", "system_description"),
                False,
                "Annex IV(1)",
            ),
            Point(
                "development",
                "Elements of the AI system and its development process",
                ("development_process", "training_data", "evaluation_data", "references"),
                False,
                "Annex IV(2)",
            ),
            Point(
                "monitoring_control",
                "Monitoring, functioning and control",
                ("factors", "fairness_bias", "limitations", "caveats_recommendations", "human_oversight"),
                False,
                "Annex IV(3)",
            ),
            Point(
                "metrics_appropriateness",
                "Appropriateness of the performance metrics",
                ("performance_metrics",),
                False,
                "Annex IV(4)",
            ),
            Point(
                "risk_management",
                "Risk management system",
                ("risk_management", "ethical_considerations"),
                False,
                "Annex IV(5)",
            ),
            Point(LIFECYCLE_POINT, "Changes over the lifecycle", (), True, "Annex IV(6)"),
            Point("standards", "Harmonised standards applied", ("standards_applied",), False, "Annex IV(7)"),
            Point(
                "declaration_of_conformity",
                "EU declaration of conformity",
                ("declaration_of_conformity",),
                False,
                "Annex IV(8)",
            ),
            Point(
                "post_market_monitoring",
                "Post-market monitoring plan",
                ("post_market_monitoring",),
                False,
                "Annex IV(9)",
            ),
        ),
    ),
)
PROFILES_BY_KEY = {profile.key: profile for profile in PROFILES}
PROFILE_CHOICES = [(profile.key, profile.title) for profile in PROFILES]
DEFAULT_PROFILE = PROFILES_BY_KEY[DEFAULT]


def get_profile(key: str) -> Profile:
    """The profile called ``key``; a key no longer defined falls back to the template rather than failing a page."""
    return PROFILES_BY_KEY.get(key, DEFAULT_PROFILE)


def profile_of(card) -> Profile:
    """The profile ``card`` (a ``ModelCard``, or None for a card never saved) follows."""
    return get_profile(card.profile) if card is not None else DEFAULT_PROFILE


# ---- completeness ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PointStatus:
    point: Point
    state: str  # "ok", "missing", "placeholder", or "optional" (not counted)
    missing: tuple[str, ...] = ()  # section titles (the point's own title for a generated point)
    placeholders: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completeness:
    complete: bool
    percent: int
    missing: list[str]  # section titles
    placeholders: list[str]
    profile: str = DEFAULT
    points: tuple[PointStatus, ...] = field(default=())


def point_status(point: Point, sections: dict[str, str], *, saved: bool) -> PointStatus:
    if not point.counted:
        return PointStatus(point, "optional")
    if point.generated:
        return PointStatus(point, "ok") if saved else PointStatus(point, "missing", missing=(point.title,))
    missing, placeholders = [], []
    for key in point.sections:
        section = SECTIONS_BY_KEY[key]
        text = (sections.get(key) or "").strip()
        if not section.required:
            continue
        if not text:
            missing.append(section.title)
        elif has_placeholder(text):
            placeholders.append(section.title)
    state = "missing" if missing else "placeholder" if placeholders else "ok"
    return PointStatus(point, state, tuple(missing), tuple(placeholders))


def profile_completeness(sections: dict[str, str], profile: Profile, *, saved: bool = True) -> Completeness:
    """Completeness of prose ``sections`` under ``profile``; ``saved``: the card has a saved revision."""
    statuses = tuple(point_status(point, sections, saved=saved) for point in profile.points)
    counted = [status for status in statuses if status.state != "optional"]
    done = sum(status.state == "ok" for status in counted)
    missing = list(dict.fromkeys(title for status in counted for title in status.missing))
    placeholders = list(dict.fromkeys(title for status in counted for title in status.placeholders))
    return Completeness(
        complete=done == len(counted),
        percent=done * 100 // len(counted),
        missing=missing,
        placeholders=placeholders,
        profile=profile.key,
        points=statuses,
    )


def completeness(card, profile: Profile | None = None) -> Completeness:
    """Completeness of ``card``'s latest saved revision under ``profile`` (default: the card's own); one query."""
    latest = card.revisions.order_by("-number").first() if card is not None else None
    return profile_completeness(
        latest.sections if latest else {}, profile or profile_of(card), saved=latest is not None
    )


# ---- what the evidence pack shows under each point ----------------------------------------------
@dataclass(frozen=True)
class PointSections:
    """One point of a profile with the card's prose for it: ``sections`` is ((section, Markdown), ...)."""

    status: PointStatus
    sections: tuple[tuple[Section, str], ...]

    @property
    def point(self) -> Point:
        return self.status.point


def point_sections(card, profile: Profile | None = None, *, revision=None) -> list[PointSections]:
    """Each point of ``profile`` (default: the card's) with the prose of ``revision`` (default: the latest).

    A generated point has no sections: the pack fills it (``cards.lifecycle.lifecycle_changes`` for
    "changes over the lifecycle"). One query without ``revision``, none with it.
    """
    profile = profile or profile_of(card)
    if revision is None and card is not None:
        revision = card.revisions.order_by("-number").first()
    sections = revision.sections if revision else {}
    return [
        PointSections(
            point_status(point, sections, saved=revision is not None),
            tuple((SECTIONS_BY_KEY[key], (sections.get(key) or "").strip()) for key in point.sections),
        )
        for point in profile.points
    ]
