"""The mirror, read-only: sync rebuilds it from MLflow (the source of truth), so admin only shows it."""

from django.contrib import admin

from registry_portal.admin import ReadOnlyAdmin

from .models import (
    Dataset,
    LoggedModel,
    ModelOwner,
    ModelRename,
    ModelVersion,
    RegisteredModel,
    Run,
    StageChange,
    SyncRun,
    WebhookDelivery,
)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "status", "trigger", "model_name", "started_at", "finished_at")
    list_filter = ("status",)


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner_tag", "updated_at")
    search_fields = ("name",)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("model", "version", "stage", "status")
    list_filter = ("stage",)
    list_select_related = ("model",)


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("run_id", "run_name", "experiment_name", "status")
    search_fields = ("run_id", "run_name")


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "digest")
    search_fields = ("name", "digest")


@admin.register(LoggedModel)
class LoggedModelAdmin(ReadOnlyAdmin):
    list_display = ("model_id", "name")
    search_fields = ("model_id", "name")


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("model_name", "version", "kind", "alias", "from_value", "to_value", "seen_at")
    list_filter = ("kind",)
    search_fields = ("model_name",)


@admin.register(ModelRename)
class ModelRenameAdmin(ReadOnlyAdmin):
    list_display = ("old_name", "new_name", "renamed_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("delivery_id", "entity", "action", "model_name", "received_at")


@admin.register(ModelOwner)
class ModelOwnerAdmin(ReadOnlyAdmin):
    """Owners are assigned on the roles page (audited: registry.owner_added / owner_removed)."""

    list_display = ("model", "user", "group")
    list_select_related = ("model", "user", "group")
