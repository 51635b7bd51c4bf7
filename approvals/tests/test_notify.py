"""Unapproved transitions are mailed to ML leads and admins only — now by the notifications worker (the default
email subscriptions by role), no longer by approvals itself."""

from django.core import mail
from django.urls import reverse

from audit.services import Target, record
from conftest import member
from registry_portal import roles
from tests.factories import deliver_notifications


def test_unapproved_transitions_go_to_ml_leads_and_admins_only(lead, admin_user, staff, reviewer):
    member("ina-inactive", roles.ML_LEADS, is_active=False)
    record(
        actor=roles.SYSTEM_SYNC,
        action="registry.unapproved_transition",
        target=Target(type="model_version", id="churn/3", model_name="churn", version=3),
        data={"kind": "stage", "alias": "", "from": "Staging", "to": "Production", "sync_run": 1},
    )

    deliver_notifications()

    assert sorted(to for message in mail.outbox for to in message.to) == [
        "ada-admin@example.com",
        "lena-lead@example.com",
    ]
    for message in mail.outbox:
        assert "churn" in message.subject and "Staging" in message.body
        assert reverse("registry:version_detail", args=["churn", 3]) in message.body
