"""Users and groups in Django admin, with every role change audited.

A change of a user's groups or superuser flag, a deleted user who held roles and a deleted group that had members
go through ``accounts.services.user_roles_set`` (``via="admin"``), like the roles page and single sign-on: one
``role.granted``/``role.revoked`` event per change. A group's name is its role, so it cannot be renamed here (add a
group and move its members instead).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from registry_portal.admin import ReadOnlyAdmin

from .models import ApiToken
from .services import ADMIN_ROLE, user_roles_set

User = get_user_model()
VIA = "admin"


def _drop_roles(actor, user):
    user_roles_set(actor=actor, user=user, roles=set(), via=VIA)


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request, obj, form, change):
        if change and "is_superuser" in form.changed_data:
            # The flag is a role: it changes in save_related, through user_roles_set, with the groups.
            obj.is_superuser = not obj.is_superuser
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        cleaned = form.cleaned_data
        roles = None
        if "groups" in cleaned and "is_superuser" in cleaned:
            roles = {group.name for group in cleaned.pop("groups")} | (
                {ADMIN_ROLE} if cleaned["is_superuser"] else set()
            )
        super().save_related(request, form, formsets, change)
        if roles is not None:
            user_roles_set(actor=request.user, user=form.instance, roles=roles, via=VIA)

    def delete_model(self, request, obj):
        with transaction.atomic():
            _drop_roles(request.user, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                _drop_roles(request.user, user)
            super().delete_queryset(request, queryset)


class AuditedGroupAdmin(GroupAdmin):
    def get_readonly_fields(self, request, obj=None):
        return ("name",) if obj is not None else ()

    def _drop_members(self, request, group):
        for user in User.objects.filter(groups=group):
            user_roles_set(actor=request.user, user=user, roles=set(), managed={group.name}, via=VIA)

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._drop_members(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for group in queryset:
                self._drop_members(request, group)
            super().delete_queryset(request, queryset)


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created and revoked on My tokens (audited); admin only lists them."""

    list_display = ("name", "user", "prefix", "created_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    exclude = ("key_hash",)
