"""The audit log in admin, read-only: events are appended by audit.services.record and never edited."""

from django.contrib import admin

from registry_portal.admin import ReadOnlyAdmin

from .models import AuditChainHead, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "actor", "action", "target_type", "target_id", "model_name", "version")
    list_filter = ("action",)
    search_fields = ("actor", "model_name", "target_id")


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ("seq", "hash")
