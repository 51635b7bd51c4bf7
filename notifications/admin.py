"""Webhook subscriptions are configured here by admins; email subscriptions belong to their users' page."""

from django import forms
from django.contrib import admin

from .events import NOTIFIABLE, OWNED_NOTIFIABLE
from .models import Delivery, Subscription


class SubscriptionForm(forms.ModelForm):
    # Chosen from the event catalogue (audit actions and derived keys such as checks.failed), not typed as JSON.
    actions = forms.MultipleChoiceField(
        # owned: keys match on an email subscription's user's models only; a webhook owns nothing.
        choices=[*NOTIFIABLE.items(), *OWNED_NOTIFIABLE.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Subscription
        fields = ("channel", "name", "url", "secret", "user", "actions", "model_names", "active")

    def clean_actions(self) -> list[str]:
        return sorted(self.cleaned_data["actions"])


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("__str__", "channel", "active", "cursor", "created_at")
    list_filter = ("channel", "active")
    fields = ("channel", "name", "url", "secret", "user", "actions", "model_names", "active", "cursor")
    readonly_fields = ("cursor",)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("pk", "subscription", "event", "status", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("status",)
    list_select_related = ("subscription__user", "event")
    readonly_fields = [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False
