"""The card panel and badge for pages outside ``registry`` (the request page; the registry's pages get them
through ``cards.panels``)."""

from django import template

from ..panels import card_badge, card_panel_context
from ..selectors import NO_CARD, card_statuses_for_model

register = template.Library()


@register.inclusion_tag("cards/panel.html", takes_context=True)
def model_card_panel(context, version, user):
    """The rendered card, its completeness and publication, with edit links for owners."""
    return {**card_panel_context(version, user), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("cards/panel.html#status_badge", takes_context=True)
def card_status(context, version):
    """A version's card badge; the first call loads every version of the model in one query."""
    key = ("cards.card_status", version.model_id)
    statuses = context.render_context.get(key)
    if statuses is None:
        statuses = context.render_context[key] = card_statuses_for_model(version.model_id)
    return {"value": card_badge(statuses.get(version.pk, NO_CARD))}
