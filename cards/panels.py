"""What cards adds to the registry's pages, through ``registry.panels`` (``CardsConfig.ready`` calls
``register``): the version page's card panel, and on the model page a badge per version with its card's
completeness and publication (one query for the whole table).

Whether the panel offers editing is ``cards.access.card_edit_refusal``'s answer (``CardPage.can_edit``).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import panels
from registry.panels import Column, PageObjects, Panel

from .selectors import NO_CARD, CardStatus, card_page, card_statuses_for_model


def card_panel_context(version, user) -> dict:
    """The context of ``cards/panel.html``: the card of ``version`` as ``user`` sees it."""
    return {"page": card_page(version, user), "version": version}


def card_panel(objects: PageObjects) -> dict:
    return card_panel_context(objects.version, objects.user)


@dataclass(frozen=True)
class CardBadge:
    """A version's card in the versions table (``cards/panel.html#status_badge``), worded here: a page shows up
    to 50, and the same conditions in the template took ~25 µs a badge, this ~10 µs."""

    css: str
    title: str
    text: str


def card_badge(status: CardStatus) -> CardBadge:
    if not status.exists:
        return CardBadge("badge", "no model card saved", "no card")
    failed = " · publish failed" if status.publication == "failed" else ""
    return CardBadge(
        "badge good" if status.complete else "badge warn",
        f"model card revision {status.number}, {status.percent}% complete, MLflow: {status.publication or '—'}",
        f"card {'complete' if status.complete else f'{status.percent}%'}{failed}",
    )


def card_badges(objects: PageObjects, versions) -> dict[int, CardBadge]:
    statuses = card_statuses_for_model(objects.model.pk)
    return {v.pk: card_badge(statuses.get(v.pk, NO_CARD)) for v in versions}


def register() -> None:
    panels.register(Panel("cards.card", "version", "after_tags", card_panel, "cards/panel.html"))
    panels.register(Column("cards.status", "model", "Card", card_badges, "cards/panel.html#status_badge", order=10))
