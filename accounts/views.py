"""The "My tokens" page: list, create (the secret shown once), revoke; the roles page (admins)."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import selectors as registry_selectors
from registry import services as registry_services
from registry_portal.access import enforce

from . import selectors, services
from .access import role_change_refusal, roles_page_refusal
from .forms import ModelNameForm, ModelOwnerForm, RoleMemberForm, TokenCreateForm


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    secret = None
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        _, secret = services.api_token_create(
            actor=request.user,
            user=request.user,
            name=form.cleaned_data["name"],
            expires_at=timezone.now() + dt.timedelta(days=days) if days else None,
        )
        form = TokenCreateForm()
    context = {"form": form, "tokens": selectors.tokens_of(request.user), "secret": secret}
    return render(request, "accounts/tokens.html", context)


@login_required
@require_POST
def token_revoke(request, pk):
    token = services.api_token_revoke(actor=request.user, token=selectors.token_get_for_user(request.user, pk))
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("accounts:tokens")


# --- the roles page (admins): group members and model owners, every change audited (docs/roles.md) ---------


def _roles_page(request, *, status=200, **forms):
    enforce(roles_page_refusal(request.user))
    context = {
        "members": selectors.role_members(),
        "models": registry_selectors.model_owners_all(),
        "member_form": forms.get("member_form") or RoleMemberForm(),
        "owner_form": forms.get("owner_form") or ModelOwnerForm(),
        "errors": forms.get("errors", []),
    }
    return render(request, "accounts/roles.html", context, status=status)


def _back(request, default: str = "accounts:roles"):
    """Where a change made from another page (the model page's "make owner") returns: its safe ``next``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


@login_required
@require_GET
def roles_page(request):
    return _roles_page(request)


@login_required
@require_POST
def role_member_change(request, change: str):
    """``change``: ``add`` or ``remove`` the form's user to/from its role (``accounts.services.user_roles_set``)."""
    enforce(roles_page_refusal(request.user))
    form = RoleMemberForm(request.POST)
    if form.is_valid():
        member, role = form.cleaned_data["user"], form.cleaned_data["role"]
        enforce(role_change_refusal(request.user, member, role))
        current = set(services.roles_of(member))
        if change == "add" and role in current:
            form.add_error("user", f"{member.get_username()} is already in {role}.")
        elif change == "remove" and role not in current:
            form.add_error("user", f"{member.get_username()} is not in {role}.")
        else:
            wanted = current | {role} if change == "add" else current - {role}
            services.user_roles_set(actor=request.user, user=member, roles=wanted, managed={role}, via="roles page")
            verb = "added to" if change == "add" else "removed from"
            messages.success(request, f"{member.get_username()} {verb} {role}.")
            return redirect("accounts:roles")
    return _roles_page(request, status=400, member_form=form)


@login_required
@require_POST
def owner_add(request):
    enforce(roles_page_refusal(request.user))
    form = ModelOwnerForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            row = registry_services.model_owner_add(
                actor=request.user, model=data["model"], user=data["user"], group=data["group"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{row.label} now owns {data['model'].name}.")
            return _back(request)
    return _roles_page(request, status=400, owner_form=form)


@login_required
@require_POST
def owner_remove(request, pk):
    enforce(roles_page_refusal(request.user))
    row = registry_selectors.model_owner_get(pk)
    try:
        registry_services.model_owner_remove(actor=request.user, owner=row)
    except ValidationError as exc:
        return _roles_page(request, status=400, errors=exc.messages)
    messages.success(request, f"{row.label} no longer owns {row.model.name}.")
    return _back(request)


@login_required
@require_POST
def owner_tag_dismiss(request):
    enforce(roles_page_refusal(request.user))
    form = ModelNameForm(request.POST)
    if not form.is_valid():
        return _roles_page(request, status=400, errors=[e for errors in form.errors.values() for e in errors])
    model = form.cleaned_data["model"]
    if registry_services.owner_tag_dismiss(actor=request.user, model=model):
        messages.success(request, f"The owner tag change of {model.name} is dismissed; its owners are unchanged.")
    return _back(request)
