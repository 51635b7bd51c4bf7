"""The deployment gate: allowed only after the real flow (file → two approvals → applied in a real MLflow store),
then each refusal on its own, through the selector, the API, ``manage.py gate`` and ``scripts/portal-gate``."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.http import Http404
from django.utils import timezone

from accounts.services import api_token_create
from approvals import services
from approvals.gate import gate_decision
from approvals.models import Policy, TransitionRequest, UnapprovedTransition
from registry.models import ModelVersion, SyncRun
from registry.sync import sync_registry
from tests.factories import GOOD_TAGS, card_save, complete_sections, make_owner, make_sync, version_of

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "portal-gate"
RULES = {
    "Staging": [{"id": "approvals", "type": "required_approvals", "count": 1}],
    "Production": [{"id": "approvals", "type": "required_approvals", "count": 2}],
    "Archived": [{"id": "approvals", "type": "required_approvals", "count": 1}],
}


@pytest.fixture
def applied(mlflow_store, owner, reviewer_a, reviewer_b, django_capture_on_commit_callbacks):
    """Churn v1 in Production, v2 moved there by the portal: filed, approved twice, applied in MLflow."""
    Policy.objects.update_or_create(model_name="", defaults={"rules": RULES})
    mlflow_store.client.create_registered_model("Churn", tags={"owner": owner.username})
    mlflow_store.create_version("Churn", stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
    mlflow_store.create_version("Churn", stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    make_owner("Churn", owner)
    with django_capture_on_commit_callbacks(execute=True):
        request = services.transition_request_create(
            actor=owner, version=version_of("Churn", 2), to_stage="Production", justification="beats v1"
        )
    for reviewer in (reviewer_a, reviewer_b):
        with django_capture_on_commit_callbacks(execute=True):
            services.review_submit(actor=reviewer, request=request, decision="approve")
    request.refresh_from_db()
    assert request.status == TransitionRequest.APPLIED
    assert mlflow_store.client.get_model_version("Churn", "2").current_stage == "Production"
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    return request


def codes(decision) -> list[str]:
    return [reason.code for reason in decision.reasons]


def test_a_version_applied_through_the_portal_is_allowed_with_its_evidence(applied, reviewer_a, reviewer_b):
    for question in ({}, {"version": 2}, {"alias": "champion"}):
        decision = gate_decision(model_name="Churn", stage="Production", **question)
        assert decision.allowed, (question, decision.reasons)
        answer = decision.as_dict()
        assert (answer["version"], answer["request_id"]) == (2, applied.pk)
        assert answer["approved_by"] == sorted([reviewer_a.username, reviewer_b.username])
        assert answer["applied_at"] == applied.applied_at
        assert answer["checks"]["status"] == "passed"
        assert [r["rule_id"] for r in answer["checks"]["results"]] == ["approvals"]


def test_any_signed_in_user_asks_the_api(applied, client, outsider):
    client.force_login(outsider)
    response = client.get("/api/v1/gate/Churn", {"stage": "Production"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["allowed"], body["version"], body["request_id"]) == (True, 2, applied.pk)
    assert body["checks"]["results"][0]["evidence"] is not None
    client.logout()
    assert client.get("/api/v1/gate/Churn").status_code == 401


def test_a_stale_mirror_refuses(applied, settings):
    settings.GATE_MAX_MIRROR_AGE_SECONDS = 60
    SyncRun.objects.update(finished_at=timezone.now() - dt.timedelta(minutes=5))
    decision = gate_decision(model_name="Churn")
    assert codes(decision) == ["mirror_stale"]
    assert "more than the 60 s" in decision.reasons[0].message


@pytest.mark.parametrize(
    "newest",
    [
        {"status": SyncRun.FAILED},
        {"status": SyncRun.PARTIAL, "failures": {"Churn": "MLflow said 500"}},
        {"status": SyncRun.FAILED, "model_name": "Churn"},
    ],
)
def test_the_newest_sync_failing_for_the_model_refuses(applied, newest):
    make_sync(finished_at=timezone.now(), **newest)
    assert codes(gate_decision(model_name="Churn")) == ["mirror_sync_failed"]


def test_a_newer_sync_of_another_model_or_one_that_left_it_out_of_its_failures_changes_nothing(applied):
    make_sync(SyncRun.FAILED, finished_at=timezone.now(), model_name="Fraud")
    make_sync(SyncRun.PARTIAL, finished_at=timezone.now(), failures={"Fraud": "boom"})
    assert gate_decision(model_name="Churn").allowed


def test_a_model_never_synced_refuses(applied):
    SyncRun.objects.all().delete()
    assert codes(gate_decision(model_name="Churn")) == ["mirror_not_synced"]


def test_a_stage_moved_outside_the_portal_refuses(
    applied, mlflow_store, admin_user, django_capture_on_commit_callbacks
):
    mlflow_store.transition("Churn", 2, "Archived")
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    decision = gate_decision(model_name="Churn", version=2)
    assert codes(decision) == ["not_in_stage", "unapproved_transition"]
    assert "Churn v2 is in Archived, not Production." in decision.reasons[0].message
    assert "Production → Archived" in decision.reasons[1].message
    # Acknowledged, the move is accepted; the version still is not in Production, and nothing else is.
    for unapproved in UnapprovedTransition.objects.all():
        services.unapproved_transition_acknowledge(actor=admin_user, unapproved=unapproved)
    assert codes(gate_decision(model_name="Churn", version=2)) == ["not_in_stage"]
    assert codes(gate_decision(model_name="Churn")) == ["no_version_in_stage"]


def test_approvals_made_stale_by_a_content_change_refuse(applied, owner):
    card_save(owner, version_of("Churn", 2), complete_sections())
    decision = gate_decision(model_name="Churn")
    assert codes(decision) == ["approvals_stale"]
    assert f"Only 0 of the 2 approvals of request #{applied.pk}" in decision.reasons[0].message


def test_an_unacknowledged_out_of_band_change_of_the_version_refuses(applied, admin_user):
    unapproved = UnapprovedTransition.objects.create(
        model_name="Churn", version_number=2, kind="alias", alias="shadow", to_value="2", seen_at=timezone.now()
    )
    UnapprovedTransition.objects.create(
        model_name="Churn", version_number=1, kind="alias", alias="shadow", to_value="1", seen_at=timezone.now()
    )
    decision = gate_decision(model_name="Churn")
    assert codes(decision) == ["unapproved_transition"]
    assert "alias @shadow moved to v2" in decision.reasons[0].message
    services.unapproved_transition_acknowledge(actor=admin_user, unapproved=unapproved)
    assert gate_decision(model_name="Churn").allowed


def test_a_version_that_reached_the_stage_without_an_applied_request_refuses(mirror):
    mirror.version("Fraud", stage="Production")
    make_sync(finished_at=timezone.now())
    decision = gate_decision(model_name="Fraud")
    assert codes(decision) == ["no_applied_request"]
    assert decision.reasons[0].message == "No applied portal request moved Fraud v1 to Production."


def test_the_last_applied_request_must_be_the_one_into_the_stage(applied, owner):
    TransitionRequest.objects.create(
        version=ModelVersion.objects.get(model__name="Churn", version=2),
        model_name="Churn",
        version_number=2,
        from_stage="Production",
        to_stage="Archived",
        justification="retire",
        requested_by=owner,
        required_approvals=1,
        status=TransitionRequest.APPLIED,
        applied_at=timezone.now(),
    )
    assert codes(gate_decision(model_name="Churn", version=2)) == ["no_applied_request"]


def test_unknown_versions_and_aliases_are_refusals_an_unknown_model_is_not_found(applied, client, outsider):
    assert codes(gate_decision(model_name="Churn", version=9)) == ["unknown_version"]
    assert codes(gate_decision(model_name="Churn", alias="nobody")) == ["unknown_alias"]
    with pytest.raises(Http404):
        gate_decision(model_name="Nope")
    with pytest.raises(ValidationError):
        gate_decision(model_name="Churn", version=2, alias="champion")
    with pytest.raises(ValidationError):
        gate_decision(model_name="Churn", stage="Archived")
    client.force_login(outsider)
    refused = client.get("/api/v1/gate/Churn", {"alias": "nobody"})
    assert refused.status_code == 409
    body = refused.json()
    assert body["allowed"] is False and body["code"] == "gate_refused"
    assert body["reasons"] == [{"code": "unknown_alias", "message": "Churn has no alias @nobody in the mirror."}]
    assert client.get("/api/v1/gate/Nope").status_code == 404
    assert client.get("/api/v1/gate/Churn", {"version": 2, "alias": "champion"}).status_code == 400
    assert client.get("/api/v1/gate/Churn", {"stage": "Archived"}).status_code == 422


def test_the_command_exits_0_allowed_1_refused_2_unknown(applied, capsys):
    call_command("gate", "Churn", "--stage", "Production")
    assert "ALLOWED Churn v2 in Production" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        call_command("gate", "Churn", "--alias", "nobody")
    assert refused.value.code == 1
    assert "[unknown_alias]" in capsys.readouterr().out
    with pytest.raises(CommandError) as unknown:
        call_command("gate", "Nope")
    assert unknown.value.returncode == 2


def run_script(*args, url, token="") -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_URL": url, "PORTAL_TOKEN": token}
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_script_exits_0_allowed_1_refused_2_on_errors(applied, live_server, outsider):
    _, secret = api_token_create(actor=outsider, user=outsider, name="deploy job")
    allowed = run_script("Churn", "--stage", "Production", url=live_server.url, token=secret)
    assert allowed.returncode == 0, allowed.stderr
    assert "ALLOWED Churn v2 in Production" in allowed.stdout

    refused = run_script("Churn", "--version", "1", url=live_server.url, token=secret)
    assert refused.returncode == 1, refused.stderr
    assert "[not_in_stage] Churn v1 is in Archived, not Production." in refused.stdout

    for args, token, url in (
        (["Churn"], "rp_not-a-token", live_server.url),  # 401
        (["Nope"], secret, live_server.url),  # 404
        (["Churn"], secret, "http://127.0.0.1:9"),  # unreachable
        (["Churn"], "", live_server.url),  # no token
    ):
        failed = run_script(*args, url=url, token=token)
        assert failed.returncode == 2, (args, failed.stdout, failed.stderr)
        assert failed.stderr.startswith("portal-gate:")
