"""The evidence pack's pages: the printable HTML page and its downloads, for whoever may read the version page."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from registry.selectors import ModelRenamed, version_get_for_user

from . import documents
from .pack import build_pack


def _version_pack(view):
    """Read access as the version page's (``version_get_for_user``: 404 for an unknown model or version), and the
    same page under a renamed model's new name."""

    @wraps(view)
    def wrapper(request, name, version):
        try:
            model_version = version_get_for_user(request.user, name, version)
        except ModelRenamed as renamed:
            match = request.resolver_match
            return HttpResponseRedirect(reverse(match.view_name, kwargs={**match.kwargs, "name": renamed.new_name}))
        return view(request, build_pack(model_version))

    return login_required(require_GET(wrapper))


def _download(pack: dict, suffix: str) -> HttpResponse:
    content_type = documents.FORMATS[suffix][0]
    response = HttpResponse(documents.render(pack, suffix), content_type=content_type)
    stem = f"evidence-{pack['version']['model_name']}-v{pack['version']['version']}"
    response["Content-Disposition"] = f'attachment; filename="{stem}{suffix}"'
    return response


@_version_pack
def evidence_page(request, pack):
    return render(request, documents.TEMPLATE, {"pack": pack, "links": True})


@_version_pack
def evidence_zip(request, pack):
    return _download(pack, ".zip")


@_version_pack
def evidence_pdf(request, pack):
    return _download(pack, ".pdf")
