"""Pages of waivers and re-certifications: request a waiver beside a failed rule, attest, withdraw; and the
model page's "Set tier" form."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from registry.access import Conflict
from registry.selectors import model_get_for_user, version_get_for_user

from . import selectors_governance as sg
from . import services
from .forms import RiskTierForm
from .rules import STAGES


class WaiverForm(forms.Form):
    stage = forms.ChoiceField(choices=[(s, s) for s in STAGES], initial="Production")
    rule_id = forms.CharField(max_length=100)
    justification = forms.CharField(widget=forms.Textarea)
    expires_at = forms.DateTimeField(help_text="UTC, at most 365 days ahead")


class AttestForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    comment = forms.CharField(widget=forms.Textarea, required=False)


@login_required
def waiver_create(request, name, version):
    model_version = version_get_for_user(request.user, name, version)
    form = WaiverForm(request.POST or None, initial={"rule_id": request.GET.get("rule", "")})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                waiver = services.waiver_create(actor=request.user, version=model_version, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, f"Waiver #{waiver.pk} requested: two reviewers must approve it.")
                return redirect(waiver)
    return render(request, "approvals/waiver_create.html", {"form": form, "version": model_version}, status=status)


@login_required
@require_GET
def waiver_detail(request, pk):
    waiver = sg.waiver_get_for_user(request.user, pk)
    return render(
        request,
        "approvals/attestation_subject.html",
        {**sg.subject_page(request.user, waiver), "form": AttestForm(), "kind": "waiver"},
    )


@login_required
@require_GET
def recertification_detail(request, pk):
    recert = sg.recertification_get_for_user(request.user, pk)
    return render(
        request,
        "approvals/attestation_subject.html",
        {**sg.subject_page(request.user, recert), "form": AttestForm(), "kind": "recertification"},
    )


def _attest(request, subject, kind):
    form = AttestForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            services.attestation_give(actor=request.user, subject=subject, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
            status = 409
        else:
            messages.success(request, "Your attestation was recorded.")
            return redirect(subject)
    ctx = {**sg.subject_page(request.user, subject), "form": form, "kind": kind}
    return render(request, "approvals/attestation_subject.html", ctx, status=status)


@login_required
@require_POST
def waiver_attest(request, pk):
    return _attest(request, sg.waiver_get_for_user(request.user, pk), "waiver")


@login_required
@require_POST
def recertification_attest(request, pk):
    return _attest(request, sg.recertification_get_for_user(request.user, pk), "recertification")


@login_required
@require_POST
def waiver_withdraw(request, pk):
    waiver = sg.waiver_get_for_user(request.user, pk)
    try:
        services.waiver_withdraw(actor=request.user, waiver=waiver)
    except Conflict as exc:
        messages.error(request, str(exc))
    except PermissionDenied:
        raise
    else:
        messages.success(request, f"Waiver #{pk} withdrawn.")
    return redirect(waiver)


@login_required
@require_GET
def governance_list(request):
    return render(
        request,
        "approvals/governance_list.html",
        {
            "waivers": sg.open_waivers(request.user)[:100],
            "recertifications": sg.open_recertifications(request.user)[:100],
        },
    )


@login_required
@require_POST
def risk_tier_set(request, name):
    """Set or clear the model's tier (ML leads and admins: the service refuses others with 403)."""
    model = model_get_for_user(request.user, name)
    form = RiskTierForm(request.POST)
    if form.is_valid():
        try:
            services.risk_tier_set(actor=request.user, model_name=model.name, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            tier = form.cleaned_data["tier"]
            messages.success(request, f"Risk tier of {model.name}: {tier if tier is not None else 'none'}.")
            return redirect(model)
    return render(request, "approvals/risk_tier_form.html", {"form": form, "model": model}, status=400)
