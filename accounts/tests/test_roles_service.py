"""``user_roles_set``: the one way a portal role changes, each change one audit event."""

import pytest
from django.contrib.auth.models import Group, User

from accounts.services import user_roles_set
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events():
    return list(AuditEvent.objects.filter(action__startswith="role.").values_list("action", "data"))


def test_grants_and_revokes_are_audited_one_event_each(admin_user):
    user = User.objects.create_user("newbie")
    granted, revoked = user_roles_set(actor=admin_user, user=user, roles={"reviewers", "admin"}, via="roles page")
    assert (granted, revoked) == ({"reviewers", "admin"}, set())
    user.refresh_from_db()
    assert user.is_superuser and user.groups.filter(name="reviewers").exists()
    granted, revoked = user_roles_set(actor=admin_user, user=user, roles={"ml-leads"}, via="roles page")
    assert (granted, revoked) == ({"ml-leads"}, {"reviewers", "admin"})
    user.refresh_from_db()
    assert not user.is_superuser
    assert set(user.groups.values_list("name", flat=True)) == {"ml-leads"}
    actions = [(action, data["role"], data["via"]) for action, data in _events()]
    assert actions == [
        ("role.granted", "admin", "roles page"),
        ("role.granted", "reviewers", "roles page"),
        ("role.granted", "ml-leads", "roles page"),
        ("role.revoked", "admin", "roles page"),
        ("role.revoked", "reviewers", "roles page"),
    ]


def test_no_change_records_nothing(admin_user):
    user = User.objects.create_user("steady")
    user.groups.add(Group.objects.create(name="reviewers"))
    assert user_roles_set(actor=admin_user, user=user, roles={"reviewers"}, via="sso") == (set(), set())
    assert _events() == []


def test_managed_limits_what_is_touched(admin_user):
    user = User.objects.create_user("mixed")
    user.groups.add(Group.objects.create(name="reviewers"), Group.objects.create(name="local-only"))
    user_roles_set(actor=admin_user, user=user, roles={"ml-leads"}, managed={"reviewers", "ml-leads"}, via="sso")
    assert set(user.groups.values_list("name", flat=True)) == {"local-only", "ml-leads"}
