from django import template

from .. import access

register = template.Library()


@register.filter
def can_view_deliveries(user) -> bool:
    return access.deliveries_view_refusal(user) is None
