"""Django admin: governance evidence and the mirror are read-only for everyone (superusers too), and a role changed
there is audited like anywhere else."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import make_model, make_version

pytestmark = pytest.mark.django_db

# Configuration admins edit here, each change audited by its own service (policy.changed) or owned by its page.
EDITABLE = {"approvals.policy", "notifications.subscription", "notifications.delivery", "auth.user", "auth.group"}
# Libraries' own admins (django-axes: deleting an access attempt is how an admin lifts a lockout) are theirs.
OURS = {"accounts", "approvals", "audit", "cards", "notifications", "registry", "auth"}
READ_ONLY = sorted(
    f"{model._meta.app_label}.{model._meta.model_name}"
    for model in admin.site._registry
    if model._meta.app_label in OURS and f"{model._meta.app_label}.{model._meta.model_name}" not in EDITABLE
)


def test_the_evidence_is_all_registered():
    """What the issue names as evidence is in the read-only list, so a new admin cannot quietly make it editable."""
    evidence = {
        "approvals.transitionrequest",
        "approvals.checkrun",
        "approvals.unapprovedtransition",
        "audit.auditevent",
        "cards.cardrevision",
        "cards.cardpublication",
        "registry.registeredmodel",
        "registry.modelversion",
        "registry.run",
        "registry.syncrun",
        "registry.modelowner",
        "registry.stagechange",
    }
    assert evidence <= set(READ_ONLY)


@pytest.mark.parametrize("label", READ_ONLY)
def test_read_only_for_a_superuser(client, admin_user, label):
    app_label, model_name = label.split(".")
    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)
    request = type("Request", (), {"user": admin_user})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:{app_label}_{model_name}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:{app_label}_{model_name}_add")).status_code == 403


def test_a_mirrored_row_cannot_be_changed_or_deleted_through_admin(client, admin_user):
    version = make_version(make_model("admin-ro"), 1, stage="Production")
    client.force_login(admin_user)
    change = reverse("admin:registry_modelversion_change", args=[version.pk])
    assert client.get(change).status_code == 200  # shown, read-only
    assert client.post(change, {"stage": "None"}).status_code == 403
    delete = reverse("admin:registry_modelversion_delete", args=[version.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.stage == "Production"


def _role_events():
    return [
        (e.action, e.data["user"], e.data["role"], e.data["via"])
        for e in AuditEvent.objects.order_by("seq")
        if e.action.startswith("role.")
    ]


def _user_form(user, **changes):
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_group_and_superuser_changes_in_admin_are_audited(client, admin_user):
    reviewers = Group.objects.get_or_create(name="reviewers")[0]
    user = User.objects.create_user("promoted")
    client.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[user.pk])
    response = client.post(url, _user_form(user, groups=[reviewers.pk], is_superuser="on", is_staff="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.is_superuser and user.groups.filter(name="reviewers").exists()
    assert _role_events() == [
        ("role.granted", "promoted", "admin", "admin"),
        ("role.granted", "promoted", "reviewers", "admin"),
    ]
    response = client.post(url, _user_form(user, is_staff="on"))
    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_superuser and not user.groups.exists()
    assert _role_events()[2:] == [
        ("role.revoked", "promoted", "admin", "admin"),
        ("role.revoked", "promoted", "reviewers", "admin"),
    ]


def test_deleting_a_group_audits_each_member_losing_it(client, admin_user):
    leads = Group.objects.create(name="ml-leads")
    for name in ("l1", "l2"):
        User.objects.create_user(name).groups.add(leads)
    client.force_login(admin_user)
    response = client.post(reverse("admin:auth_group_delete", args=[leads.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Group.objects.filter(name="ml-leads").exists()
    assert sorted(_role_events()) == [
        ("role.revoked", "l1", "ml-leads", "admin"),
        ("role.revoked", "l2", "ml-leads", "admin"),
    ]


def test_a_group_cannot_be_renamed(client, admin_user):
    group = Group.objects.create(name="reviewers")
    client.force_login(admin_user)
    client.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "anyone", "permissions": []})
    group.refresh_from_db()
    assert group.name == "reviewers"


def test_admin_signs_in_through_the_portal_sign_in_page(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    followed = client.get(response["Location"])
    assert followed.status_code == 302
    assert followed["Location"].startswith(reverse("login")) and "next=/admin/" in followed["Location"]
