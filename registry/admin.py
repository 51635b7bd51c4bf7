from django.contrib import admin

from .models import ModelVersion, RegisteredModel, SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "status", "trigger", "model_name", "started_at", "finished_at")
    list_filter = ("status",)


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "owner_tag", "updated_at")
    search_fields = ("name",)

    def has_change_permission(self, request, obj=None):
        return False  # the mirror is rebuilt by sync; MLflow is the source of truth


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("model", "version", "stage", "status")
    list_filter = ("stage",)

    def has_change_permission(self, request, obj=None):
        return False
