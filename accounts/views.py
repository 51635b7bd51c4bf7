"""The "My tokens" page (list, create with the secret shown once, revoke); signing in and out."""

import datetime as dt
import math

from axes.helpers import get_client_username
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView, OIDCLogoutView

from . import selectors, services
from .auth import client_address, client_ip
from .forms import TokenCreateForm
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
