from django import template
from django.utils.html import format_html

from ..selectors import NO_CARD, card_page, card_statuses_for_model

register = template.Library()


@register.inclusion_tag("cards/panel.html", takes_context=True)
def model_card_panel(context, version, user):
    """The rendered card, its completeness and publication, with edit links for owners (version review page)."""
    return {"page": card_page(version, user), "version": version, "csrf_token": context.get("csrf_token")}


@register.simple_tag(takes_context=True)
def card_status(context, version):
    """A small badge for the versions table; the first call loads every version of the model in one query."""
    key = ("cards.card_status", version.model_id)
    statuses = context.render_context.get(key)
    if statuses is None:
        statuses = context.render_context[key] = card_statuses_for_model(version.model_id)
    status = statuses.get(version.pk, NO_CARD)
    if not status.exists:
        return format_html('<span class="badge" title="no model card saved">no card</span>')
    css = "good" if status.complete else "warn"
    label = "complete" if status.complete else f"{status.percent}%"
    failed = " · publish failed" if status.publication == "failed" else ""
    return format_html(
        '<span class="badge {}" title="model card revision {}, {}% complete, MLflow: {}">card {}{}</span>',
        css,
        status.number,
        status.percent,
        status.publication or "—",
        label,
        failed,
    )
