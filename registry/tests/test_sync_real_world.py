"""Regression tests for registries real teams keep: each names the behaviour a defect broke."""

import math
import os
import subprocess
import sys

import pytest
from django.db import connection

from approvals.models import Policy
from audit.models import AuditEvent
from cards.models import ModelCard
from registry.fields import decode_floats
from registry.models import (
    LoggedModel,
    ModelRename,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInput,
    StageChange,
    SyncRun,
)
from registry.sync import commit_key, sync_registry

pytestmark = pytest.mark.django_db
MAX = sys.float_info.max


def test_nan_metric_is_stored_and_every_model_still_syncs(mlflow_store):
    mlflow_store.create_version("WithNaN", metrics={"loss": math.nan, "acc": 0.5})
    mlflow_store.create_version("Plain", metrics={"acc": 0.9})
    sync_run = sync_registry()
    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    run = ModelVersion.objects.get(model__name="WithNaN").run
    assert math.isnan(run.metrics["loss"]) and run.metrics["acc"] == 0.5
    assert RegisteredModel.objects.filter(name="Plain").exists()


def test_sql_store_infinity_stand_ins_are_kept_exactly(mlflow_store):
    mlflow_store.create_version("Inf", metrics={"up": math.inf, "down": -math.inf})
    assert sync_registry().status == SyncRun.SUCCEEDED
    metrics = ModelVersion.objects.get(model__name="Inf").run.metrics
    assert metrics == {"up": MAX, "down": -MAX}
    # PostgreSQL's jsonb prints these as 309-digit integers: they must come back as floats.
    assert all(type(value) is float for value in metrics.values())


def test_huge_and_tiny_metrics_come_back_as_the_same_floats(mlflow_store):
    values = {"big": 1e300, "neg": -1.5e200, "tiny": 5e-324, "small": 1.25e-300, "int_like": 3.0, "exact": 0.1}
    mlflow_store.create_version("Extremes", metrics=values)
    assert sync_registry().status == SyncRun.SUCCEEDED
    metrics = ModelVersion.objects.get(model__name="Extremes").run.metrics
    assert metrics == values and all(type(value) is float for value in metrics.values())


def test_an_owner_tag_longer_than_a_user_name_is_mirrored_but_names_no_owner(mlflow_store):
    mlflow_store.client.create_registered_model("LongOwner", tags={"owner": "o" * 300})
    mlflow_store.create_version("LongOwner", metrics={"acc": 0.5})
    assert sync_registry().status == SyncRun.SUCCEEDED
    model = RegisteredModel.objects.get(name="LongOwner")
    assert (model.tags["owner"], model.owner_tag) == ("o" * 300, "")


def test_real_infinity_round_trips_through_the_database(db):
    # A file store returns a real ±inf: stored as JSON-safe strings, read back as floats.
    run = Run.objects.create(run_id="r-inf", metrics={"a": math.inf, "b": -math.inf, "c": math.nan, "d": 1.0})
    run.refresh_from_db()
    assert run.metrics["a"] == math.inf and run.metrics["b"] == -math.inf and math.isnan(run.metrics["c"])
    raw = Run.objects.filter(pk=run.pk).values_list("metrics", flat=True).get()
    assert decode_floats(raw)["a"] == math.inf


def test_second_sync_of_nan_metrics_writes_nothing(mlflow_store):
    mlflow_store.create_version("WithNaN", metrics={"loss": math.nan}, finished=False)
    sync_registry()
    # The run is unfinished, so it is read again: NaN equals NaN, no rewrite.
    assert sync_registry().counts.get("runs_updated", 0) == 0


def test_mlflow_field_lengths_fit(mlflow_store):
    """A 256-character name (MLflow allows 256) and a 500-character dataset context (MLflow allows 500)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    name = "n" * 256
    run_id = mlflow_store.create_run(metrics={"acc": 0.7})
    dataset = Dataset(name="d" * 500, digest="abc123", source_type="local", source="/x.csv")
    context = "c" * 500
    mlflow_store.client.log_inputs(run_id, [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])])
    mlflow_store.create_version(name, run_id)
    mlflow_store.client.set_registered_model_tag(name, "k" * 250, "v" * 100_000)
    sync_run = sync_registry()
    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    model = RegisteredModel.objects.get(name=name)
    assert model.tags["k" * 250] == "v" * 100_000
    assert RunInput.objects.get(run__run_id=run_id).context == context


@pytest.mark.parametrize("name", ["O'Brien's churn model", 'the "best" model', "both ' and \"", "back\\slash", " pad "])
def test_sync_of_one_model_finds_names_with_quotes_and_never_deletes_them(mlflow_store, name):
    mlflow_store.create_version(name, metrics={"acc": 0.5})
    mlflow_store.create_version("both _ and _", metrics={"acc": 0.6})  # what a LIKE fallback would also match
    assert sync_registry().status == SyncRun.SUCCEEDED
    sync_run = sync_registry(model_name=name)
    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    assert RegisteredModel.objects.filter(name=name).exists()
    assert not AuditEvent.objects.filter(action="registry.model_deleted").exists()
    mlflow_store.client.set_model_version_tag(name, "1", "seen", "yes")
    sync_registry(model_name=name)
    assert ModelVersion.objects.get(model__name=name, version=1).tags == {"seen": "yes"}
    assert ModelVersion.objects.get(model__name="both _ and _").tags == {}


def test_sync_of_a_model_deleted_in_mlflow_removes_it(mlflow_store):
    mlflow_store.create_version("Gone", metrics={"acc": 0.5})
    sync_registry()
    mlflow_store.client.delete_registered_model("Gone")
    assert sync_registry(model_name="Gone").status == SyncRun.SUCCEEDED
    assert not RegisteredModel.objects.filter(name="Gone").exists()
    assert AuditEvent.objects.filter(action="registry.model_deleted", model_name="Gone").count() == 1


def test_non_hex_commit_is_kept_exactly_but_not_used_as_a_lineage_key(mlflow_store):
    mlflow_store.create_version("Dirty", tags={"mlflow.source.git.commit": "1a2b3c4d-dirty"})
    sync_registry()
    run = ModelVersion.objects.get(model__name="Dirty").run
    assert (run.commit, run.git_commit) == ("1a2b3c4d-dirty", "")
    assert commit_key("ABCDEF12") == "abcdef12"
    assert commit_key("g" * 8) == commit_key("a" * 65) == commit_key("abc") == ""


def test_deleted_run_and_experiment_are_marked(mlflow_store):
    run_id = mlflow_store.create_run(metrics={"acc": 0.5})
    mlflow_store.create_version("DeletedRun", run_id)
    mlflow_store.client.delete_run(run_id)
    sync_registry()
    run = Run.objects.get(run_id=run_id)
    assert run.lifecycle_stage == "deleted" and run.is_deleted
    mlflow_store.client.delete_experiment(mlflow_store.experiment_id)
    sync_registry(full=True)
    run.refresh_from_db()
    assert run.experiment_lifecycle_stage == "deleted"


def test_garbage_collected_run_is_marked_gone_and_not_asked_for_again(mlflow_store):
    run_id = mlflow_store.create_run(metrics={"acc": 0.5})
    mlflow_store.create_version("GcRun", run_id)
    mlflow_store.client.delete_run(run_id)
    subprocess.run(
        [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", mlflow_store.uri, "--run-ids", run_id],
        check=True,
        capture_output=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_store.uri},
    )
    first = sync_registry()
    assert first.status == SyncRun.SUCCEEDED, first.error
    assert Run.objects.get(run_id=run_id).gone
    assert sync_registry().counts["mlflow_calls"] == 2  # models and versions only: the run is not asked for


def test_logged_model_without_run_is_mirrored_with_its_params_and_metrics(mlflow_store):
    client = mlflow_store.client
    logged = client.create_logged_model(mlflow_store.experiment_id, name="lm", params={"depth": "4"})
    # An evaluation run logs against the model (``model_id``); the version is registered from the LoggedModel alone.
    evaluation = mlflow_store.create_run()
    client.log_metric(
        evaluation, "accuracy", 0.93, model_id=logged.model_id, dataset_name="holdout", dataset_digest="d1"
    )
    client.finalize_logged_model(logged.model_id, "READY")
    client.create_registered_model("ModelCentric")
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_store.uri)  # MLflow resolves ``models:/`` through the global tracking URI
    try:
        client.create_model_version("ModelCentric", f"models:/{logged.model_id}", model_id=logged.model_id)
    finally:
        mlflow.set_tracking_uri(previous)
    assert sync_registry().status == SyncRun.SUCCEEDED
    version = ModelVersion.objects.get(model__name="ModelCentric")
    assert version.run_id is None
    assert version.logged_model_id == logged.model_id
    assert version.metrics == {"accuracy": 0.93}
    assert version.params == {"depth": "4"}
    assert LoggedModel.objects.get().metric_datasets == {"accuracy": {"name": "holdout", "digest": "d1"}}
    # READY: not read again.
    assert sync_registry().counts["mlflow_calls"] == 2


def poison(table: str, condition: str):
    """A database trigger that refuses some rows of ``table``: a value this database cannot store, made real.
    ``condition`` is SQL over ``NEW``."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER poison BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'cannot store this value'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                f"IF {condition} THEN RAISE EXCEPTION 'cannot store this value'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            )
            cursor.execute(f"CREATE TRIGGER poison BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION poison()")


def unpoison(table: str):
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER poison")
        else:
            cursor.execute(f"DROP TRIGGER poison ON {table}")
            cursor.execute("DROP FUNCTION poison()")


BAD_MODEL = "(SELECT name FROM registry_registeredmodel WHERE id = NEW.model_id) = 'Bad'"


def test_one_unstorable_model_fails_alone_and_is_retried(mlflow_store):
    mlflow_store.create_version("Bad", metrics={"acc": 0.5})
    mlflow_store.create_version("Good", metrics={"acc": 0.6})
    poison("registry_modelversion", BAD_MODEL)
    sync_run = sync_registry()
    assert sync_run.status == SyncRun.PARTIAL
    assert list(sync_run.failures) == ["Bad"] and "cannot store this value" in sync_run.failures["Bad"]
    assert "Bad" in sync_run.error
    assert ModelVersion.objects.filter(model__name="Good").count() == 1
    bad = RegisteredModel.objects.get(name="Bad")
    assert bad.sync_error and bad.stale_since is not None and not bad.versions.exists()
    # Counts are what committed: Good's model and version, nothing of Bad's.
    assert sync_run.counts["versions_created"] == 1 and sync_run.counts["models_created"] == 1

    unpoison("registry_modelversion")
    retried = sync_registry(mode=SyncRun.FAST)  # the fast pass retries stale models too
    assert retried.status == SyncRun.SUCCEEDED, retried.error
    bad.refresh_from_db()
    assert (bad.sync_error, bad.stale_since, bad.versions.count()) == ("", None, 1)
    assert AuditEvent.objects.filter(action="registry.model_created", model_name="Bad").count() == 1


def test_fast_pass_with_nothing_changed_reads_two_lists_and_writes_nothing(mlflow_store):
    # More versions than the first page holds, all written seconds ago: the fast pass reads back to the
    # watermark the reconcile recorded, not to "a while before the newest row".
    for i in range(15):
        mlflow_store.create_version(f"M{i % 3}", metrics={"acc": i / 100})
    reconcile = sync_registry()
    newest = ModelVersion.objects.order_by("-updated_at").first().updated_at
    assert reconcile.versions_watermark == int(newest.timestamp() * 1000)
    for _ in range(2):
        fast = sync_registry(mode=SyncRun.FAST)
        assert fast.status == SyncRun.SUCCEEDED
        assert fast.counts == {"mlflow_calls": 2, "runs_fetched": 0}
        assert fast.versions_watermark == reconcile.versions_watermark


def test_fast_pass_sees_new_versions_stage_and_description_changes(mlflow_store):
    mlflow_store.create_version("Fast", metrics={"acc": 0.5})
    mlflow_store.create_version("Other", metrics={"acc": 0.5})
    sync_registry()
    mlflow_store.create_version("Fast", metrics={"acc": 0.6})
    mlflow_store.transition("Fast", 1, "Staging")
    mlflow_store.client.update_model_version("Other", "1", description="now described")
    fast = sync_registry(mode=SyncRun.FAST)
    assert fast.status == SyncRun.SUCCEEDED, fast.error
    assert dict(ModelVersion.objects.filter(model__name="Fast").values_list("version", "stage")) == {
        1: "Staging",
        2: "None",
    }
    assert ModelVersion.objects.get(model__name="Other").description == "now described"


def test_rename_in_mlflow_moves_the_model_and_its_portal_data(mlflow_store):
    mlflow_store.create_version("churn-old", metrics={"acc": 0.5})
    sync_registry()
    model = RegisteredModel.objects.get(name="churn-old")
    version = model.versions.get()
    ModelCard.objects.create(model_name="churn-old", version=1, run_id=version.run_id, model_version=version)
    Policy.objects.create(model_name="churn-old", rules={})
    mlflow_store.client.rename_registered_model("churn-old", "churn-new")

    sync_run = sync_registry(mode=SyncRun.FAST)  # the fast pass sees it (a rename bumps timestamps)
    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    renamed = RegisteredModel.objects.get()
    assert (renamed.pk, renamed.name) == (model.pk, "churn-new")
    assert renamed.versions.get().pk == version.pk
    assert ModelCard.objects.get().model_name == "churn-new"
    assert Policy.objects.filter(model_name="churn-new").exists()  # the model's own policy follows it
    assert ModelRename.objects.get().old_name == "churn-old"
    assert AuditEvent.objects.filter(action="registry.model_renamed", model_name="churn-new").count() == 1
    assert not AuditEvent.objects.filter(action="registry.model_deleted").exists()


def test_model_recreated_under_the_same_name_starts_clean(mlflow_store):
    mlflow_store.create_version("Reborn", metrics={"acc": 0.5}, stage="Production")
    sync_registry()
    old = RegisteredModel.objects.get(name="Reborn")
    old_version = old.versions.get()
    ModelCard.objects.create(model_name="Reborn", version=1, run_id=old_version.run_id, model_version=old_version)
    mlflow_store.client.delete_registered_model("Reborn")
    mlflow_store.create_version("Reborn", metrics={"acc": 0.9})
    assert sync_registry(model_name="Reborn").status == SyncRun.SUCCEEDED
    new = RegisteredModel.objects.get(name="Reborn")
    assert new.pk != old.pk
    assert ModelCard.objects.get().model_version is None  # the old card no longer claims the new version
    assert AuditEvent.objects.filter(action="registry.model_deleted", model_name="Reborn").count() == 1
    # The old model's stage history stays (by name) but is not the new one's.
    assert StageChange.objects.filter(model_name="Reborn", to_value="Production").count() == 1
    assert not StageChange.objects.of_model(new).exists()
    assert not StageChange.objects.of_version(new.versions.get()).exists()


def test_one_unstorable_run_fails_only_the_model_that_needs_it(mlflow_store):
    bad_run = mlflow_store.create_run(metrics={"acc": 0.5})
    mlflow_store.create_version("Bad", bad_run)
    mlflow_store.create_version("Good", metrics={"acc": 0.6})
    poison("registry_run", f"NEW.run_id = '{bad_run}'")
    sync_run = sync_registry()
    assert sync_run.status == SyncRun.PARTIAL
    assert list(sync_run.failures) == ["Bad"]
    assert ModelVersion.objects.get(model__name="Good").mirrored_run is not None
    assert not Run.objects.filter(run_id=bad_run).exists()
    unpoison("registry_run")
    assert sync_registry().status == SyncRun.SUCCEEDED
    assert ModelVersion.objects.get(model__name="Bad").run.run_id == bad_run
