"""Filters for approvals' templates (pure: no queries; registry pages get approvals' panels through
``approvals.panels``, other pages render a selector's context with ``registry_tags.render_partial``)."""

import json

from django import template
from django.utils.html import format_html_join

register = template.Library()


@register.filter
def evidence_items(evidence: dict) -> list[tuple[str, str]]:
    """Evidence as (key, text) pairs; nested values as compact JSON."""
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))
        for key, value in (evidence or {}).items()
    ]


@register.filter
def model_names(found: dict) -> str:
    return format_html_join(", ", "<strong>{}</strong>", ((name,) for name in found))
