from django import template

from audit import selectors

register = template.Library()


@register.filter
def can_view_audit_log(user) -> bool:
    return selectors.can_view_whole_log(user)


@register.inclusion_tag("audit/activity_panel.html")
def activity_panel(user, model_name, version=None, limit=20):
    """``{% activity_panel user model_name version=None limit=20 %}``: the latest events of a model or version."""
    return {
        "events": selectors.activity_for_user(user, model_name, version, limit),
        "user": user,
        "model_name": model_name,
        "version": version,
    }


@register.filter
def pairs(mapping) -> list[tuple]:
    """``{% for k, v in event.data|pairs %}``, sorted by key: ``event.data.items`` would be
    ``event.data["items"]`` for an event about a tag or param named ``items``. (Audit loads no other
    app's tags; ``registry_tags.pairs`` is the same filter.)"""
    return sorted((mapping or {}).items(), key=lambda pair: str(pair[0]))
