"""Enforcement (``out_of_band: revert``) survives failures: the apply tests' harness (recovery.py), a real worker.

An out-of-band change is made straight in MLflow, a sync sees it, the worker's ``after_sync`` flags it and queues
the revert, and the worker puts MLflow back. Each scenario ends with MLflow's own state read by ``MlflowClient``
(stages and aliases), the ``approval.*`` tags as they were with no tag written, and MLflow's access log showing
how many stage writes the portal made: one, or none when the revert was skipped.
"""

import time
import uuid

import pytest
from django.db import transaction
from mlflow import MlflowClient

from approvals import services
from approvals.models import Policy, Revert, UnapprovedTransition
from audit.models import AuditEvent
from conftest import MlflowServer
from registry.models import ModelVersion, SyncRun
from registry.sync import sync_registry
from registry.tests.mlflow_helpers import MlflowWorld
from tests.factories import GOOD_TAGS

from .recovery import (
    FAST,
    TRANSITIONS,
    VERSION_TAGS,
    DroppingProxy,
    kill_while_the_answer_is_held,
    retries_logged,
    sweep_until_taken_back,
    wait_for,
)

# The worker runs in a thread sharing in-memory SQLite (the local default): wait for its table locks.
pytestmark = pytest.mark.usefixtures("shared_memory_db_waits")
ALIASES = "/api/2.0/mlflow/registered-models/alias"
APPROVAL_TAGS = {
    "1": {"approval.request_id": "7", "approval.approved_by": "rita-reviewer,rob-reviewer"},
    "2": {"approval.notes": "staging only"},
}


@pytest.fixture
def worker_env():
    return dict(FAST)


class Scene:
    """v1 in Production holding @champion, v2 in Staging, both with approval tags; the model in revert mode."""

    def __init__(self, server: MlflowServer):
        self.server = server
        self.name = f"Revert-{uuid.uuid4().hex[:8]}"
        Policy.objects.create(model_name=self.name, out_of_band="revert")
        self.client = MlflowClient(server.url, registry_uri=server.url)  # "out of band": straight to MLflow
        world = MlflowWorld(server.url, None)
        world.client.create_registered_model(self.name)
        world.create_version(self.name, stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
        world.create_version(self.name, stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
        self.client.set_registered_model_alias(self.name, "champion", "1")
        for version, tags in APPROVAL_TAGS.items():
            for key, value in tags.items():
                self.client.set_model_version_tag(self.name, version, key, value)
        assert sync_registry(model_name=self.name).status == SyncRun.SUCCEEDED  # the baseline

    def out_of_band(self, *, before_commit=None, alias: bool = False):
        """v2 to Production in MLflow (or @champion to v2), then a sync. The worker hears of the sync (after_sync)
        only when its transaction commits: ``before_commit`` runs first, as if the worker were slow."""
        if alias:
            self.client.set_registered_model_alias(self.name, "champion", "2")
        else:
            self.client.transition_model_version_stage(self.name, "2", "Production", archive_existing_versions=False)
        self.writes = {path: self.server.requests_to(path) for path in (TRANSITIONS, ALIASES, VERSION_TAGS)}
        with transaction.atomic():
            assert sync_registry(model_name=self.name).status == SyncRun.SUCCEEDED
            if before_commit:
                before_commit()

    def revert(self) -> Revert | None:
        return Revert.objects.filter(model_name=self.name).first()

    def status(self) -> str | None:
        revert = self.revert()
        return revert and revert.status

    def written(self, path: str) -> int:
        return self.server.requests_to(path) - self.writes[path]

    def mlflow_state(self):
        stages = {v: self.client.get_model_version(self.name, v).current_stage for v in ("1", "2")}
        return stages, self.client.get_registered_model(self.name).aliases

    def assert_tags_untouched(self):
        assert self.written(VERSION_TAGS) == 0
        for version, tags in APPROVAL_TAGS.items():
            seen = self.client.get_model_version(self.name, version).tags
            assert {k: v for k, v in seen.items() if k.startswith("approval.")} == tags

    def assert_reverted_once(self, worker, *, path: str = TRANSITIONS) -> Revert:
        """The end state of a revert: MLflow put back by exactly one write, audited once, no loop."""
        revert = self.revert()
        assert revert.status == Revert.REVERTED, (revert.status, revert.last_error)
        assert self.mlflow_state() == ({"1": "Production", "2": "Staging"}, {"champion": "1"})
        assert self.written(path) == 1
        assert self.written(TRANSITIONS if path == ALIASES else ALIASES) == 0
        self.assert_tags_untouched()
        events = AuditEvent.objects.filter(model_name=self.name, action="registry.unapproved_reverted")
        assert events.count() == 1 and events.get().data["unapproved"] == revert.unapproved_id
        mirror = dict(ModelVersion.objects.filter(model__name=self.name).values_list("version", "stage"))
        assert mirror == {1: "Production", 2: "Staging"}
        # The revert's own sync goes through after_sync too: its restoring change is explained, not flagged.
        wait_for(lambda: worker.handled().count("approvals.tasks.after_sync") >= 2, "the revert's sync to be checked")
        flagged = UnapprovedTransition.objects.filter(model_name=self.name)
        assert flagged.exists() and not flagged.filter(stage_change__sync_run__trigger="revert").exists()
        assert Revert.objects.filter(model_name=self.name).count() == 1
        return revert


@pytest.fixture
def scene(mlflow):
    return Scene(mlflow)


@pytest.fixture
def alias_proxy(scene, settings):
    """A proxy that loses MLflow's answer to the first alias write (the revert's)."""
    proxy = DroppingProxy(scene.server.url, path=ALIASES)
    settings.MLFLOW_TRACKING_URI = proxy.url
    yield proxy
    proxy.close()


def sweep_reverts_until_taken_back() -> dict:
    return sweep_until_taken_back(services.reverts_sweep)


# --- (a) the worker dies holding the claim, before it wrote -----------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_claiming_is_replaced_and_the_sweeper_takes_the_claim_back(scene, live_worker):
    scene.out_of_band(before_commit=scene.server.stop)  # the worker claims, cannot reach MLflow, backs off

    wait_for(lambda: retries_logged(live_worker, "revert_unapproved") >= 1, "the worker to claim and back off")
    assert scene.status() == Revert.APPLYING
    live_worker.kill()  # SIGKILL: the retry message it held stays unacknowledged
    scene.server.start()
    live_worker.start()
    time.sleep(3)
    assert scene.status() == Revert.APPLYING  # nobody else touches a claimed revert

    swept = sweep_reverts_until_taken_back()

    assert swept == {"expired": 1, "queued": 1}
    wait_for(lambda: scene.status() == Revert.REVERTED, "the new worker to revert")
    revert = scene.assert_reverted_once(live_worker)
    assert revert.attempts == 2
    assert revert.mlflow_outcome == "v2 back Production → Staging"
    [taken_back] = AuditEvent.objects.filter(model_name=scene.name, action="registry.revert_lease_expired")
    assert (taken_back.actor, taken_back.data["revert"], taken_back.data["attempts"]) == ("system:worker", revert.pk, 1)


# --- (b) the worker dies after MLflow applied the revert --------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_mlflow_reverted_leaves_a_revert_the_next_worker_does_not_repeat(
    scene, proxy, live_worker
):
    assert live_worker.env["MLFLOW_TRACKING_URI"] == proxy.url
    proxy.release.clear()  # hold MLflow's answer until the worker is dead
    scene.out_of_band()

    kill_while_the_answer_is_held(proxy, live_worker)
    assert scene.status() == Revert.APPLYING

    sweep_reverts_until_taken_back()

    wait_for(lambda: scene.status() == Revert.REVERTED, "the new worker to finish the revert")
    revert = scene.assert_reverted_once(live_worker)
    assert revert.attempts == 2
    assert revert.mlflow_outcome == "MLflow already showed the previous state: nothing written"
    assert proxy.dropped == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sync_between_the_take_back_and_the_next_worker_does_not_flag_the_restoring_change(scene, proxy, live_worker):
    proxy.release.clear()
    scene.out_of_band()
    assert proxy.forwarded.wait(timeout=120), "the worker never sent the revert"
    live_worker.kill()
    proxy.release.set()
    sweep_reverts_until_taken_back()  # queued again; no worker yet
    assert scene.status() == Revert.QUEUED

    run = sync_registry(model_name=scene.name)  # beat's sync sees v2 back in Staging before any worker runs

    assert services.unapproved_transitions_detect(sync_run=run) == []  # the queued revert explains it: no loop
    live_worker.start()
    wait_for(lambda: scene.status() == Revert.REVERTED, "the new worker to finish the revert")
    revert = scene.assert_reverted_once(live_worker)
    assert revert.mlflow_outcome == "MLflow already showed the previous state: nothing written"


# --- (c) MLflow reverted but its answer was lost ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_to_the_revert_is_retried_by_reading_the_stage_not_by_writing_again(scene, proxy, live_worker):
    scene.out_of_band()

    wait_for(lambda: scene.status() == Revert.REVERTED, "the worker to revert")

    revert = scene.assert_reverted_once(live_worker)
    assert proxy.dropped == 1
    assert retries_logged(live_worker, "revert_unapproved") == 1
    assert revert.attempts == 1  # the retry kept its claim
    assert revert.mlflow_outcome == "MLflow already showed the previous state: nothing written"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_answer_to_putting_the_alias_back_is_not_a_second_alias_write(scene, alias_proxy, live_worker):
    scene.out_of_band(alias=True)

    wait_for(lambda: scene.status() == Revert.REVERTED, "the worker to put @champion back")

    revert = scene.assert_reverted_once(live_worker, path=ALIASES)
    assert revert.plan == {"kind": "alias", "alias": "champion", "from": 2, "to": 1}
    assert alias_proxy.dropped == 1
    assert revert.mlflow_outcome == "MLflow already showed the previous state: nothing written"


# --- (d) a newer change arrives before the worker runs ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_newer_change_before_the_worker_runs_is_left_and_flagged(scene, live_worker):
    def newer_change():
        scene.client.transition_model_version_stage(scene.name, "2", "Archived", archive_existing_versions=False)

    scene.out_of_band(before_commit=newer_change)

    wait_for(lambda: scene.status() == Revert.SKIPPED, "the worker to skip the revert")
    revert = scene.revert()
    assert revert.last_error == "a newer change arrived: MLflow now shows Archived"
    assert scene.mlflow_state() == ({"1": "Production", "2": "Archived"}, {"champion": "1"})
    assert scene.written(TRANSITIONS) == 1  # the newer change itself, made straight in MLflow: none by the portal
    assert scene.written(ALIASES) == 0
    scene.assert_tags_untouched()
    [skipped] = AuditEvent.objects.filter(model_name=scene.name, action="registry.revert_skipped")
    assert skipped.data["reason"] == revert.last_error
    assert not AuditEvent.objects.filter(model_name=scene.name, action="registry.unapproved_reverted").exists()


# --- (e) the alias, end to end ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_production_alias_moved_out_of_band_is_put_back_once(scene, live_worker):
    scene.out_of_band(alias=True)

    wait_for(lambda: scene.status() == Revert.REVERTED, "the worker to put @champion back")

    revert = scene.assert_reverted_once(live_worker, path=ALIASES)
    assert revert.mlflow_outcome == "@champion back to v1"
    assert revert.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_stage_change_is_put_back_once(scene, live_worker):
    scene.out_of_band()

    wait_for(lambda: scene.status() == Revert.REVERTED, "the worker to revert")

    revert = scene.assert_reverted_once(live_worker)
    assert revert.mlflow_outcome == "v2 back Production → Staging"
