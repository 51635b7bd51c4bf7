from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry.selectors import version_get_for_user

from . import selectors, services
from .checks import evaluate
from .forms import StageForm


@login_required
def version_checks(request, name, version):
    """The version's latest check run; the panel polls this while the run is queued or running."""
    model_version = version_get_for_user(request.user, name, version)
    context = selectors.checks_panel(model_version, request.user)
    template = "approvals/version_checks.html#panel" if request.htmx else "approvals/version_checks.html"
    return render(request, template, context)


@login_required
@require_POST
def check_run_start(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    form = StageForm(request.POST)
    if not form.is_valid():
        context = {**selectors.checks_panel(model_version, request.user), "form_errors": form.errors["stage"]}
        template = "approvals/version_checks.html#panel" if request.htmx else "approvals/version_checks.html"
        return render(request, template, context, status=400)
    services.check_run_create(version=model_version, stage=form.cleaned_data["stage"], actor=request.user)
    if request.htmx:
        return render(
            request, "approvals/version_checks.html#panel", selectors.checks_panel(model_version, request.user)
        )
    messages.info(request, f"Checks against the {form.cleaned_data['stage']} policy are queued.")
    return redirect(model_version.get_absolute_url() + "#checks")


@login_required
def dry_run(request, name, version):
    """ "What would block this?": every rule evaluated now, nothing stored."""
    model_version = version_get_for_user(request.user, name, version)
    form = StageForm(request.GET or {"stage": "Production"})
    evaluation = evaluate(model_version, form.cleaned_data["stage"]) if form.is_valid() else None
    context = {"version": model_version, "form": form, "evaluation": evaluation}
    template = "approvals/dry_run.html#report" if request.htmx else "approvals/dry_run.html"
    return render(request, template, context, status=200 if evaluation else 400)


@login_required
def check_run_detail(request, pk):
    check_run = selectors.check_run_get_for_user(request.user, pk)
    context = {
        "check_run": check_run,
        "results": check_run.results.order_by("position"),
        "is_stale": check_run.is_done and check_run.is_stale,
    }
    template = "approvals/check_run_detail.html#run" if request.htmx else "approvals/check_run_detail.html"
    return render(request, template, context)
