"""Enforcement (out_of_band: revert) against the session's real `mlflow server`: exactly once, tags untouched."""

import uuid

import pytest
from django.core import mail
from django.urls import reverse
from mlflow import MlflowClient

from approvals import services
from approvals.models import Policy, Revert, UnapprovedTransition
from audit.models import AuditEvent
from notifications.services import notifications_dispatch
from registry.models import SyncRun
from registry.sync import sync_registry
from tests.factories import GOOD_TAGS

pytestmark = pytest.mark.django_db
TRANSITIONS = "/api/2.0/mlflow/model-versions/transition-stage"


@pytest.fixture
def scene(mlflow_remote, mlflow_server, settings):
    settings.STAGE_ALIASES = {"Production": "champion"}
    name = f"Enforce-{uuid.uuid4().hex[:8]}"
    world = mlflow_remote
    world.client.create_registered_model(name)
    world.create_version(name, stage="Production", metrics={"accuracy": 0.9}, tags=GOOD_TAGS)
    world.create_version(name, stage="Staging", metrics={"accuracy": 0.9}, tags=GOOD_TAGS)
    world.client.set_registered_model_alias(name, "champion", "1")
    world.client.set_model_version_tag(name, "1", "approval.request_id", "7")
    assert sync_registry(model_name=name).status == SyncRun.SUCCEEDED  # the baseline
    return name, MlflowClient(mlflow_server.url, registry_uri=mlflow_server.url), mlflow_server


def out_of_band(name, client):
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    client.set_registered_model_alias(name, "champion", "2")
    run = sync_registry(model_name=name)
    return services.unapproved_transitions_detect(sync_run=run)


def run_reverts(name):
    for revert in Revert.objects.filter(model_name=name, status=Revert.QUEUED):
        claim = services.revert_claim(revert_id=revert.pk)
        services.revert_apply(revert_id=revert.pk, claim=claim)


def state(name, client):
    stages = {v: client.get_model_version(name, v).current_stage for v in ("1", "2")}
    return stages, client.get_registered_model(name).aliases


def test_detect_mode_changes_nothing(scene):
    name, client, _ = scene
    assert out_of_band(name, client)
    assert not Revert.objects.exists()
    assert state(name, client) == ({"1": "Archived", "2": "Production"}, {"champion": "2"})


def test_revert_restores_stage_and_alias_exactly_once(scene):
    name, client, server = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    found = out_of_band(name, client)
    # v2 and v1 stages, @champion moved to v2 (v1's loss of it is covered by that revert)
    assert len(found) == 4 and Revert.objects.filter(model_name=name, status=Revert.QUEUED).count() == 3
    before = server.requests_to(TRANSITIONS)
    run_reverts(name)
    assert state(name, client) == ({"1": "Production", "2": "Staging"}, {"champion": "1"})
    assert server.requests_to(TRANSITIONS) - before == 2
    assert client.get_model_version(name, "1").tags["approval.request_id"] == "7"
    assert AuditEvent.objects.filter(action="registry.unapproved_reverted").count() == 3
    # A lost answer: the write reached MLflow, the worker retries: MLflow is read first, nothing written twice.
    revert = Revert.objects.filter(model_name=name, plan__kind="stage").first()
    Revert.objects.filter(pk=revert.pk).update(status=Revert.APPLYING, claim_token="again")
    assert services.revert_apply(revert_id=revert.pk, claim="again").status == Revert.REVERTED
    assert server.requests_to(TRANSITIONS) - before == 2
    # The next sync sees the restoring changes: explained by the reverts, no new unapproved change, no loop.
    count = UnapprovedTransition.objects.count()
    runs = SyncRun.objects.filter(model_name=name, trigger="revert", counts__stage_changes__gt=0)
    assert runs.exists()
    for run in runs:
        assert services.unapproved_transitions_detect(sync_run=run) == []
    assert UnapprovedTransition.objects.count() == count


def test_newer_change_is_left_and_flagged(scene):
    name, client, server = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    client.transition_model_version_stage(name, "2", "Archived", archive_existing_versions=False)
    before = server.requests_to(TRANSITIONS)
    run_reverts(name)
    revert = Revert.objects.get(model_name=name, version_number=2, plan__kind="stage")
    assert revert.status == Revert.SKIPPED and "newer change" in revert.last_error
    assert revert.describe().startswith("could not revert")
    assert client.get_model_version(name, "2").current_stage == "Archived"
    assert server.requests_to(TRANSITIONS) - before == 1  # only v1 back to Production
    assert AuditEvent.objects.filter(action="registry.revert_skipped").exists()


def test_deleted_version_is_skipped(scene):
    name, client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    client.delete_model_version(name, "2")
    run_reverts(name)
    revert = Revert.objects.get(model_name=name, version_number=2, plan__kind="stage")
    assert revert.status == Revert.SKIPPED and "deleted" in revert.last_error


def test_sweeper_takes_back_an_expired_claim(scene):
    name, client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    revert = Revert.objects.filter(model_name=name).first()
    stale = services.revert_claim(revert_id=revert.pk)
    Revert.objects.filter(pk=revert.pk).update(lease_expires_at="2000-01-01T00:00Z")
    assert services.reverts_sweep() == {"expired": 1, "queued": 1}  # taken back and queued at once (eager here)
    assert services.revert_apply(revert_id=revert.pk, claim=stale) is None  # the dead worker's claim lapsed
    revert.refresh_from_db()
    assert (revert.status, revert.attempts) == (Revert.REVERTED, 2)
    [taken_back] = AuditEvent.objects.filter(action="registry.revert_lease_expired")
    assert (taken_back.actor, taken_back.model_name, taken_back.version) == (
        "system:worker",
        name,
        revert.version_number,
    )
    assert taken_back.data == {"revert": revert.pk, "plan": revert.plan, "attempts": 1}
    assert services.reverts_sweep() == {"expired": 0, "queued": 0}


def test_banner_shows_could_not_revert(scene, client, admin_user):
    name, mlflow_client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, mlflow_client)
    mlflow_client.delete_model_version(name, "2")
    run_reverts(name)
    client.force_login(admin_user)
    page = client.get(reverse("registry:model_detail", args=[name])).content.decode()
    assert "could not revert: v2 was deleted in MLflow" in page
    assert "revert-status" in page


def test_the_version_api_reports_its_reverts(scene, api):
    name, client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    client.delete_model_version(name, "1")  # v1's revert (back to Production) is no longer safe
    run_reverts(name)

    v2 = api("admin", "get", f"/models/{name}/versions/2")
    assert v2.status_code == 200, v2.content
    by_kind = {r["kind"]: r for r in v2.json()["extras"]["reverts"]}
    assert set(by_kind) == {"stage", "alias"}
    stage = by_kind["stage"]
    assert (stage["status"], stage["reason"], stage["outcome"]) == ("reverted", "", "v2 back Production → Staging")
    assert stage["requested_at"] and stage["applied_at"] == stage["finished_at"]
    assert by_kind["alias"]["status"] == "skipped"
    assert by_kind["alias"]["reason"] == "v1, where @champion pointed, was deleted in MLflow"
    assert by_kind["alias"]["applied_at"] is None
    assert api("admin", "get", f"/models/{name}/versions/1").status_code == 404  # gone from the mirror


def test_a_queued_revert_has_no_outcome_yet(scene, api):
    name, client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    [queued] = api("admin", "get", f"/models/{name}/versions/2").json()["extras"]["reverts"][:1]
    assert (queued["status"], queued["applied_at"], queued["finished_at"], queued["reason"]) == (
        "queued",
        None,
        None,
        "",
    )


def test_admins_are_mailed_each_outcome_with_its_reason(scene, admin_user, lead):
    name, client, _ = scene
    Policy.objects.create(model_name=name, out_of_band="revert")
    out_of_band(name, client)
    failing = Revert.objects.get(model_name=name, version_number=1, plan__kind="stage")
    claim = services.revert_claim(revert_id=failing.pk)
    assert services.revert_fail(revert_id=failing.pk, claim=claim, error="MLflow refused the revert: 403")
    client.transition_model_version_stage(name, "2", "Archived", archive_existing_versions=False)
    run_reverts(name)  # @champion put back, v2 skipped (a newer change)

    notifications_dispatch()

    outcomes = ("registry.unapproved_reverted", "registry.revert_skipped", "registry.revert_failed")
    mails = [m for m in mail.outbox if any(f"({action})" in m.body for action in outcomes)]
    assert len(mails) == 3
    assert {m.to[0] for m in mails} == {admin_user.email}  # ML leads are not mailed these by default
    bodies = "\n".join(m.body for m in mails)
    assert f"{name} v1: MLflow left unchanged: MLflow refused the revert: 403" in bodies
    assert f"{name} v2: left as MLflow shows it, because a newer change arrived: MLflow now shows Archived" in bodies
    assert f"{name} v2: @champion back to v1" in bodies
    assert (
        f"[Registry Portal] {name} v2: an unapproved Production change left as is: not safe to revert, by system:worker"
        in {m.subject for m in mails}
    )
