from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import render

from . import selectors
from .exports import export_response
from .forms import AuditFilterForm

PAGE_SIZE = 50


@login_required
def audit_log(request):
    form = AuditFilterForm(request.GET)
    valid = form.is_valid()
    events = selectors.event_list_for_user(request.user, form.cleaned_data if valid else None)
    if request.GET.get("format"):
        if not valid:
            return HttpResponseBadRequest(
                "Cannot export: the filter is invalid.\n" + form.errors.as_text(), content_type="text/plain"
            )
        return export_response(events, form.cleaned_data["format"])
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "audit/log.html#results" if request.htmx else "audit/log.html"
    return render(request, template, {"form": form, "page": page})
