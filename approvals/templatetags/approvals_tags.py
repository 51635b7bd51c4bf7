import json

from django import template
from django.utils.html import format_html, format_html_join

from approvals import selectors, services
from approvals.forms import RequestCreateForm

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


# --- transition requests ------------------------------------------------------------------------
# Tags for many rows load what every row needs on their first call and keep it in the render context
# (like ``card_status``): one query per page, whatever the number of rows.


def _cached(context, key, load):
    value = context.render_context.get(key)
    if value is None:
        value = context.render_context[key] = load()
    return value


@register.inclusion_tag("approvals/request_panel.html", takes_context=True)
def request_panel(context, version, user):
    """``{% request_panel version user %}``: the version's open request, or the form to file one."""
    can_create = services.request_can_create(user, version)
    open_request = selectors.open_request_for_version(version)
    return {
        "version": version,
        "open_request": open_request,
        "can_create": can_create,
        "form": RequestCreateForm(version=version) if can_create and open_request is None else None,
        "csrf_token": context.get("csrf_token"),
    }


def _open_requests(context, model_name):
    return _cached(
        context, ("approvals.open_requests", model_name), lambda: selectors.open_requests_by_version(model_name)
    )


@register.inclusion_tag("approvals/model_requests.html", takes_context=True)
def model_requests(context, model):
    """``{% model_requests model %}``: the model's open requests (shares its query with ``version_request``)."""
    return {"requests": list(_open_requests(context, model.name).values()), "model": model}


@register.simple_tag(takes_context=True)
def version_request(context, version, model):
    """``{% version_request v model %}``: the versions table's cell, the version's open request as a
    status badge linking to it, or a dash."""
    open_request = _open_requests(context, model.name).get(version.version)
    if open_request is None:
        return format_html('<span class="muted">—</span>')
    return format_html(
        '<a class="badge {}" href="{}" title="request #{} by {}">→ {}: {}</a>',
        open_request.status,
        open_request.get_absolute_url(),
        open_request.pk,
        open_request.requested_by.get_username(),
        open_request.to_stage,
        open_request.status,
    )


def _unapproved(context):
    return _cached(context, "approvals.unapproved", selectors.unacknowledged_by_model)


@register.simple_tag(takes_context=True)
def request_count(context, model, page):
    """The model list's cell: open requests of ``model`` (counted for every row of ``page`` at once),
    and a marker when MLflow shows a change no request approved."""
    counts = _cached(context, "approvals.request_counts", lambda: selectors.open_request_counts([m.name for m in page]))
    count = counts.get(model.name, 0)
    cell = (
        format_html('<a class="badge pending" href="{}#requests-title">{} open</a>', model.urls.model, count)
        if count
        else format_html('<span class="muted">—</span>')
    )
    unapproved = _unapproved(context).get(model.name)
    if unapproved:
        cell += format_html(
            ' <a class="badge bad unapproved-marker" href="{}#unapproved" title="{}">unapproved change</a>',
            model.urls.model,
            "; ".join(u.describe() for u in unapproved),
        )
    return cell


@register.inclusion_tag("approvals/unapproved_banner.html", takes_context=True)
def unapproved_banner(context, model=None):
    """``{% unapproved_banner %}`` (every model) or ``{% unapproved_banner model %}``: out-of-band changes
    not acknowledged yet, with Acknowledge buttons for admins."""
    found = selectors.unacknowledged_by_model(model.name) if model is not None else _unapproved(context)
    request = context.get("request")
    return {
        "found": found,
        "model": model,
        "user": context.get("user"),
        "next": request.get_full_path() if request else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def model_names(found: dict) -> str:
    return format_html_join(", ", "<strong>{}</strong>", ((name,) for name in found))
