"""The "My tokens" page: list, create (the secret shown once), revoke."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
from .forms import TokenCreateForm


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
