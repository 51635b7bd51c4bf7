"""Review pages. Each view parses its input, calls selectors, and renders the page or, for htmx, the
fragment named by the request's ``HX-Target`` (the page template owns it as a partial)."""

import json
from functools import partial, wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from . import panels, selectors, services
from .access import owners_manage_refusal, sync_refusal
from .forms import LineageSearchForm, ModelFilterForm, ReverseLineageForm, VersionTableForm
from .lineage import version_lineage
from .models import SyncRun


def _follow_renames(view):
    """A page under a model's old name (``ModelRenamed``) redirects to the same page under its new name."""

    @wraps(view)
    def wrapper(request, name, **kwargs):
        try:
            return view(request, name, **kwargs)
        except selectors.ModelRenamed as renamed:
            match = request.resolver_match
            url = reverse(match.view_name, kwargs={**match.kwargs, "name": renamed.new_name})
            query = request.META.get("QUERY_STRING", "")
            # Temporary: a model of the old name may appear again.
            return HttpResponseRedirect(f"{url}?{query}" if query else url)

    return wrapper


def _render(request, template: str, context: dict, fragments: tuple[str, ...] = ()):
    """The whole page, or the partial whose id htmx is about to swap (when the page owns one)."""
    target = request.htmx.target if request.htmx else None
    if target in fragments:
        return render(request, f"{template}#{target}", context)
    return render(request, template, context)


@login_required
@require_GET
def model_list(request):
    form = ModelFilterForm(request.GET)
    form.is_valid()
    page = selectors.model_list_page(request.user, form.filters(), request.GET.get("page"))
    objects = panels.PageObjects("model_list", request.user)
    context = {
        "form": form,
        "page": page,
        # Callables: the template evaluates them only when it renders the whole page (panels too).
        "owners": selectors.owner_choices,
        "sync": selectors.sync_run_latest_running,
        "can_sync": lambda: sync_refusal(request.user) is None,  # whole page only
        "panels": panels.panels_for(objects),
        "columns": panels.columns_for(objects, page),
    }
    return _render(request, "registry/model_list.html", context, fragments=("results",))


def _sync_now(request, model=None):
    """ "Sync now" of ``model`` (None: the whole registry): the sync's status, or 429 inside the cooldown."""
    try:
        sync_run = services.sync_now(actor=request.user, model=model)
    except services.SyncTooSoon as too_soon:
        context = {"too_soon": too_soon, "model": model}
        template = "registry/sync_detail.html#too-soon" if request.htmx else "registry/sync_too_soon.html"
        response = render(request, template, context, status=429)
        response["Retry-After"] = str(too_soon.retry_after)
        return response
    if request.htmx:
        return render(request, "registry/sync_detail.html#status", {"sync": sync_run})
    if sync_run.is_done:
        level = {SyncRun.SUCCEEDED: messages.SUCCESS, SyncRun.PARTIAL: messages.WARNING}.get(
            sync_run.status, messages.ERROR
        )
        text = f"Sync #{sync_run.pk} {sync_run.status}."
        if sync_run.error:
            text += f" {sync_run.error[:300]}"
        messages.add_message(request, level, text)
    else:
        messages.info(request, f"Sync #{sync_run.pk} is running; reload this page to see the result.")
    return redirect(model.get_absolute_url() if model is not None else "registry:model_list")


@login_required
@require_POST
def sync_now(request):
    return _sync_now(request)


@login_required
@require_POST
@_follow_renames
def model_sync(request, name):
    return _sync_now(request, selectors.model_get_for_user(request.user, name))


@login_required
@require_GET
def sync_status(request, pk):
    sync_run = get_object_or_404(SyncRun, pk=pk)
    if not request.htmx:
        return render(request, "registry/sync_detail.html", {"sync": sync_run})
    response = render(request, "registry/sync_detail.html#status", {"sync": sync_run})
    if not sync_run.is_done:
        return response
    done = HttpResponseStopPolling(response.content)
    # The model list reloads its rows when the sync it started has finished.
    return trigger_client_event(done, "synced")


@login_required
@require_GET
@_follow_renames
def model_detail(request, name):
    form = VersionTableForm(request.GET)
    form.is_valid()
    shown = selectors.model_page(
        request.user,
        name,
        sort=form.ordering,
        chart=form.cleaned_data.get("chart") or "",
        page_number=request.GET.get("page"),
    )
    objects = panels.PageObjects("model", request.user, model=shown.model)
    context = {
        "form": form,
        "model": shown.model,
        "sort": shown.sort,
        "page": shown.page,
        "version_count": shown.version_count,
        "key_metrics": shown.key_metrics,
        "all_metrics": shown.all_metrics,
        "chart_metric": shown.chart_metric,
        "chart": shown.chart,
        "headline": shown.headline,
        "timeline": shown.timeline,  # a method: evaluated only when the whole page renders
        "owner_suggestion": selectors.tag_suggestion(shown.model),
        "can_manage_owners": owners_manage_refusal(request.user) is None,
        "can_sync": lambda: sync_refusal(request.user, shown.model) is None,  # whole page only
        "panels": panels.panels_for(objects),
        "columns": panels.columns_for(objects, shown.page),
    }
    return _render(request, "registry/model_detail.html", context, fragments=("versions", "chart"))


@login_required
@require_GET
@_follow_renames
def version_detail(request, name, version):
    review = selectors.version_review_for_user(request.user, name, version)
    model_version = review.version
    objects = panels.PageObjects("version", request.user, model=model_version.model, version=model_version)
    context = {
        "review": review,
        "version": model_version,
        "run": review.run,
        "logged_model": model_version.mirrored_logged_model,
        "production": review.production,
        "compared": review.is_compared,
        "deltas": review.comparison.deltas,
        "params": review.params,
        "panels": panels.panels_for(objects),
    }
    return render(request, "registry/version_detail.html", context)


def _wants_json(request) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


@login_required
@require_GET
@_follow_renames
def version_lineage_view(request, name, version):
    wants_json = _wants_json(request)
    try:
        model_version = selectors.version_get_for_user(request.user, name, version)
    except Http404:
        if not wants_json:
            raise
        return JsonResponse({"error": f"No version {version} of model {name!r}."}, status=404)
    lineage = version_lineage(model_version, selectors.version_inputs(model_version))
    if wants_json:
        response = JsonResponse(lineage.as_json())
    else:
        response = render(request, "registry/lineage.html", {"version": model_version, "lineage": lineage})
    # The same URL answers HTML or JSON: caches must key on Accept.
    patch_vary_headers(response, ["Accept"])
    return response


def _render_reverse_lineage(request, template: str, context: dict, trained_from):
    """Dataset and commit pages: the stage filter, then one page of the versions ``trained_from`` lists."""
    form = ReverseLineageForm(request.GET)
    form.is_valid()
    lineage = trained_from(stage=form.cleaned_data.get("stage", ""), page_number=request.GET.get("page"))
    return _render(request, template, {**context, "form": form, "lineage": lineage}, fragments=("versions",))


@login_required
@require_GET
def dataset_detail(request, digest):
    datasets = selectors.datasets_by_digest(request.user, digest)
    return _render_reverse_lineage(
        request,
        "registry/dataset_detail.html",
        {"datasets": datasets, "digest": digest},
        partial(selectors.versions_trained_on, request.user, datasets),
    )


@login_required
@require_GET
def dataset_schema(request, pk):
    """A dataset's whole schema as JSON: pages show only its first columns (a schema may hold ~1 MB)."""
    dataset = selectors.dataset_get_for_user(request.user, pk)
    try:
        schema = json.loads(dataset.schema) if dataset.schema else None
    except ValueError:
        schema = dataset.schema  # not JSON: the exact text
    return JsonResponse({"name": dataset.name, "digest": dataset.digest, "schema": schema})


@login_required
@require_GET
def commit_detail(request, prefix):
    commits = selectors.commits_matching(request.user, prefix)
    return _render_reverse_lineage(
        request,
        "registry/commit_detail.html",
        {"commits": commits, "prefix": prefix.lower()},
        partial(selectors.versions_from_commit, request.user, prefix),
    )


@login_required
@require_GET
def lineage_search(request):
    form = LineageSearchForm(request.GET if "q" in request.GET else None)
    results = selectors.lineage_search(request.user, form.cleaned_data["q"]) if form.is_valid() else None
    return _render(request, "registry/lineage_search.html", {"form": form, "results": results}, fragments=("results",))
