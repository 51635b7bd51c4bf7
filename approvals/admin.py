from django.contrib import admin

from registry_portal.admin import ReadOnlyAdmin, ReadOnlyInline

from . import services
from .models import CheckResult, CheckRun, Policy, RequestComment, Review, TransitionRequest, UnapprovedTransition


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Rules are validated by ``Policy.clean`` (errors show on the field); every change is audited."""

    list_display = ("__str__", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")
    fields = ("model_name", "tier", "description", "rules", "updated_at", "updated_by")

    def save_model(self, request, obj, form, change):
        services.policy_save(actor=request.user, policy=obj)

    def delete_model(self, request, obj):
        services.policy_delete(actor=request.user, policy=obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset.exclude(model_name="", tier__isnull=True):
            services.policy_delete(actor=request.user, policy=policy)

    def has_delete_permission(self, request, obj=None):
        # The default can be edited or reset (manage.py policy reset-default), never removed.
        return super().has_delete_permission(request, obj) and not (obj and obj.is_default)


class CheckResultInline(ReadOnlyInline):
    model = CheckResult
    fields = ("position", "rule_id", "rule_type", "status", "message", "evidence")
    readonly_fields = fields


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    """What the worker found: re-run the checks instead of editing them."""

    list_display = ("pk", "model_name", "version_number", "stage", "status", "request_id", "created_at")
    list_filter = ("status", "stage")
    search_fields = ("model_name",)
    inlines = [CheckResultInline]


class ReviewInline(ReadOnlyInline):
    model = Review
    readonly_fields = ("reviewer", "decision", "comment", "content_digest", "created_at", "updated_at")


class CommentInline(ReadOnlyInline):
    model = RequestComment
    readonly_fields = [field.name for field in RequestComment._meta.fields]


@admin.register(TransitionRequest)
class TransitionRequestAdmin(ReadOnlyAdmin):
    """Requests move only through the services (reviews, the apply task), which audit each move."""

    list_display = (
        "pk",
        "model_name",
        "version_number",
        "from_stage",
        "to_stage",
        "status",
        "requested_by",
        "created_at",
    )
    list_filter = ("status", "to_stage")
    search_fields = ("model_name",)
    inlines = [ReviewInline, CommentInline]


@admin.register(UnapprovedTransition)
class UnapprovedTransitionAdmin(ReadOnlyAdmin):
    """Acknowledged from the model page (audited), not here."""

    list_display = ("__str__", "seen_at", "acknowledged_by", "acknowledged_at")
    list_filter = ("kind",)
