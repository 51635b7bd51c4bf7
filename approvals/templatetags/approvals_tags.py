"""Filters for approvals' templates, and the checklist for pages outside ``registry`` (the request page; the
registry's pages get their approvals panels through ``approvals.panels``)."""

import json

from django import template
from django.utils.html import format_html_join

from .. import selectors

register = template.Library()


@register.inclusion_tag("approvals/version_checks.html#panel", takes_context=True)
def checks_panel(context, version, user):
    """``{% checks_panel version user %}``: the version's governance checklist, Re-run button and dry-run link."""
    return {**selectors.checks_panel(version, user), "csrf_token": context.get("csrf_token")}


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
