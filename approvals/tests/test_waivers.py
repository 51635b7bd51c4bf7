"""Waivers: the Production quorum decides them; while active a failed rule reports "waived" and does not fail the
run; expiry (time travel) flips it back, re-checks open requests, flags a Production version and notifies."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from approvals import services, tasks
from approvals.checks import evaluate
from approvals.gate import gate_decision
from approvals.models import CheckRun, TransitionRequest, Waiver
from approvals.selectors_governance import expired_waiver_model_names, production_waiver_expired
from audit.models import AuditEvent
from notifications.defaults import BY_ROLE
from registry.access import Conflict
from registry_portal import roles
from tests.factories import complete_sections, write_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(mirror):
    """Churn v2 in Staging failing only ``accuracy`` (0.85 < 0.9) against Production (v1 at 0.80)."""
    mirror.version(stage="Production", metrics={"accuracy": 0.80})
    version = mirror.version(stage="Staging", metrics={"accuracy": 0.85})
    write_card(version, complete_sections())
    return version


def statuses(version, stage="Production", now=None):
    return {v.rule.id: v.status for v in evaluate(version, stage, now=now).verdicts}


def request_waiver(owner, version, rule_id="accuracy", days=30):
    return services.waiver_create(
        actor=owner,
        version=version,
        stage="Production",
        rule_id=rule_id,
        justification="retraining next sprint",
        expires_at=timezone.now() + timedelta(days=days),
    )


def activate(waiver, *reviewers):
    for reviewer in reviewers:
        services.attestation_give(actor=reviewer, subject=waiver, decision="approve")
    waiver.refresh_from_db()
    return waiver


def test_only_a_failing_rule_of_the_policy_can_be_waived(failing, owner, outsider):
    assert statuses(failing)["accuracy"] == "failed"
    with pytest.raises(ValidationError, match="no rule 'nope'"):
        request_waiver(owner, failing, rule_id="nope")
    with pytest.raises(ValidationError, match="only a failing rule"):
        request_waiver(owner, failing, rule_id="dataset-digest")
    with pytest.raises(ValidationError, match="at most 365 days"):
        request_waiver(owner, failing, days=400)
    with pytest.raises(ValidationError, match="in the future"):
        request_waiver(owner, failing, days=-1)
    with pytest.raises(PermissionDenied):
        request_waiver(outsider, failing)
    waiver = request_waiver(owner, failing)
    assert (waiver.status, waiver.required_approvals) == ("pending", 2)
    with pytest.raises(Conflict):
        request_waiver(owner, failing)
    assert AuditEvent.objects.filter(action="waiver.requested").count() == 1


def test_quorum_requester_refused_one_approval_not_enough_rejection_blocks(
    failing, owner, reviewer_a, reviewer_b, admin_user
):
    admin_user.groups.add(*reviewer_a.groups.all())
    waiver = services.waiver_create(
        actor=admin_user,
        version=failing,
        stage="Production",
        rule_id="accuracy",
        justification="x",
        expires_at=timezone.now() + timedelta(days=3),
    )
    with pytest.raises(PermissionDenied, match="you requested this"):
        services.attestation_give(actor=admin_user, subject=waiver, decision="approve")
    with pytest.raises(PermissionDenied, match="only members of reviewers"):
        services.attestation_give(actor=owner, subject=waiver, decision="approve")
    assert activate(waiver, reviewer_a).status == "pending"
    with pytest.raises(Conflict, match="already attested"):
        services.attestation_give(actor=reviewer_a, subject=waiver, decision="approve")
    with pytest.raises(ValidationError, match="needs a comment"):
        services.attestation_give(actor=reviewer_b, subject=waiver, decision="reject")
    services.attestation_give(actor=reviewer_b, subject=waiver, decision="reject", comment="not justified")
    waiver.refresh_from_db()
    assert waiver.status == "rejected"
    assert statuses(failing)["accuracy"] == "failed"
    assert AuditEvent.objects.filter(action="attestation.given").count() == 2
    assert AuditEvent.objects.filter(action="waiver.rejected").count() == 1


def test_active_waiver_makes_the_run_pass_and_expiry_flips_it_back(
    failing, owner, reviewer_a, reviewer_b, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.transition_request_create(
            actor=owner, version=failing, to_stage="Production", justification="go"
        )
    assert CheckRun.objects.filter(request=request).get().status == "failed"
    waiver = request_waiver(owner, failing, days=2)
    with django_capture_on_commit_callbacks(execute=True):
        activate(waiver, reviewer_a, reviewer_b)
    assert waiver.status == "active"
    assert AuditEvent.objects.filter(action="waiver.approved").count() == 1
    latest = CheckRun.objects.filter(request=request).order_by("-id").first()
    assert latest.status == "passed"
    result = latest.results.get(rule_id="accuracy")
    assert result.status == "waived"
    assert result.evidence["waiver"]["id"] == waiver.pk
    assert result.evidence["waiver"]["url"] == f"/approvals/waivers/{waiver.pk}/"

    later = timezone.now() + timedelta(days=3)
    assert statuses(failing, now=later)["accuracy"] == "failed"  # past expiry the waiver no longer applies
    monkeypatch.setattr(timezone, "now", lambda: later)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.expire_waivers()
        tasks.expire_waivers()  # a second tick: exactly once
    waiver.refresh_from_db()
    assert waiver.status == "expired"
    assert AuditEvent.objects.filter(action="waiver.expired").count() == 1
    latest = CheckRun.objects.filter(request=request).order_by("-id").first()
    assert latest.status == "failed"
    assert latest.results.get(rule_id="accuracy").status == "failed"
    request.refresh_from_db()
    assert request.status == TransitionRequest.PENDING


def test_expired_waiver_of_a_production_version_is_flagged_and_notified(
    failing, owner, reviewer_a, reviewer_b, monkeypatch
):
    waiver = activate(request_waiver(owner, failing, days=1), reviewer_a, reviewer_b)
    failing.stage = "Production"
    failing.save(update_fields=["stage"])
    assert not production_waiver_expired(failing)
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert services.waivers_expire() == [waiver.pk]
    assert production_waiver_expired(failing)
    assert expired_waiver_model_names(["Churn", "Other"]) == {"Churn"}
    event = AuditEvent.objects.get(action="waiver.expired")
    assert event.data["in_production"] is True
    answer = gate_decision(model_name="Churn", version=failing.version).as_dict()
    assert answer["waiver_expired"] is True
    assert "waiver_expired" in [w["code"] for w in answer["warnings"]]
    assert "waiver.expired" in BY_ROLE[roles.REVIEWERS]


def test_withdraw_by_requester_only(failing, owner, reviewer_a):
    waiver = request_waiver(owner, failing)
    with pytest.raises(PermissionDenied):
        services.waiver_withdraw(actor=reviewer_a, waiver=waiver)
    services.waiver_withdraw(actor=owner, waiver=waiver)
    with pytest.raises(Conflict):
        services.waiver_withdraw(actor=owner, waiver=waiver)
    assert Waiver.objects.get().status == "withdrawn"


def test_waiver_pages(client, failing, owner, reviewer_a):
    client.force_login(owner)
    url = f"/approvals/models/Churn/versions/{failing.version}/waiver/"
    assert client.get(url + "?rule=accuracy").status_code == 200
    bad = client.post(url, {"stage": "Production", "rule_id": "nope", "justification": "x", "expires_at": ""})
    assert bad.status_code == 400
    expires = (timezone.now() + timedelta(days=5)).strftime("%Y-%m-%d %H:%M")
    ok = client.post(url, {"stage": "Production", "rule_id": "accuracy", "justification": "x", "expires_at": expires})
    assert ok.status_code == 302
    waiver = Waiver.objects.get()
    client.force_login(reviewer_a)
    assert client.get(waiver.get_absolute_url()).status_code == 200
    assert client.post(f"/approvals/waivers/{waiver.pk}/attest/", {"decision": "reject"}).status_code == 400
    assert client.post(f"/approvals/waivers/{waiver.pk}/attest/", {"decision": "approve"}).status_code == 302
    assert client.post(f"/approvals/waivers/{waiver.pk}/attest/", {"decision": "approve"}).status_code == 409
    assert client.get("/approvals/governance/").status_code == 200


def test_waiver_api(api, failing):
    path = f"/models/Churn/versions/{failing.version}/waivers"
    expires = (timezone.now() + timedelta(days=5)).isoformat()
    body = {"rule_id": "accuracy", "justification": "x", "expires_at": expires}
    assert api("outsider", "post", path, json=body).status_code in (403, 404)
    assert api("owner", "post", path, json={**body, "rule_id": "nope"}).status_code == 400
    assert api("owner", "post", path, json={"rule_id": "accuracy"}).status_code in (400, 422)
    created = api("owner", "post", path, json=body)
    assert created.status_code == 201, created.json()
    waiver_id = created.json()["id"]
    assert api("owner", "post", f"/waivers/{waiver_id}/attestations", json={"decision": "approve"}).status_code == 403
    assert (
        api("reviewer_a", "post", f"/waivers/{waiver_id}/attestations", json={"decision": "approve"}).status_code == 201
    )
    again = api("reviewer_a", "post", f"/waivers/{waiver_id}/attestations", json={"decision": "approve"})
    assert again.status_code == 409
    done = api("reviewer_b", "post", f"/waivers/{waiver_id}/attestations", json={"decision": "approve"})
    assert done.json()["status"] == "active"
    assert api("reviewer_a", "get", f"/waivers/{waiver_id}").json()["rule_id"] == "accuracy"
    extras = api("owner", "get", f"/models/Churn/versions/{failing.version}").json()["extras"]
    assert extras["waivers"]["items"][0]["status"] == "active"


def test_expired_waiver_badges_on_version_page_and_model_list(
    client, failing, owner, reviewer_a, reviewer_b, monkeypatch
):
    waiver = activate(request_waiver(owner, failing, days=1), reviewer_a, reviewer_b)
    failing.stage = "Production"
    failing.save(update_fields=["stage"])
    monkeypatch.setattr(timezone, "now", lambda: waiver.expires_at + timedelta(minutes=1))
    services.waivers_expire()
    client.force_login(reviewer_a)
    page = client.get(failing.get_absolute_url()).content.decode()
    assert "waiver expired" in page and f"waiver #{waiver.pk}" in page
    assert (
        "waiver expired" in client.get("/").content.decode()
        or "waiver expired" in client.get("/models/").content.decode()
    )
