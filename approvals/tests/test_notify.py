from django.core import mail
from django.utils import timezone

from approvals import notify
from approvals.models import UnapprovedTransition
from conftest import member
from registry_portal import roles


def test_unapproved_transitions_go_to_ml_leads_and_admins_only(lead, admin_user, staff, reviewer):
    member("ina-inactive", roles.ML_LEADS, is_active=False)
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
