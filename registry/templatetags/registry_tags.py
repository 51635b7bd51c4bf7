"""Formatting for the review pages. Everything returns plain text: autoescaping stays in charge."""

import json

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from .. import links
from ..lineage import run_lifecycle_note, version_status_text
from ..metrics import SCIENTIFIC_FROM, as_number, format_metric, metric_direction

register = template.Library()


register.filter("metric", format_metric)


@register.filter
def signed(value) -> str:
    """``+0.05``, ``−1,234.5``, ``+1.0e300``, ``±0``; "" for anything not a finite number (a delta that
    overflowed to inf included)."""
    number = as_number(value)
    if number is None:
        return ""
    if number == 0:
        return "±0"
    return ("+" if number > 0 else "−") + format_metric(abs(number))


@register.filter
def percent(value) -> str:
    """A fraction as ``+6.2%`` / ``−12.0%``, scientific when huge (``+1.0e302%``); "" if not finite."""
    number = as_number(value)
    hundredfold = None if number is None else as_number(number * 100)
    if hundredfold is None:
        return ""
    sign = "−" if hundredfold < 0 else "+"
    magnitude = abs(hundredfold)
    text = format_metric(magnitude) if magnitude >= SCIENTIFIC_FROM else f"{magnitude:,.1f}"
    return f"{sign}{text}%"


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
def chart_points(chart):
    """The chart's points, each a link to its version.

    Built in Python because a model page can show hundreds of points: the template language took
    ~20 ms for 200, ``format_html`` per point ~8 ms. Every string is escaped (numbers are formatted
    here), so the result is as safe as the template's autoescaping.
    """
    name = escape(chart.metric)
    points = []
    for p in chart.points:
        stage, value = escape(p.stage), escape(format_metric(p.value))
        radius = 6 if p.stage in ("Production", "Staging") else 4
        points.append(
            f'<a href="{escape(p.url)}" aria-label="v{p.version:d} {stage}: {name} {value}">'
            f'<circle class="point {stage.lower()}" cx="{p.x:g}" cy="{p.y:g}" r="{radius}">'
            f"<title>v{p.version:d} ({stage}): {name} = {value}</title></circle></a>"
        )
    return mark_safe("\n".join(points))  # noqa: S308 - every interpolated string is escaped above


# --- what other apps add to the pages (registry.panels) -------------------------------------------


PAGE_VARIABLES = ("request", "user", "csrf_token")


def _isolated(context, values: dict):
    """A context of ``values`` and the page's ``PAGE_VARIABLES``, nothing else of the page (as an inclusion
    tag's): a partial cannot come to depend on what one page happens to hold."""
    isolated = context.new(values)
    for name in PAGE_VARIABLES:
        if name in context:
            isolated[name] = context[name]
    return isolated


@register.simple_tag(takes_context=True)
def render_partial(context, template_name: str, values: dict):
    """``{% render_partial "app/x.html#part" values %}``: a partial with the context a selector made for it,
    isolated as a panel's is (pages outside ``registry`` that show a panel's partial, e.g. the request page)."""
    return context.template.engine.get_template(template_name).render(_isolated(context, values))


@register.simple_tag(takes_context=True)
def render_panel(context, shown):
    """``{% render_panel p %}`` for a ``registry.panels.ShownPanel``: its partial with its selector's context."""
    return render_partial(context, shown.panel.template, shown.context)


@register.simple_tag(takes_context=True)
def render_cell(context, column, row):
    """``{% render_cell column row %}`` for a ``registry.panels.ShownColumn``: the cell's partial with ``row``
    and its ``value`` (every row's value came from one call of the column's selector).

    The partial and its context are made once per column and page: a table renders hundreds of cells.
    """
    key = ("registry.render_cell", id(column))
    if key not in context.render_context:
        template = context.template.engine.get_template(column.column.template)
        context.render_context[key] = (template, _isolated(context, {}))
    template, cell_context = context.render_context[key]
    with cell_context.push(row=row, value=column.value(row)):
        return template.render(cell_context)


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
def version_url(model, number) -> str:
    """``{{ model|version_url:number }}`` for a model row carrying ``urls`` (see selectors)."""
    return model.urls.version(number)


@register.filter
def get_metric(metrics: dict, name: str):
    return (metrics or {}).get(name)


@register.filter
def direction(name: str) -> str:
    return metric_direction(name)


# --- values MLflow accepts that a plain template lookup or link would mishandle -------------------


@register.filter
def pairs(mapping) -> list[tuple]:
    """``{% for k, v in d|pairs %}``, sorted by key: ``d.items`` is ``d["items"]`` when a tag, param or
    alias is named ``items`` (the template language tries a key before an attribute)."""
    return sorted((mapping or {}).items(), key=lambda pair: str(pair[0]))


@register.filter
def dataset_url(digest) -> str:
    return links.dataset_url(digest or "")


@register.filter
def commit_url(git_commit) -> str:
    return links.commit_url(git_commit or "")


LONG_TEXT_CHARS = 300


@register.filter
def long_text(value) -> str:
    """A value of up to 100,000 characters (an MLflow registry tag): its first ``LONG_TEXT_CHARS``
    characters, the whole of it one click away in a ``<details>``. Escaped here, like ``chart_points``."""
    text = "" if value is None else str(value)
    if len(text) <= LONG_TEXT_CHARS:
        return text
    return format_html(
        '<details class="long-text"><summary>{}… <span class="muted">({} characters)</span></summary>{}</details>',
        text[:LONG_TEXT_CHARS],
        f"{len(text):,}",
        text,
    )


SCHEMA_PREVIEW_COLUMNS = 50


@register.filter
def schema_preview(columns: list) -> list:
    """The first columns of a schema (``schema_columns``): a schema may hold ~1 MB, 15,000 columns."""
    return columns[:SCHEMA_PREVIEW_COLUMNS]


register.filter("run_note", run_lifecycle_note)
register.filter("version_status", version_status_text)
