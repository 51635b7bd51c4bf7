"""Re-certification: due ``recertify_days`` after a version entered Production; the hourly beat opens one exactly
once (two ticks, a re-run after a "worker restart"), reminds once, flags overdue in the API and the gate; reviewers
certify it with the Production quorum (the next due date counts from then) or reject it (flagged, MLflow untouched)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import services, tasks
from approvals.gate import gate_decision
from approvals.models import Policy, Recertification
from approvals.services.recertification import due_at
from audit.models import AuditEvent
from tests.factories import stage_change

pytestmark = pytest.mark.django_db

ENTERED = timezone.now().replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def production(mirror):
    Policy.objects.update_or_create(model_name="", defaults={"recertify_days": 90, "recertify_remind_days": 7})
    version = mirror.version(stage="Production", metrics={"accuracy": 0.95})
    stage_change("Churn", version.version, "Staging", "Production", at=ENTERED)
    return version


def at(monkeypatch, when):
    monkeypatch.setattr(timezone, "now", lambda: when)


def count(action):
    return AuditEvent.objects.filter(action=action).count()


def test_due_date_from_production_entry_and_never_without_interval(production, mirror):
    assert due_at(production) == ENTERED + timedelta(days=90)
    Policy.objects.filter(model_name="").update(recertify_days=None)
    assert due_at(production) is None
    assert services.recertifications_open() == {"opened": [], "reminded": [], "overdue": []}


def test_opens_exactly_once_reminds_once_then_overdue(production, monkeypatch, api):
    due = ENTERED + timedelta(days=90)
    at(monkeypatch, due - timedelta(days=8))
    tasks.open_recertifications()
    assert Recertification.objects.count() == 0  # not yet within the reminder window

    at(monkeypatch, due - timedelta(days=6))
    tasks.open_recertifications()
    tasks.open_recertifications()  # a second tick
    tasks.open_recertifications()  # a re-run after a worker restart
    recert = Recertification.objects.get()
    assert (recert.status, recert.due_at, recert.required_approvals) == ("open", due, 2)
    assert recert.reminded_at is not None
    assert (count("recertification.opened"), count("recertification.reminder")) == (1, 1)
    assert not gate_decision(model_name="Churn").as_dict()["overdue"]

    with pytest.raises(IntegrityError), transaction.atomic():
        Recertification.objects.create(
            version=production, model_name="Churn", version_number=production.version, due_at=due, required_approvals=2
        )

    at(monkeypatch, due + timedelta(hours=1))
    tasks.open_recertifications()
    tasks.open_recertifications()
    assert Recertification.objects.count() == 1
    assert count("recertification.overdue") == 1
    answer = gate_decision(model_name="Churn").as_dict()
    assert answer["overdue"] is True
    assert answer["recertification"]["status"] == "open"
    assert "recertification_overdue" in [w["code"] for w in answer["warnings"]]
    response = api("reviewer_a", "get", f"/models/Churn/versions/{production.version}")
    assert response.status_code == 200
    assert response.json()["extras"]["recertification"]["overdue"] is True
    response = api("reviewer_a", "get", "/gate/Churn")
    assert response.json()["overdue"] is True


def test_attest_certifies_with_quorum_and_next_due_counts_from_then(
    production, monkeypatch, owner, reviewer_a, reviewer_b
):
    at(monkeypatch, ENTERED + timedelta(days=89))
    services.recertifications_open()
    recert = Recertification.objects.get()
    with pytest.raises(PermissionDenied):
        services.attestation_give(actor=owner, subject=recert, decision="approve")
    services.attestation_give(actor=reviewer_a, subject=recert, decision="approve")
    recert.refresh_from_db()
    assert recert.status == "open"
    services.attestation_give(actor=reviewer_b, subject=recert, decision="approve", comment="still fit")
    recert.refresh_from_db()
    assert recert.status == "certified"
    assert count("recertification.certified") == 1
    assert due_at(production) == recert.decided_at + timedelta(days=90)
    assert services.recertification_state(production)["overdue"] is False


def test_rejection_flags_the_version(production, monkeypatch, reviewer_a, client):
    at(monkeypatch, ENTERED + timedelta(days=89))
    services.recertifications_open()
    recert = Recertification.objects.get()
    client.force_login(reviewer_a)
    assert client.get(recert.get_absolute_url()).status_code == 200
    assert client.post(f"/approvals/recertifications/{recert.pk}/attest/", {"decision": "reject"}).status_code == 400
    response = client.post(
        f"/approvals/recertifications/{recert.pk}/attest/", {"decision": "reject", "comment": "drifted"}
    )
    assert response.status_code == 302
    recert.refresh_from_db()
    assert recert.status == "rejected"
    assert count("recertification.rejected") == 1
    assert services.recertification_state(production)["overdue"] is True
    production.refresh_from_db()
    assert production.stage == "Production"


def test_recertification_api(production, monkeypatch, api):
    at(monkeypatch, ENTERED + timedelta(days=89))
    services.recertifications_open()
    pk = Recertification.objects.get().pk
    assert api("reviewer_a", "get", f"/recertifications/{pk}").json()["status"] == "open"
    path = f"/recertifications/{pk}/attestations"
    assert api("owner", "post", path, json={"decision": "approve"}).status_code == 403
    assert api("reviewer_a", "post", path, json={"decision": "reject"}).status_code == 400
    assert api("reviewer_a", "post", path, json={"decision": "approve"}).status_code == 201
    assert api("reviewer_b", "post", path, json={"decision": "approve"}).json()["status"] == "certified"


def test_the_page_lists_the_versions_findings_unresolved_first(production, monkeypatch, owner, reviewer_a, client):
    from findings.models import Finding

    at(monkeypatch, ENTERED + timedelta(days=89))
    services.recertifications_open()
    recert = Recertification.objects.get()
    common = {"version": production, "model_name": "Churn", "version_number": production.version, "owner": owner}
    Finding.objects.create(title="Old drift", severity="critical", status=Finding.CLOSED, **common)
    Finding.objects.create(title="Bias in segment B", severity="high", **common)
    Finding.objects.create(title="Docs gap", severity="low", status=Finding.REMEDIATED, **common)
    client.force_login(reviewer_a)
    html = client.get(recert.get_absolute_url()).content.decode()
    rows = html.split('id="findings-title"')[1].split("</table>")[0].split("<tr")[2:]
    assert ["Bias in segment B" in rows[0], "Docs gap" in rows[1], "Old drift" in rows[2]] == [True] * 3
    assert [r.startswith(' class="finding-unresolved"') for r in rows] == [True, True, False]
    assert ">critical<" in rows[2] and ">closed<" in rows[2]
    Finding.objects.all().delete()
    assert "No findings on this version." in client.get(recert.get_absolute_url()).content.decode()
