from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from registry.access import enforce
from registry.selectors import version_get_for_user

from . import access, selectors, services
from .checks import evaluate
from .forms import CommentForm, QueueForm, RequestCreateForm, ReviewForm, StageForm
from .selectors_governance import overdue_recertification, queue_governance


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


# --- transition requests ------------------------------------------------------------------------
# Refusals from the services (``approvals.access``): PermissionDenied propagates (403); RequestConflict is
# a 409 that shows its reason where the action was; ValidationError is a 400 with the errors on the form.

REQUEST_PAGE = "approvals/request_detail.html"


@login_required
def request_create(request, name, version):
    """The request form (on the version page as a panel, or alone without JavaScript) and its POST."""
    model_version = version_get_for_user(request.user, name, version)
    # The form is for those who may file; the service asks the same question again when it files.
    enforce(access.request_create_refusal(request.user, model_version))
    form = RequestCreateForm(request.POST or None, version=model_version)
    context = {"version": model_version, "form": form, "can_create": True}
    if request.method == "POST" and form.is_valid():
        try:
            created = services.transition_request_create(actor=request.user, version=model_version, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.RequestConflict as exc:
            context["open_request"] = selectors.open_request_for_version(model_version)
            return _create_form(request, {**context, "conflict": str(exc)}, status=409)
        else:
            messages.success(request, f"Request #{created.pk} filed: the reviewers are notified.")
            if request.htmx:
                return HttpResponseClientRedirect(created.get_absolute_url())
            return redirect(created)
    return _create_form(request, context, status=400 if form.errors else 200)


def _create_form(request, context, *, status):
    template = "approvals/request_panel.html" if request.htmx else "approvals/request_create.html"
    return render(request, template, context, status=status)


def _request_context(request, transition_request, **extra) -> dict:
    page = selectors.request_page(request.user, transition_request)
    return {
        "page": page,
        "tr": page.request,
        "review_form": ReviewForm(),
        "comment_form": CommentForm(),
        "comments": list(transition_request.comments.select_related("author")),
        "comment_refusal": page.comment_refusal,
        "overdue_recertification": overdue_recertification(page.version),
        **extra,
    }


def _decision(request, transition_request, *, status=200, **extra):
    """The decision block (status, reviews, actions) for htmx; else the whole request page."""
    if request.htmx:
        page = selectors.request_page(request.user, transition_request, with_details=False)
        # The nav's "Reviews" count changes with a decision: htmx swaps it out of band.
        context = {"page": page, "tr": page.request, "review_form": ReviewForm(), "refresh_nav": True, **extra}
        return render(request, f"{REQUEST_PAGE}#decision", context, status=status)
    return render(request, REQUEST_PAGE, _request_context(request, transition_request, **extra), status=status)


@login_required
@require_GET
def request_detail(request, pk):
    transition_request = selectors.request_get_for_user(request.user, pk)
    if not (request.htmx and request.htmx.target == "decision"):
        return render(request, REQUEST_PAGE, _request_context(request, transition_request))
    # Polled while a worker is on the request (its checks, its apply); then the answer stops the polling.
    page = selectors.request_page(request.user, transition_request, with_details=False)
    response = render(
        request, f"{REQUEST_PAGE}#decision", {"page": page, "tr": page.request, "review_form": ReviewForm()}
    )
    return response if page.keeps_polling else HttpResponseStopPolling(response.content)


def _after_action(request, transition_request, text: str):
    if request.htmx:
        return _decision(request, selectors.request_get_for_user(request.user, transition_request.pk))
    messages.success(request, text)
    return redirect(transition_request)


@login_required
@require_POST
def review_submit(request, pk):
    transition_request = selectors.request_get_for_user(request.user, pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            review = services.review_submit(actor=request.user, request=transition_request, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.RequestConflict as exc:
            return _decision(request, transition_request, status=409, conflict=str(exc))
        else:
            return _after_action(request, transition_request, f"You {review.decision}d request #{pk}.")
    return _decision(request, transition_request, status=400, review_form=form)


def _request_action(request, pk, service, done: str):
    """A button on the request page that takes no input: withdraw, retry."""
    transition_request = selectors.request_get_for_user(request.user, pk)
    try:
        service(actor=request.user, request=transition_request)
    except services.RequestConflict as exc:
        return _decision(request, transition_request, status=409, conflict=str(exc))
    return _after_action(request, transition_request, done.format(pk=pk))


@login_required
@require_POST
def request_withdraw(request, pk):
    return _request_action(request, pk, services.transition_request_withdraw, "Request #{pk} withdrawn.")


@login_required
@require_POST
def request_retry(request, pk):
    return _request_action(
        request, pk, services.transition_request_retry, "Request #{pk} is queued to be applied again."
    )


@login_required
@require_POST
def request_comment(request, pk):
    transition_request = selectors.request_get_for_user(request.user, pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.request_comment_create(
                actor=request.user, request=transition_request, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    status = 400 if form.errors else 200
    if request.htmx:
        context = {
            "tr": transition_request,
            "comments": list(transition_request.comments.select_related("author")),
            "comment_form": form if form.errors else CommentForm(),
            "comment_refusal": access.comment_refusal(request.user, transition_request),
        }
        return render(request, f"{REQUEST_PAGE}#comments", context, status=status)
    if form.errors:
        return render(
            request, REQUEST_PAGE, _request_context(request, transition_request, comment_form=form), status=400
        )
    messages.success(request, "Comment added.")
    return redirect(transition_request.get_absolute_url() + "#comments")


@login_required
@require_GET
def queue(request):
    """The reviewer queue: waiting for me, all open, recently decided."""
    form = QueueForm(request.GET)
    tab = (form.is_valid() and form.cleaned_data["tab"]) or "waiting"
    context = {"queue": selectors.review_queue(request.user, tab, request.GET.get("page"))}
    htmx_tab = request.htmx and request.htmx.target == "queue-tab"
    if not htmx_tab:
        context["governance"] = queue_governance(request.user)
    return render(request, "approvals/queue.html#tab" if htmx_tab else "approvals/queue.html", context)


@login_required
@require_POST
def unapproved_acknowledge(request, pk):
    unapproved = selectors.unapproved_get(pk)
    try:
        services.unapproved_transition_acknowledge(actor=request.user, unapproved=unapproved)
    except services.RequestConflict:
        messages.info(request, f"{unapproved.describe()} was already acknowledged.")
    else:
        messages.success(request, f"Acknowledged: {unapproved.describe()}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = ""
    return redirect(back or "registry:model_detail", *([] if back else [unapproved.model_name]))
