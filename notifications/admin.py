"""Webhook subscriptions are configured here by admins; email subscriptions belong to their users' page."""

from django.contrib import admin

from .models import Delivery, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
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
