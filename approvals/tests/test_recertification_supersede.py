"""A version that leaves Production takes its open re-certification with it: ``superseded`` (audited), never left
open to fall overdue. Against the session's real `mlflow server`: a change made in MLflow and seen by sync, and an
approved request applied (which archives the previous Production version)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services, tasks
from approvals.models import Recertification, TransitionRequest
from audit.models import AuditEvent
from registry.models import SyncRun
from registry.sync import sync_registry
from tests.factories import GOOD_TAGS, version_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(mlflow_remote, owner):
    """v1 in Production with an open re-certification, v2 in Staging; synced (the baseline)."""
    name = f"Recert-{uuid.uuid4().hex[:8]}"
    mlflow_remote.client.create_registered_model(name)
    mlflow_remote.create_version(name, stage="Production", metrics={"accuracy": 0.9}, tags=GOOD_TAGS)
    mlflow_remote.create_version(name, stage="Staging", metrics={"accuracy": 0.9}, tags=GOOD_TAGS)
    assert sync_registry(model_name=name).status == SyncRun.SUCCEEDED
    recert = Recertification.objects.create(
        version=version_of(name, 1),
        model_name=name,
        version_number=1,
        due_at=timezone.now() + timedelta(days=3),
        required_approvals=2,
    )
    return name, mlflow_remote.client, recert


def superseded(recert) -> list:
    recert.refresh_from_db()
    assert recert.status == Recertification.SUPERSEDED and recert.decided_at is not None
    return list(AuditEvent.objects.filter(action="recertification.superseded", target_id=str(recert.pk)))


def test_a_stage_change_seen_by_sync_supersedes_it(scene):
    name, client, recert = scene
    client.transition_model_version_stage(name, "1", "Archived")
    run = sync_registry(model_name=name)
    assert Recertification.objects.get(pk=recert.pk).status == Recertification.OPEN  # until after_sync runs
    tasks.after_sync(run.pk)
    tasks.after_sync(run.pk)  # a second run supersedes nothing more
    (event,) = superseded(recert)
    assert event.actor == "system:worker" and "it is in Archived" in event.data["reason"]
    assert services.recertification_state(version_of(name, 1)) is None
    assert services.recertifications_open()["overdue"] == []


def test_an_applied_request_that_archives_the_version_supersedes_it(scene, owner):
    name, client, recert = scene
    request = TransitionRequest.objects.create(
        version=version_of(name, 2),
        model_name=name,
        version_number=2,
        from_stage="Staging",
        to_stage="Production",
        justification="better",
        requested_by=owner,
        required_approvals=2,
        status=TransitionRequest.APPROVED,
    )
    claim = services.transition_request_claim(request_id=request.pk)
    assert services.transition_request_apply(request_id=request.pk, claim=claim).status == TransitionRequest.APPLIED
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert len(superseded(recert)) == 1


def test_the_beat_supersedes_one_whose_version_left_the_registry(scene):
    name, client, recert = scene
    recert.version.delete()
    assert services.recertifications_open()["overdue"] == []
    (event,) = superseded(recert)
    assert "no longer in the registry" in event.data["reason"]


def test_a_version_still_in_production_keeps_its_open_one(scene):
    name, client, recert = scene
    assert services.recertifications_supersede(model_name=name) == []
    assert Recertification.objects.get(pk=recert.pk).status == Recertification.OPEN
