"""The "My tokens" page (list, create with the secret shown once, revoke); signing in and out; the roles page
(admins)."""

import datetime as dt
import math

from axes.helpers import get_client_username
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, OIDCLogoutView

from registry import selectors as registry_selectors
from registry import services as registry_services
from registry_portal.access import enforce

from . import selectors, services
from .access import role_change_refusal, roles_page_refusal
from .auth import client_address, client_ip
from .forms import ModelNameForm, ModelOwnerForm, RoleMemberForm, TokenCreateForm
from .models import LoginFailureWindow


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
    return render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request, pk):
    token = services.api_token_revoke(actor=request.user, token=selectors.token_get_for_user(request.user, pk))
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("accounts:tokens")


def _minutes_until(moment) -> int:
    return max(1, math.ceil((moment - timezone.now()).total_seconds() / 60))


def locked_out(request, original_response=None, credentials=None):
    """django-axes's lockout page (``AXES_LOCKOUT_CALLABLE``): 429, saying when to try again."""
    username = get_client_username(request, credentials) or ""
    ends_at = selectors.lockout_ends_at(username, client_ip(request)) or timezone.now() + settings.AXES_COOLOFF_TIME
    message = (
        f"Too many failed sign-ins for {username or 'this account'} from your address: "
        f"try again in {_minutes_until(ends_at)} minutes."
    )
    return render(request, "registration/locked_out.html", {"message": message}, status=429)


class SignInView(auth_views.LoginView):
    """Django's sign-in page, plus "Sign in with <provider>" when single sign-on is on; the password form only when
    local accounts are on. A wrong password answers 400; a locked-out client 429 (``locked_out``)."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            sso_enabled=settings.OIDC_ENABLED,
            provider_name=settings.OIDC_PROVIDER_NAME,
            local_login_enabled=settings.LOCAL_LOGIN_ENABLED,
            sso_failed=self.request.GET.get("sso") == "failed",
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            context = self.get_context_data(
                refusal=f"Password sign-in is turned off here: sign in with {settings.OIDC_PROVIDER_NAME}."
            )
            return self.render_to_response(context, status=403)
        address = client_address(request)
        if selectors.login_failures_from(address, timezone.now()) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            window_end = LoginFailureWindow.start_of(timezone.now()) + dt.timedelta(
                seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS
            )
            message = f"Too many failed sign-ins from your address: try again in {_minutes_until(window_end)} minutes."
            return render(request, "registration/locked_out.html", {"message": message}, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class SignInStart(OIDCAuthenticationRequestView):
    """``/accounts/oidc/start/``: off (404) unless single sign-on is on; then to the provider's sign-in."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not set up here.")
        return super().dispatch(request, *args, **kwargs)


class SignInCallback(OIDCAuthenticationCallbackView):
    """``/accounts/oidc/callback/``: where the provider sends the browser back with its code."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not set up here.")
        return super().dispatch(request, *args, **kwargs)


class SignOutView(OIDCLogoutView):
    """POST ``/accounts/logout/``: ends the portal session; a user who signed in through the provider goes on to its
    end-session endpoint when there is one (``oidc.provider_logout_url``), else to the sign-in page."""


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
