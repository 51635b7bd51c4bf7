"""What MLflow answers, as the portal reads it: frozen dataclasses, and converters from MLflow's entities.

``registry.mlflow_client`` builds these from MLflow's client objects (the converters below read their
attributes; nothing here imports mlflow) and ``registry.mlflow_rest`` from plain JSON with the same
fields and defaults. Versions and alias targets are ``int``; timestamps are aware datetimes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def to_datetime(ms: int | None) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)


@dataclass(frozen=True)
class ModelData:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class VersionData:
    name: str
    version: int
    stage: str
    status: str
    run_id: str
    source: str
    description: str
    tags: dict[str, str]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    status_message: str = ""

    @property
    def logged_model_id(self) -> str:
        """The LoggedModel a version was registered from (``models:/m-…``); MLflow's ``model_id`` is always None."""
        return logged_model_id_of(self.source)


def logged_model_id_of(source: str) -> str:
    if not source.startswith("models:/"):
        return ""
    model_id = source.removeprefix("models:/").split("/", 1)[0]
    return model_id if model_id.startswith("m-") else ""


@dataclass(frozen=True)
class LoggedModelData:
    model_id: str
    experiment_id: str
    name: str
    source_run_id: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    metric_datasets: dict[str, dict]
    tags: dict[str, str]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class DatasetData:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str
    profile: str
    context: str


@dataclass(frozen=True)
class RunData:
    run_id: str
    experiment_id: str
    run_name: str
    user: str
    status: str
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    datasets: list[DatasetData] = field(default_factory=list)
    lifecycle_stage: str = "active"


PROMPT_TAG = "mlflow.prompt.is_prompt"


def name_filter(name: str) -> tuple[str, bool]:
    """A ``name = …`` filter the way MLflow's parser reads it, and whether it matches exactly.

    MLflow's filter strings have no escapes (``\\'`` matches nothing): a name with ``'`` is quoted with
    ``"``, and the other way round. A name with both cannot be written: it is searched with ``LIKE``, each
    quote a one-character wildcard, and the caller keeps only the exact name (``exact`` is False).
    """
    if "'" not in name:
        return f"name = '{name}'", True
    if '"' not in name:
        return f'name = "{name}"', True
    return "name LIKE '" + name.replace("'", "_").replace('"', "_") + "'", False


def model_data(m) -> ModelData:
    return ModelData(
        name=m.name,
        description=m.description or "",
        tags=dict(m.tags or {}),
        aliases={alias: int(version) for alias, version in (m.aliases or {}).items()},
        created_at=to_datetime(m.creation_timestamp),
        updated_at=to_datetime(m.last_updated_timestamp),
    )


def logged_model_data(m) -> LoggedModelData:
    metrics: dict[str, float] = {}
    datasets: dict[str, dict] = {}
    latest: dict[str, tuple] = {}
    # ``metrics`` lists every logged value; keep the latest per key (by step, then time), as a run's data does.
    for metric in m.metrics or []:
        order = (metric.step or 0, metric.timestamp or 0)
        if metric.key in latest and latest[metric.key] > order:
            continue
        latest[metric.key] = order
        metrics[metric.key] = float(metric.value)
        if metric.dataset_name or metric.dataset_digest:
            datasets[metric.key] = {"name": metric.dataset_name or "", "digest": metric.dataset_digest or ""}
        else:
            datasets.pop(metric.key, None)
    return LoggedModelData(
        model_id=m.model_id,
        experiment_id=str(m.experiment_id or ""),
        name=m.name or "",
        source_run_id=m.source_run_id or "",
        status=str(m.status or ""),
        params=dict(m.params or {}),
        metrics=metrics,
        metric_datasets=datasets,
        tags={k: v for k, v in (m.tags or {}).items()},
        created_at=to_datetime(m.creation_timestamp),
        updated_at=to_datetime(m.last_updated_timestamp),
    )


def version_data(v) -> VersionData:
    return VersionData(
        name=v.name,
        version=int(v.version),
        stage=v.current_stage or "None",
        status=v.status or "",
        run_id=v.run_id or "",
        source=v.source or "",
        description=v.description or "",
        tags=dict(v.tags or {}),
        created_at=to_datetime(v.creation_timestamp),
        updated_at=to_datetime(v.last_updated_timestamp),
        status_message=v.status_message or "",
    )


def run_data(run) -> RunData:
    datasets = []
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        ds = dataset_input.dataset
        context = next((t.value for t in dataset_input.tags or [] if t.key == "mlflow.data.context"), "")
        datasets.append(
            DatasetData(
                name=ds.name or "",
                digest=ds.digest or "",
                source_type=ds.source_type or "",
                source=ds.source or "",
                schema=ds.schema or "",
                profile=ds.profile or "",
                context=context,
            )
        )
    info = run.info
    return RunData(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        run_name=info.run_name or "",
        user=info.user_id or "",
        status=info.status or "",
        start_time=to_datetime(info.start_time),
        end_time=to_datetime(info.end_time),
        params=dict(run.data.params or {}),
        metrics={k: float(v) for k, v in (run.data.metrics or {}).items()},
        tags={k: v for k, v in (run.data.tags or {}).items() if k != "mlflow.log-model.history"},
        datasets=datasets,
        lifecycle_stage=info.lifecycle_stage or "active",
    )
