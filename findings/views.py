"""Pages of findings: the list (portal-wide or one model's), a finding's page and its actions, opening one from
the version page, carrying findings over. Refusals come from ``findings.access`` through the services:
PermissionDenied propagates (403, with its reason); a state conflict is a 409 shown on the page; bad input a 400
with the errors on the form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from registry.access import Conflict, enforce
from registry.selectors import version_get_for_user

from . import access, selectors, services
from .forms import CarryOverForm, FindingFilterForm, FindingOpenForm, RemediateForm

PER_PAGE = 25
DETAIL = "findings/finding_detail.html"


@login_required
@require_GET
def finding_list(request):
    form = FindingFilterForm(request.GET)
    if form.is_valid():
        data = form.cleaned_data
        found = selectors.findings_list(
            model_name=data["model"].strip(),
            severity=data["severity"],
            overdue=data["overdue"],
            owner=data["owner"],
            status=data["status"],
        )
        status = 200
    else:
        found, status = selectors.findings_list().none(), 400
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    template = "findings/finding_list.html#results" if request.htmx else "findings/finding_list.html"
    return render(request, template, {"form": form, "page": page, "model": request.GET.get("model", "")}, status=status)


def _detail(request, finding, *, status=200, **extra):
    context = {
        "page": selectors.finding_page(request.user, finding),
        "remediate_form": RemediateForm(),
        **extra,
    }
    return render(request, DETAIL, context, status=status)


@login_required
@require_GET
def finding_detail(request, pk):
    return _detail(request, selectors.finding_get_for_user(request.user, pk))


@login_required
def finding_open(request, name, version):
    """The form (on the version page as a panel, or alone after an error) and its POST."""
    model_version = version_get_for_user(request.user, name, version)
    enforce(access.open_refusal(request.user, model_version))
    form = FindingOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            finding = services.finding_open(actor=request.user, version=model_version, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Finding #{finding.pk} opened; {finding.owner.get_username()} owns it.")
            return redirect(finding)
    status = 400 if form.errors else 200
    return render(request, "findings/finding_open.html", {"form": form, "version": model_version}, status=status)


def _act(request, pk, call, done: str):
    finding = selectors.finding_get_for_user(request.user, pk)
    try:
        call(actor=request.user, finding_id=finding.pk)
    except Conflict as exc:
        return _detail(request, finding, status=409, conflict=str(exc))
    messages.success(request, done.format(pk=pk))
    return redirect(finding)


@login_required
@require_POST
def finding_remediate(request, pk):
    form = RemediateForm(request.POST)
    if not form.is_valid():
        finding = selectors.finding_get_for_user(request.user, pk)
        refusal = access.remediate_refusal(request.user, finding)
        if refusal is not None and not refusal.conflict:
            raise PermissionDenied(refusal.message)
        return _detail(request, finding, status=400, remediate_form=form)

    def remediate(*, actor, finding_id):
        services.finding_remediate(actor=actor, finding_id=finding_id, notes=form.cleaned_data["notes"])

    return _act(request, pk, remediate, "Finding #{pk} marked remediated: a reviewer or lead closes it.")


@login_required
@require_POST
def finding_close(request, pk):
    return _act(request, pk, services.finding_close, "Finding #{pk} closed.")


@login_required
@require_POST
def finding_accept(request, pk):
    return _act(request, pk, services.finding_accept, "Finding #{pk} accepted: the risk is taken.")


@login_required
@require_POST
def finding_reopen(request, pk):
    return _act(request, pk, services.finding_reopen, "Finding #{pk} reopened.")


@login_required
@require_POST
def finding_carry(request, name, version):
    """Carry the findings the model's owner picked from an older version to this one."""
    target = version_get_for_user(request.user, name, version)
    candidates = selectors.carry_candidates(target, list(selectors.version_findings(target)))
    form = CarryOverForm(request.POST, candidates=candidates)
    if form.is_valid():
        source = version_get_for_user(request.user, name, form.cleaned_data["from_version"])
        try:
            carried = services.findings_carry_over(
                actor=request.user, from_version=source, to_version=target, finding_ids=form.cleaned_data["finding_ids"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{len(carried)} finding(s) carried over from v{source.version}.")
            return redirect(target.get_absolute_url() + "#findings")
    elif candidates:
        enforce(access.carry_over_refusal(request.user, candidates[0].version, target))
    context = {"form": form, "version": target, "candidates": candidates}
    return render(request, "findings/carry_over.html", context, status=400)
