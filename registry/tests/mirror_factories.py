"""Mirror rows built straight with the ORM, for page tests (the mirror is ours; MLflow is not involved).

Tests that need MLflow's real behaviour sync from a real store instead (``test_pages_mlflow.py``).
"""

import datetime as dt
import itertools
import re

from registry.models import (
    Dataset,
    LoggedModel,
    ModelRename,
    ModelVersion,
    RegisteredModel,
    Run,
    RunInput,
    StageChange,
    SyncRun,
)

_ids = itertools.count(1)
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def make_model(name="Churn", *, owner="alice", description="", tags=None, aliases=None, **fields) -> RegisteredModel:
    """``fields``: any other column, e.g. ``sync_error`` and ``stale_since``."""
    return RegisteredModel.objects.create(
        name=name,
        owner=owner,
        description=description,
        tags=tags or {},
        aliases=aliases or {},
        created_at=T0,
        updated_at=T0,
        **fields,
    )


def make_run(*, metrics=None, params=None, tags=None, commit="", experiment="churn-exp", **fields) -> Run:
    """``commit`` is the ``mlflow.source.git.commit`` tag, exactly; like sync, only a lower-case hex hash
    becomes the ``git_commit`` lineage key. ``fields``: any other column (``lifecycle_stage``, ``gone``...)."""
    run_id = f"run{next(_ids):029d}"
    return Run.objects.create(
        run_id=run_id,
        experiment_id="1",
        experiment_name=experiment,
        run_name=f"run-{run_id[-4:]}",
        user="alice",
        status="FINISHED",
        start_time=T0,
        end_time=T0 + dt.timedelta(minutes=3),
        metrics=metrics or {},
        params=params or {},
        tags={**(tags or {}), **({"mlflow.source.git.commit": commit} if commit else {})},
        git_commit=commit if re.fullmatch(r"[0-9a-f]{4,64}", commit) else "",
        source_name="train.py",
        **fields,
    )


def make_version(
    model,
    version,
    *,
    stage="None",
    aliases=(),
    run=None,
    with_run=True,
    status="READY",
    status_message="",
    logged_model=None,
    **run_kwargs,
) -> ModelVersion:
    if run is None and with_run:
        run = make_run(**run_kwargs)
    return ModelVersion.objects.create(
        model=model,
        version=version,
        stage=stage,
        aliases=list(aliases),
        status=status,
        status_message=status_message,
        run=run,
        logged_model=logged_model,
        source=f"models:/{logged_model.model_id if logged_model else f'm-{version}'}",
        created_at=T0 + dt.timedelta(hours=version),
        updated_at=T0 + dt.timedelta(hours=version),
    )


def make_logged_model(*, metrics=None, params=None, metric_datasets=None, source_run_id="") -> LoggedModel:
    return LoggedModel.objects.create(
        model_id=f"m-{next(_ids):032x}",
        experiment_id="1",
        name="model",
        source_run_id=source_run_id,
        status="READY",
        metrics=metrics or {},
        params=params or {},
        metric_datasets=metric_datasets or {},
        created_at=T0,
        updated_at=T0,
    )


def make_sync(status=SyncRun.SUCCEEDED, *, finished_at=T0, model_name="", failures=None) -> SyncRun:
    return SyncRun.objects.create(
        status=status, model_name=model_name, failures=failures or {}, finished_at=finished_at
    )


def rename(old_name, new_name, model=None) -> ModelRename:
    return ModelRename.objects.create(old_name=old_name, new_name=new_name, model=model)


def make_dataset(name="churn-data", digest="d1g3st01", **fields) -> Dataset:
    return Dataset.objects.create(
        name=name,
        digest=digest,
        source_type=fields.get("source_type", "local"),
        source=fields.get("source", f"/data/{name}.csv"),
        schema=fields.get("schema", '{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}]}'),
    )


def use_dataset(run, dataset, context="training") -> RunInput:
    return RunInput.objects.create(run=run, dataset=dataset, context=context)


def stage_change(model_name, version, from_value, to_value, *, at, kind="stage", alias="") -> StageChange:
    change = StageChange.objects.create(
        model_name=model_name,
        version=version,
        kind=kind,
        alias=alias,
        from_value=from_value,
        to_value=to_value,
        mlflow_timestamp=at if kind == "stage" else None,
    )
    if kind == "alias":
        # Alias moves carry no MLflow timestamp: their time is when sync saw them.
        StageChange.objects.filter(pk=change.pk).update(seen_at=at)
        change.refresh_from_db()
    return change
