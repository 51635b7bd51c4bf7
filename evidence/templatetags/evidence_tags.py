import json

from django import template

register = template.Library()


@register.filter
def as_json(value) -> str:
    """A rule's evidence or a card's JSON as indented JSON text (the template escapes it)."""
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)


@register.filter
def short_hash(value: str) -> str:
    return (value or "")[:12]
