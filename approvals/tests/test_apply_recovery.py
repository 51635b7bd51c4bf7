"""Applying an approved transition survives failures: a real worker, a real `mlflow server` stopped and started.

Each scenario ends the same way: MLflow holds the target stage after exactly one transition-stage call
(counted in MLflow's own access log), the request is ``applied`` with one ``request.applied`` event,
and nothing is written twice (the approval tags set once, v1 archived once).
"""

import random
import time
import uuid

import pytest
from mlflow import MlflowClient

from approvals import services
from approvals.models import CheckRun, Policy, TransitionRequest, UnapprovedTransition
from approvals.tasks import retry_countdown
from audit.models import AuditEvent
from conftest import MlflowServer
from registry.models import ModelVersion, StageChange
from registry.sync import sync_registry
from registry.tests.mlflow_helpers import MlflowWorld
from tests.factories import GOOD_TAGS, file_request, make_owner, version_of

from .recovery import (
    FAST,
    TRANSITIONS,
    VERSION_TAGS,
    kill_while_the_answer_is_held,
    retries_logged,
    sweep_until_taken_back,
    wait_for,
)


@pytest.fixture
def worker_env():
    return dict(FAST)


class Scene:
    """A model with v1 in Production and v2 in Staging, and a Production request for v2 with passing checks."""

    def __init__(self, server: MlflowServer, owner, reviewers):
        self.server = server
        self.name = f"Recovery-{uuid.uuid4().hex[:8]}"
        policy = Policy.objects.filter(model_name="").first() or Policy(model_name="")
        policy.rules = {"Production": [{"type": "required_approvals", "count": 2}]}
        services.policy_save(actor="system:worker", policy=policy)
        self.reviewers = reviewers
        world = MlflowWorld(server.url, None)
        world.client.create_registered_model(self.name, tags={"owner": owner.username})
        world.create_version(self.name, stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
        world.create_version(self.name, stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
        sync_registry(model_name=self.name)
        make_owner(self.name, owner)
        self.request = file_request(owner, version_of(self.name, 2), justification="better churn recall")
        check_run = CheckRun.objects.get(request=self.request)
        wait_for(lambda: CheckRun.objects.get(pk=check_run.pk).is_done, "the checks to run")
        assert CheckRun.objects.get(pk=check_run.pk).status == CheckRun.PASSED
        self.transitions = server.requests_to(TRANSITIONS)
        self.version_tags = server.requests_to(VERSION_TAGS)

    def approve(self, i: int):
        services.review_submit(actor=self.reviewers[i], request=self.request, decision="approve", comment="ok")

    def status(self) -> str:
        return TransitionRequest.objects.get(pk=self.request.pk).status

    def assert_applied_once(self, worker) -> TransitionRequest:
        """The end state every scenario must reach, read from MLflow itself and from the portal."""
        request = TransitionRequest.objects.get(pk=self.request.pk)
        assert request.status == TransitionRequest.APPLIED, (request.status, request.last_error)
        assert self.server.requests_to(TRANSITIONS) - self.transitions == 1
        # approval.request_id, approval.approved_by, approval.notes: each set once
        assert self.server.requests_to(VERSION_TAGS) - self.version_tags == 3
        client = MlflowClient(self.server.url, registry_uri=self.server.url)
        v2, v1 = client.get_model_version(self.name, "2"), client.get_model_version(self.name, "1")
        assert (v2.current_stage, v1.current_stage) == ("Production", "Archived")
        assert v2.tags["approval.request_id"] == str(request.pk)
        assert v2.tags["approval.approved_by"] == "rita-reviewer,rob-reviewer"
        assert client.get_registered_model(self.name).aliases == {"champion": "2"}
        events = AuditEvent.objects.filter(target_id=str(request.pk))
        assert events.filter(action="request.applied").count() == 1
        assert events.filter(action="request.approved").count() == 1
        mirror = dict(ModelVersion.objects.filter(model__name=self.name).values_list("version", "stage"))
        assert mirror == {1: "Archived", 2: "Production"}
        archived = StageChange.objects.filter(model_name=self.name, version=1, kind="stage", to_value="Archived")
        assert archived.count() == 1
        # The apply's own sync is checked for out-of-band changes: this one is explained by the request.
        wait_for(lambda: "approvals.tasks.after_sync" in worker.handled(), "the worker to check the apply's sync")
        assert not UnapprovedTransition.objects.filter(model_name=self.name).exists()
        return request


@pytest.fixture
def scene(mlflow, owner, reviewer_a, reviewer_b):
    return Scene(mlflow, owner, [reviewer_a, reviewer_b])


# --- (a) the worker dies holding the claim ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_claiming_is_replaced_and_the_sweeper_takes_the_claim_back(scene, live_worker):
    scene.approve(0)
    scene.server.stop()  # so the worker claims, fails to reach MLflow and waits in its retry backoff
    scene.approve(1)

    wait_for(lambda: retries_logged(live_worker) >= 1, "the worker to claim and back off")
    assert scene.status() == TransitionRequest.APPLYING
    live_worker.kill()  # SIGKILL: no warm shutdown, the retry message it held stays unacknowledged
    scene.server.start()
    live_worker.start()
    time.sleep(3)
    assert scene.status() == TransitionRequest.APPLYING  # nobody else touches a claimed request

    swept = sweep_until_taken_back()

    assert swept == {"expired": 1, "queued": 1}
    wait_for(lambda: scene.status() == TransitionRequest.APPLIED, "the new worker to apply the request")
    request = scene.assert_applied_once(live_worker)
    assert request.attempts == 2
    assert request.mlflow_outcome == "transitioned Staging → Production, others in Production archived"
    events = AuditEvent.objects.filter(target_id=str(request.pk))
    assert events.filter(action="request.lease_expired").count() == 1
    assert events.filter(action="request.apply_started").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_mlflow_applied_leaves_a_transition_the_next_worker_does_not_repeat(
    scene, proxy, live_worker
):
    assert live_worker.env["MLFLOW_TRACKING_URI"] == proxy.url
    proxy.release.clear()  # hold MLflow's answer until the worker is dead
    scene.approve(0)
    scene.approve(1)

    kill_while_the_answer_is_held(proxy, live_worker)
    assert scene.status() == TransitionRequest.APPLYING

    sweep_until_taken_back()

    wait_for(lambda: scene.status() == TransitionRequest.APPLIED, "the new worker to apply the request")
    request = scene.assert_applied_once(live_worker)
    assert request.attempts == 2
    assert request.mlflow_outcome == "MLflow already showed Production: nothing transitioned"
    assert proxy.dropped == 1


# --- (b) MLflow applied the transition but its answer was lost --------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_to_the_transition_is_retried_by_reading_the_stage_not_by_transitioning_again(
    scene, proxy, live_worker
):
    assert live_worker.env["MLFLOW_TRACKING_URI"] == proxy.url
    scene.approve(0)
    scene.approve(1)

    wait_for(lambda: scene.status() == TransitionRequest.APPLIED, "the worker to apply the request")

    request = scene.assert_applied_once(live_worker)
    assert proxy.dropped == 1
    assert retries_logged(live_worker) == 1
    assert request.attempts == 1  # the retry kept its claim
    assert request.mlflow_outcome == "MLflow already showed Production: nothing transitioned"


# --- (c) MLflow down, then back ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_mlflow_down_then_back_the_task_backs_off_and_applies(scene, live_worker):
    scene.approve(0)
    scene.server.stop()
    scene.approve(1)

    wait_for(lambda: retries_logged(live_worker) >= 2, "the worker to retry twice")
    assert scene.status() == TransitionRequest.APPLYING
    scene.server.start()

    wait_for(lambda: scene.status() == TransitionRequest.APPLIED, "the worker to apply once MLflow is back")
    request = scene.assert_applied_once(live_worker)
    assert request.attempts == 1
    assert request.mlflow_outcome == "transitioned Staging → Production, others in Production archived"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("worker_env", [{**FAST, "APPLY_MAX_RETRIES": "2"}], ids=["2 retries"])
def test_mlflow_down_past_the_last_retry_fails_the_request_and_an_admin_retry_applies_it(
    scene, live_worker, admin_user
):
    scene.approve(0)
    scene.server.stop()
    scene.approve(1)

    wait_for(lambda: scene.status() == TransitionRequest.FAILED, "the request to fail")
    request = TransitionRequest.objects.get(pk=scene.request.pk)
    assert request.last_error.startswith("MLflow unavailable after 3 attempts: "), request.last_error
    assert retries_logged(live_worker) == 2
    assert scene.server.requests_to(TRANSITIONS) == scene.transitions
    scene.server.start()

    services.transition_request_retry(actor=admin_user, request=request)

    wait_for(lambda: scene.status() == TransitionRequest.APPLIED, "the worker to apply the retried request")
    request = scene.assert_applied_once(live_worker)
    assert request.attempts == 2
    assert request.last_error == ""
    events = AuditEvent.objects.filter(target_id=str(request.pk))
    assert events.filter(action="request.failed").count() == 1
    assert events.get(action="request.retried").actor == "ada-admin"


# --- the backoff ------------------------------------------------------------------------------------


def test_retry_countdown_grows_exponentially_is_capped_and_jittered(settings):
    settings.APPLY_RETRY_BACKOFF_SECONDS = 2
    settings.APPLY_RETRY_BACKOFF_MAX_SECONDS = 240
    random.seed(7)
    samples = {retries: [retry_countdown(retries) for _ in range(400)] for retries in range(12)}

    for retries, countdowns in samples.items():
        ceiling = min(240, 2 * 2**retries)
        assert all(0 <= c <= ceiling for c in countdowns), (retries, ceiling, max(countdowns))
        assert max(countdowns) >= ceiling * 0.9  # full jitter spans up to the ceiling
        assert len(set(countdowns)) > min(ceiling, 10) // 2  # spread, not a fixed delay
    means = [sum(samples[r]) / len(samples[r]) for r in range(8)]
    assert all(later > 1.6 * earlier for earlier, later in zip(means[1:], means[2:], strict=False))
    assert max(max(c) for c in samples.values()) == 240  # capped
    assert 100 < sum(samples[11]) / 400 < 140  # past the cap: uniform over [0, 240]
