import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from registry.models import Dataset, ModelVersion, RegisteredModel, Run, StageChange, SyncRun
from registry.sync import sync_registry

from .mlflow_helpers import frame

pytestmark = pytest.mark.django_db


def writes(queries) -> list[str]:
    """INSERT/UPDATE/DELETE statements, other than the SyncRun bookkeeping row itself."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
        and "registry_syncrun" not in q["sql"].split("WHERE")[0]
    ]


@pytest.fixture
def churn(mlflow_store):
    world = mlflow_store
    world.client.create_registered_model("Churn", tags={"owner": "alice"}, description="churn model")
    run1 = world.create_run(
        metrics={"accuracy": 0.81},
        params={"max_depth": "3"},
        tags={"mlflow.source.git.commit": "abc123", "dataset_version": "v1"},
        dataset=("churn-data", frame()),
    )
    v1 = world.create_version("Churn", run1, stage="Production")
    v2 = world.create_version("Churn", metrics={"accuracy": 0.9}, dataset=("churn-data", frame()))
    world.client.set_registered_model_alias("Churn", "champion", str(v1))
    return world, v1, v2


def test_it_mirrors_models_versions_runs_and_datasets(churn):
    world, v1, v2 = churn
    sync_run = sync_registry()

    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    model = RegisteredModel.objects.get(name="Churn")
    assert model.owner_tag == "alice" and not model.owners.exists()  # a suggestion: no owner in the portal
    assert model.description == "churn model"
    assert model.aliases == {"champion": v1}
    first = ModelVersion.objects.get(model=model, version=v1)
    assert first.stage == "Production"
    assert first.aliases == ["champion"]
    assert first.run.metrics == {"accuracy": 0.81}
    assert first.run.params == {"max_depth": "3"}
    assert first.run.git_commit == "abc123"
    assert first.run.is_finished
    dataset = Dataset.objects.get()
    assert dataset.name == "churn-data"
    assert dataset.digest
    assert set(dataset.run_inputs.values_list("run__run_id", "context")) == {
        (first.run_id, "training"),
        (ModelVersion.objects.get(version=v2).run_id, "training"),
    }
    assert StageChange.objects.filter(model_name="Churn", version=v1, kind="stage", to_value="Production").exists()
    assert AuditEvent.objects.filter(action="registry.version_created", actor="system:sync").count() == 2


def test_second_sync_without_changes_writes_nothing(churn):
    sync_registry()
    with CaptureQueriesContext(connection) as ctx:
        sync_run = sync_registry()
    assert sync_run.status == SyncRun.SUCCEEDED
    assert writes(ctx.captured_queries) == []
    # Both runs finished: the second sync reads only models and versions.
    assert sync_run.counts["mlflow_calls"] == 2


@pytest.mark.parametrize("change", ["version_tag", "model_tag", "stage", "alias", "delete_version"])
def test_incremental_sync_picks_up_exactly_one_change(churn, change):
    world, v1, v2 = churn
    sync_registry()
    before = {v.version: (v.stage, v.aliases, v.tags) for v in ModelVersion.objects.filter(model__name="Churn")}
    if change == "version_tag":
        world.client.set_model_version_tag("Churn", str(v2), "reviewed", "yes")
    elif change == "model_tag":
        world.client.set_registered_model_tag("Churn", "team", "growth")
    elif change == "stage":
        world.transition("Churn", v2, "Staging")
    elif change == "alias":
        world.client.set_registered_model_alias("Churn", "champion", str(v2))
    else:
        world.client.delete_model_version("Churn", str(v2))

    sync_run = sync_registry()
    assert sync_run.status == SyncRun.SUCCEEDED
    after = {v.version: (v.stage, v.aliases, v.tags) for v in ModelVersion.objects.filter(model__name="Churn")}
    expected = dict(before)
    if change == "version_tag":
        expected[v2] = (before[v2][0], before[v2][1], {"reviewed": "yes"})
    elif change == "model_tag":
        assert RegisteredModel.objects.get(name="Churn").tags == {"owner": "alice", "team": "growth"}
    elif change == "stage":
        expected[v2] = ("Staging", before[v2][1], before[v2][2])
        assert AuditEvent.objects.filter(action="registry.stage_changed", version=v2).count() == 1
    elif change == "alias":
        expected[v1] = (before[v1][0], [], before[v1][2])
        expected[v2] = (before[v2][0], ["champion"], before[v2][2])
        assert list(
            StageChange.objects.filter(kind="alias", alias="champion").order_by("id").values_list("version", "to_value")
        )[-2:] == [(v1, ""), (v2, "champion")]
    else:
        del expected[v2]
        assert AuditEvent.objects.filter(action="registry.version_deleted", version=v2).count() == 1
    assert after == expected


def test_deleted_model_leaves_the_mirror_and_keeps_its_history(churn):
    world, _, _ = churn
    sync_registry()
    world.client.delete_registered_model("Churn")
    sync_registry()
    assert not RegisteredModel.objects.exists()
    assert AuditEvent.objects.filter(action="registry.model_deleted", model_name="Churn").exists()
    assert StageChange.objects.filter(model_name="Churn").exists()


def test_unfinished_runs_are_refetched_until_finished(mlflow_store):
    run_id = mlflow_store.create_run(metrics={"accuracy": 0.5}, finished=False)
    mlflow_store.create_version("Live", run_id)
    sync_registry()
    assert Run.objects.get(run_id=run_id).status == "RUNNING"
    mlflow_store.client.log_metric(run_id, "accuracy", 0.7)
    mlflow_store.client.set_terminated(run_id)
    sync_registry()
    run = Run.objects.get(run_id=run_id)
    assert (run.status, run.metrics["accuracy"]) == ("FINISHED", 0.7)
    # Finished now: a third sync does not fetch it again.
    assert sync_registry().counts.get("runs_fetched", 0) == 0


def test_full_sync_refreshes_finished_runs(churn):
    world, v1, _ = churn
    sync_registry()
    run_id = ModelVersion.objects.get(version=v1).run_id
    world.client.set_tag(run_id, "note", "late")
    assert "note" not in Run.objects.get(run_id=run_id).tags
    sync_registry(full=True)
    assert Run.objects.get(run_id=run_id).tags["note"] == "late"


def test_version_without_run_is_mirrored(mlflow_store):
    mlflow_store.client.create_registered_model("PathOnly")
    mlflow_store.client.create_model_version("PathOnly", "file:///tmp/model")
    assert sync_registry().status == SyncRun.SUCCEEDED
    version = ModelVersion.objects.get(model__name="PathOnly")
    assert version.run_id is None
    assert version.mirrored_run is None


def test_model_scope_syncs_only_that_model(churn):
    world, _, _ = churn
    world.create_version("Other")
    sync_registry(model_name="Churn")
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["Churn"]


def test_call_count_is_independent_of_the_number_of_versions(mlflow_store):
    for i in range(5):
        mlflow_store.create_version("Small", metrics={"accuracy": i / 10})
    small = sync_registry(full=True).counts["mlflow_calls"]
    for i in range(50):
        mlflow_store.create_version(f"Big{i % 5}", metrics={"accuracy": i / 100})
    big = sync_registry(full=True).counts["mlflow_calls"]
    assert ModelVersion.objects.count() == 55
    assert small == big == 4  # models, versions, experiments, one chunk of runs


def test_unreachable_mlflow_fails_the_sync_and_keeps_the_mirror(churn, settings):
    sync_registry()
    snapshot = list(ModelVersion.objects.order_by("pk").values())
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens on the discard port
    sync_run = sync_registry()
    assert sync_run.status == SyncRun.FAILED
    assert "MLflow unavailable" in sync_run.error
    assert list(ModelVersion.objects.order_by("pk").values()) == snapshot
