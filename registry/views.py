from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors


@login_required
def model_list(request):
    query = request.GET.get("q", "").strip()
    stage = request.GET.get("stage", "")
    owner = request.GET.get("owner", "")
    models = selectors.model_list_for_user(request.user, query=query, stage=stage, owner=owner)
    page = Paginator(models, 50).get_page(request.GET.get("page"))
    context = {"page": page, "q": query, "stage": stage, "owner": owner, "owners": selectors.owner_choices()}
    template = "registry/model_list.html#results" if request.htmx else "registry/model_list.html"
    return render(request, template, context)


@login_required
def model_detail(request, name):
    model = selectors.model_get_for_user(request.user, name)
    versions = model.versions.select_related("run").order_by("-version")
    return render(request, "registry/model_detail.html", {"model": model, "versions": versions})


@login_required
def version_detail(request, name, version):
    model_version = selectors.version_get_for_user(request.user, name, version)
    return render(
        request, "registry/version_detail.html", {"version": model_version, "run": model_version.mirrored_run}
    )
