"""Cards in admin, read-only: revisions are written by the card editor and published by the worker, both audited."""

from django.contrib import admin

from registry_portal.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import CardPublication, CardRevision, ModelCard


class CardRevisionInline(ReadOnlyInline):
    model = CardRevision
    fields = ("number", "author", "created_at", "summary", "percent")
    readonly_fields = fields
    show_change_link = True


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyAdmin):
    list_display = ("model_name", "version", "created_at")
    search_fields = ("model_name",)
    inlines = [CardRevisionInline]


@admin.register(CardRevision)
class CardRevisionAdmin(ReadOnlyAdmin):
    list_display = ("card", "number", "author", "created_at", "percent")
    list_select_related = ("card",)


@admin.register(CardPublication)
class CardPublicationAdmin(ReadOnlyAdmin):
    list_display = ("revision", "status", "attempts", "queued_at", "published_at")
    list_filter = ("status",)
