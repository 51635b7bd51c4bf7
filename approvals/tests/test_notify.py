from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils import timezone

from approvals import notify
from approvals.models import UnapprovedTransition
from registry_portal import roles


def test_unapproved_transitions_go_to_ml_leads_and_admins_only(db):
    def person(name, *groups, **flags):
        user = User.objects.create_user(name, email=f"{name}@example.com", **flags)
        for group in groups:
            user.groups.add(Group.objects.get_or_create(name=group)[0])
        return user

    person("lena-lead", roles.ML_LEADS)
    person("ada-admin", is_superuser=True, is_staff=True)
    person("sam-staff", is_staff=True)  # Django admin only: not an admin of the portal
    person("rita-reviewer", roles.REVIEWERS)
    person("ina-inactive", roles.ML_LEADS, is_active=False)
    found = [
        UnapprovedTransition.objects.create(
            model_name="churn",
            version_number=3,
            kind="stage",
            from_value="Staging",
            to_value="Production",
            seen_at=timezone.now(),
        )
    ]

    assert notify.unapproved_transitions(found) == 1

    (message,) = mail.outbox
    assert sorted(message.to) == ["ada-admin@example.com", "lena-lead@example.com"]
    assert "churn" in message.subject and "Staging" in message.body
