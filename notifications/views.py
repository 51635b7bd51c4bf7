"""My notifications (a user's email preferences) and the admins' list of deliveries with "Retry"."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from registry_portal import roles
from registry_portal.access import Conflict

from . import access, defaults, selectors, services
from .forms import DeliveryFilterForm, PreferencesForm


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    subscription = selectors.email_subscription_of(request.user)
    initial = {
        # No subscription yet: what the dispatcher will give them by role (notifications.defaults), so saving the
        # page as shown keeps the mails they get.
        "actions": subscription.actions
        if subscription
        else defaults.actions_for(
            request.user,
            request.user.groups.values_list("name", flat=True),
            owns_a_model=bool(roles.owned_model_names(request.user)),
        ),
        "model_names": "\n".join(subscription.model_names) if subscription else "",
        "digest": subscription.digest if subscription else False,
    }
    form = PreferencesForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_valid():
        services.email_preferences_save(
            actor=request.user,
            actions=form.cleaned_data["actions"],
            model_names=form.cleaned_data["model_names"],
            digest=form.cleaned_data["digest"],
        )
        messages.success(request, "Your notification preferences are saved.")
        return redirect("notifications:preferences")
    context = {"form": form, "subscription": subscription}
    return render(request, "notifications/preferences.html", context, status=400 if form.errors else 200)


@login_required
def deliveries(request):
    if refusal := access.deliveries_view_refusal(request.user):
        raise PermissionDenied(refusal.message)
    form = DeliveryFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.deliveries_page(status=filters.get("status") or "", page=filters.get("page") or 1)
    return render(
        request, "notifications/deliveries.html", {"form": form, "page": page, "status": filters.get("status") or ""}
    )


@login_required
@require_POST
def delivery_retry(request, pk):
    form = DeliveryFilterForm(request.POST)
    status = (form.cleaned_data.get("status") if form.is_valid() else "") or ""
    try:
        delivery = services.delivery_retry(actor=request.user, delivery=selectors.delivery_get(pk))
    except Conflict as exc:
        messages.error(request, str(exc))
        context = {"form": form, "page": selectors.deliveries_page(status=status), "status": status}
        return render(request, "notifications/deliveries.html", context, status=409)
    messages.success(request, f"Delivery #{delivery.pk} will be sent again.")
    return redirect(reverse("notifications:deliveries") + (f"?status={status}" if status else ""))
