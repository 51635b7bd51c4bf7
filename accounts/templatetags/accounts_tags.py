from django import template

from ..access import roles_page_refusal

register = template.Library()


@register.filter
def can_manage_roles(user) -> bool:
    """Whether the top nav links the roles page (``access.roles_page_refusal``)."""
    return roles_page_refusal(user) is None
