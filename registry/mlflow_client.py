"""The only module of the portal that imports mlflow.

Everything else talks to MLflow through the functions here and gets plain dataclasses
back, with MLflow's quirks normalised (versions and alias targets are ``int``;
timestamps are aware datetimes; aliases come from the registered model, because
``search_model_versions`` returns them empty — mlflow issue #16734).

Errors are translated into two exceptions: ``MlflowUnavailable`` (worth retrying:
connection refused, timeouts, 5xx) and ``MlflowRequestError`` (the request itself is
wrong: retrying will not help).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

# Fail fast: our own tasks retry with backoff, MLflow's client would otherwise retry for minutes.
# And never resend: MLflow's client retries every method, POSTs included (urllib3 ``allowed_methods=None``),
# so a lost response to a stage transition would transition twice. Callers read state before writing.
# Forced, not a default: an MLFLOW_HTTP_REQUEST_MAX_RETRIES left in a deployment's environment would bring
# the resend back (approvals/tests/test_apply_recovery.py saw two transitions with it set to 2).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(settings.MLFLOW_HTTP_REQUEST_TIMEOUT)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException, RestException  # noqa: E402

RUN_CHUNK = 500
VERSION_PAGE = 10_000
MODEL_PAGE = 1_000
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "ABORTED"}


class MlflowError(Exception):
    pass


class MlflowUnavailable(MlflowError):
    """MLflow could not be reached or failed on its side; retrying may help."""


class MlflowRequestError(MlflowError):
    """MLflow refused the request (unknown model, invalid stage, ...); retrying will not help."""


def _translate(exc: Exception) -> MlflowError:
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, MlflowException):
        code = getattr(exc, "error_code", "") or ""
        message = str(getattr(exc, "message", exc))
        status = exc.get_http_status_code() if hasattr(exc, "get_http_status_code") else 500
        network = (
            isinstance(exc, MlflowException)
            and not isinstance(exc, RestException)
            and ("API request to" in message or "Max retries exceeded" in message)
        )
        if network or code in TRANSIENT_CODES or status >= 500:
            return MlflowUnavailable(_short(message))
        return MlflowRequestError(_short(message))
    if isinstance(exc, (OSError, TimeoutError)) or exc.__class__.__module__.startswith(("requests", "urllib3")):
        return MlflowUnavailable(_short(str(exc)))
    return MlflowError(_short(f"{exc.__class__.__name__}: {exc}"))


def _short(message: str, limit: int = 1000) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


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


class RegistryClient:
    """A thin, call-counting wrapper around ``MlflowClient`` for one unit of work."""

    def __init__(self, tracking_uri: str | None = None):
        self.tracking_uri = tracking_uri or settings.MLFLOW_TRACKING_URI
        self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.calls = 0
        self._lock = threading.Lock()

    def _call(self, method: str, *args, **kwargs):
        with self._lock:
            self.calls += 1
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated into our two error types
            raise _translate(exc) from exc

    def _pages(self, method: str, **kwargs) -> Iterator:
        token = None
        while True:
            page = self._call(method, page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    # ---- reads ------------------------------------------------------------------------
    def search_models(self, name: str | None = None) -> list[ModelData]:
        filter_string = f"name = '{_quote(name)}'" if name else None
        return [
            ModelData(
                name=m.name,
                description=m.description or "",
                tags=dict(m.tags or {}),
                aliases={alias: int(version) for alias, version in (m.aliases or {}).items()},
                created_at=to_datetime(m.creation_timestamp),
                updated_at=to_datetime(m.last_updated_timestamp),
            )
            for m in self._pages("search_registered_models", filter_string=filter_string, max_results=MODEL_PAGE)
        ]

    def search_versions(self, name: str | None = None) -> list[VersionData]:
        filter_string = f"name = '{_quote(name)}'" if name else None
        return [
            _version_data(v)
            for v in self._pages("search_model_versions", filter_string=filter_string, max_results=VERSION_PAGE)
        ]

    def experiment_names(self) -> dict[str, str]:
        return {
            e.experiment_id: e.name for e in self._pages("search_experiments", view_type=ViewType.ALL, max_results=1000)
        }

    def search_runs(self, run_ids: Iterable[str], experiment_ids: list[str]) -> list[RunData]:
        """Fetch runs in chunks with ``attributes.run_id IN (...)``: one call per chunk, never per run."""
        ids = sorted(set(run_ids))
        runs: list[RunData] = []
        for start in range(0, len(ids), RUN_CHUNK):
            chunk = ids[start : start + RUN_CHUNK]
            quoted = ",".join(f"'{_quote(i)}'" for i in chunk)
            for run in self._pages(
                "search_runs",
                experiment_ids=experiment_ids,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=len(chunk),
            ):
                runs.append(_run_data(run))
        return runs

    def get_version(self, name: str, version: int) -> VersionData:
        v = self._call("get_model_version", name, str(version))
        return _version_data(v)

    def get_aliases(self, name: str) -> dict[str, int]:
        model = self._call("get_registered_model", name)
        return {alias: int(number) for alias, number in (model.aliases or {}).items()}

    # ---- writes -----------------------------------------------------------------------
    def transition_stage(self, name: str, version: int, stage: str, *, archive_existing: bool) -> VersionData:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            v = self._call(
                "transition_model_version_stage", name, str(version), stage, archive_existing_versions=archive_existing
            )
        return _version_data(v)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._call("set_registered_model_alias", name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("delete_registered_model_alias", name, alias)

    def set_version_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._call("set_model_version_tag", name, str(version), key, value)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call("log_text", run_id, text, artifact_file)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _version_data(v) -> VersionData:
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
    )


def _run_data(run) -> RunData:
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
    )


# ---- demo data (seed_demo): logging a trained scikit-learn model the way users do ---------
def log_demo_training_run(
    *,
    experiment: str,
    run_name: str,
    model,
    input_example,
    training_frame,
    dataset_name: str,
    dataset_source: str,
    params: dict,
    metrics: dict,
    tags: dict,
) -> str:
    """Log one training run (params, metrics, tags, dataset input, fitted model); return its run id."""
    import skops.io as skops_io

    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment, artifact_location=f"{settings.MLFLOW_ARTIFACT_ROOT}/{experiment}")
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        dataset = mlflow.data.from_pandas(training_frame, source=dataset_source, name=dataset_name)
        mlflow.log_input(dataset, context="training")
        # We trained this model ourselves a moment ago, so every type in it may be trusted by skops.
        trusted = skops_io.get_untrusted_types(data=skops_io.dumps(model))
        mlflow.sklearn.log_model(model, name="model", input_example=input_example, skops_trusted_types=trusted)
        return run.info.run_id


def find_runs_by_name(experiment: str, run_name: str) -> list[str]:
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{_quote(run_name)}'")
    return [r.info.run_id for r in runs]


def register_demo_version(*, name: str, run_id: str, stage: str, description: str = "", tags=None) -> int:
    """Register the run's model as a new version of ``name`` and move it to ``stage``."""
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_TRACKING_URI)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags=tags or {}, description=description)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    if stage != "None":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            client.transition_model_version_stage(
                name, version.version, stage, archive_existing_versions=stage in ("Staging", "Production")
            )
        alias = settings.STAGE_ALIASES.get(stage)
        if alias:
            client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def registered_versions(name: str) -> dict[str, int]:
    """run id -> version number of every version of ``name`` (empty if the model is unknown)."""
    client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_TRACKING_URI)
    return {v.run_id: int(v.version) for v in client.search_model_versions(f"name = '{_quote(name)}'")}


# ---- model cards (cards.services) ------------------------------------------------------------
def get_version_tags(client: RegistryClient, name: str, version: int) -> dict[str, str]:
    """The version's tags as MLflow has them now (the mirror may lag: tag changes bump no timestamp)."""
    return dict(client._call("get_model_version", name, str(version)).tags or {})
