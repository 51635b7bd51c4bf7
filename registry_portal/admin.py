"""What every app's Django admin shares: governance evidence and the mirror are read-only there.

Requests, reviews, comments, check runs and results, card revisions and publications, audit events and every
mirrored MLflow row change only through the services (which audit each change) or through sync (MLflow is the
source of truth). Admin may show them; it never adds, edits or deletes them, for superusers too.
"""

from django.contrib import admin


class NoWrites:
    """Mixed into a ModelAdmin or an inline: nothing can be added, changed or deleted through it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoWrites, admin.ModelAdmin):
    """A ModelAdmin that can list and show rows and nothing else."""


class ReadOnlyInline(NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False
