"""Formatting for the review pages. Everything returns plain text: autoescaping stays in charge."""

import json

from django import template

from .. import links
from ..metrics import as_number, metric_direction

register = template.Library()


@register.filter
def metric(value) -> str:
    """Four significant digits below 1,000 (0.8123, 12.35), thousands separators above."""
    number = as_number(value)
    if number is None:
        return "—" if value is None else str(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.1f}"
    return f"{number:.4g}"


@register.filter
def signed(value) -> str:
    number = as_number(value)
    if number is None:
        return ""
    return f"+{number:.4g}" if number > 0 else f"−{abs(number):.4g}" if number < 0 else "±0"


@register.filter
def percent(value) -> str:
    number = as_number(value)
    if number is None:
        return ""
    return f"{number * 100:+.1f}%".replace("-", "−")


@register.filter
def short_sha(value, length=10) -> str:
    return (value or "")[: int(length)]


@register.filter
def schema_columns(schema: str) -> list[dict]:
    """Columns of an MLflow dataset schema (``{"mlflow_colspec": [{"name", "type"}, ...]}``); [] if unreadable."""
    try:
        parsed = json.loads(schema or "")
    except ValueError:
        return []
    columns = parsed.get("mlflow_colspec") if isinstance(parsed, dict) else None
    if not isinstance(columns, list):
        return []
    return [
        {"name": str(c.get("name", "")), "type": str(c.get("type", "")), "required": c.get("required", True)}
        for c in columns
        if isinstance(c, dict)
    ]


@register.filter
def user_tags(tags: dict) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in (tags or {}).items() if not k.startswith("mlflow."))


@register.filter
def system_tags(tags: dict) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in (tags or {}).items() if k.startswith("mlflow."))


@register.simple_tag
def mlflow_model_url(name):
    return links.mlflow_model_url(name)


@register.simple_tag
def mlflow_version_url(name, version):
    return links.mlflow_version_url(name, version)


@register.simple_tag
def mlflow_run_url(run):
    return links.mlflow_run_url(run.experiment_id, run.run_id) if run else ""


@register.simple_tag
def mlflow_experiment_url(experiment_id):
    return links.mlflow_experiment_url(experiment_id)


@register.simple_tag
def sort_link_value(current: str, field: str) -> str:
    """The ``sort`` value a column header links to: ``field``, or its reverse when already sorted by it."""
    if current != field:
        return field
    return field[1:] if field.startswith("-") else f"-{field}"


@register.filter
def get_metric(metrics: dict, name: str):
    return (metrics or {}).get(name)


@register.filter
def direction(name: str) -> str:
    return metric_direction(name)
