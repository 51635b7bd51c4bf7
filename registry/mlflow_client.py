"""The only module of the portal that imports mlflow.

Everything else talks to MLflow through the functions here and gets plain dataclasses (``mlflow_data``)
back, with MLflow's quirks normalised (versions and alias targets are ``int``;
timestamps are aware datetimes; aliases come from the registered model, because
``search_model_versions`` returns them empty — mlflow issue #16734).

Errors are translated into two exceptions: ``MlflowUnavailable`` (worth retrying:
connection refused, timeouts, 5xx) and ``MlflowRequestError`` (the request itself is
wrong: retrying will not help).
"""

from __future__ import annotations

import itertools
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings

# Fail fast: our own tasks retry with backoff, MLflow's client would otherwise retry for minutes.
# And never resend: MLflow's client retries every method, POSTs included (urllib3 ``allowed_methods=None``),
# so a lost response to a stage transition would transition twice. Callers read state before writing.
# Forced, not a default: an MLFLOW_HTTP_REQUEST_MAX_RETRIES left in a deployment's environment would bring
# the resend back (approvals/tests/test_apply_recovery.py saw two transitions with it set to 2).
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException, RestException  # noqa: E402

from . import mlflow_rest  # noqa: E402
from .mlflow_data import (  # noqa: E402
    PROMPT_TAG,
    LoggedModelData,
    ModelData,
    RunData,
    VersionData,
    logged_model_data,
    model_data,
    name_filter,
    run_data,
    to_datetime,
    version_data,
)

RUN_CHUNK = 500
SINCE_PAGES = (10, 100, 1000)
SINCE_ORDER = "last_updated_timestamp DESC"
VERSION_PAGE = 10_000
MODEL_PAGE = 1_000
TRANSIENT_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "ABORTED"}


class MlflowError(Exception):
    pass


class MlflowUnavailable(MlflowError):
    """MLflow could not be reached or failed on its side; retrying may help."""


class MlflowRequestError(MlflowError):
    """MLflow refused the request (unknown model, invalid stage, ...); retrying will not help."""


class MlflowNotFound(MlflowRequestError):
    """MLflow says the entity does not exist (``RESOURCE_DOES_NOT_EXIST``): the only proof of a deletion."""


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
        if code == "RESOURCE_DOES_NOT_EXIST":
            return MlflowNotFound(_short(message))
        return MlflowRequestError(_short(message))
    if isinstance(exc, (OSError, TimeoutError)) or exc.__class__.__module__.startswith(("requests", "urllib3")):
        return MlflowUnavailable(_short(str(exc)))
    return MlflowError(_short(f"{exc.__class__.__name__}: {exc}"))


def _short(message: str, limit: int = 1000) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


class RegistryClient:
    """A thin, call-counting wrapper around ``MlflowClient`` for one unit of work."""

    def __init__(self, tracking_uri: str | None = None, *, timeout: int | None = None):
        self.tracking_uri = tracking_uri or settings.MLFLOW_TRACKING_URI
        self.timeout = timeout or settings.MLFLOW_HTTP_REQUEST_TIMEOUT
        self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.calls = 0
        self._lock = threading.Lock()
        # Over http(s), the two list reads every sync pass makes skip MlflowClient's protobuf parsing, most
        # of their cost at 10,000 versions (docs/performance.md); same rows, same errors (mlflow_rest.py).
        self._rest = mlflow_rest.supported(self.tracking_uri)

    def _rest_call(self, search, **kwargs) -> mlflow_rest.Page:
        with self._lock:
            self.calls += 1
        try:
            return search(self.tracking_uri.rstrip("/"), timeout=self.timeout, **kwargs)
        except mlflow_rest.RestUnavailable as exc:
            raise MlflowUnavailable(_short(str(exc))) from exc
        except mlflow_rest.RestRequestError as exc:
            error = MlflowNotFound if exc.error_code == "RESOURCE_DOES_NOT_EXIST" else MlflowRequestError
            raise error(_short(str(exc))) from exc

    def _rest_pages(self, search, **kwargs) -> Iterator[dict]:
        token = None
        while True:
            page = self._rest_call(search, page_token=token, **kwargs)
            yield from page.items
            token = page.token
            if not token:
                return

    def _call(self, method: str, *args, **kwargs):
        return self._counted(getattr(self._client, method), *args, **kwargs)

    def _counted(self, mlflow_function, *args, **kwargs):
        with self._lock:
            self.calls += 1
        # MLflow reads its timeout from the environment at each request (rest_utils.http_request).
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.timeout)
        try:
            return mlflow_function(*args, **kwargs)
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
    def ping(self) -> None:
        """The cheapest registry read (one model at most): raises ``MlflowError`` when MLflow cannot answer it.
        ``/readyz`` asks it through a client made with a short ``timeout``."""
        if self._rest:
            self._rest_call(mlflow_rest.search_registered_models, max_results=1)
        else:
            self._call("search_registered_models", max_results=1)

    def search_models(self) -> list[ModelData]:
        """Every registered model (MLflow's own list: prompts are not in it)."""
        if self._rest:
            return [
                ModelData(**row)
                for row in self._rest_pages(mlflow_rest.search_registered_models, max_results=MODEL_PAGE)
            ]
        return [model_data(m) for m in self._pages("search_registered_models", max_results=MODEL_PAGE)]

    def get_model(self, name: str) -> ModelData | None:
        """One model by its exact name (no filter to quote), or None when MLflow says it does not exist.

        A prompt (``mlflow.genai.register_prompt``) is a registered model too, but MLflow's list leaves it out:
        so does this, or a single-model sync would mirror what the next whole-registry sync deletes.
        """
        try:
            model = self._call("get_registered_model", name)
        except MlflowNotFound:
            return None
        if (model.tags or {}).get(PROMPT_TAG) == "true":
            return None
        return model_data(model)

    def search_versions(self, name: str | None = None) -> list[VersionData]:
        filter_string, exact = name_filter(name) if name is not None else (None, True)
        if self._rest:
            versions = [
                VersionData(**row)
                for row in self._rest_pages(
                    mlflow_rest.search_model_versions, filter_string=filter_string, max_results=VERSION_PAGE
                )
            ]
        else:
            versions = [
                version_data(v)
                for v in self._pages("search_model_versions", filter_string=filter_string, max_results=VERSION_PAGE)
            ]
        return versions if exact else [v for v in versions if v.name == name]

    def search_versions_since(self, since_ms: int) -> list[VersionData]:
        """Versions updated at or after ``since_ms`` (newest first), reading pages only until an older one shows."""
        if self._rest:
            return self._since(self._rest_page(mlflow_rest.search_model_versions, VersionData), since_ms)
        return self._since(self._client_page("search_model_versions", version_data), since_ms)

    def search_models_since(self, since_ms: int) -> list[ModelData]:
        if self._rest:
            return self._since(self._rest_page(mlflow_rest.search_registered_models, ModelData), since_ms)
        return self._since(self._client_page("search_registered_models", model_data), since_ms)

    def _since(self, read_page, since_ms: int) -> list:
        """Pages grow (10, 100, then 1,000 rows): usually the first small page already reaches the watermark,
        and a page of 100 models (each with its latest versions) is ~230 KB of JSON to build and parse."""
        since = to_datetime(since_ms)
        found, token = [], None
        # A burst of changes keeps reading the biggest pages until the watermark.
        for size in itertools.chain(SINCE_PAGES, itertools.repeat(SINCE_PAGES[-1])):
            rows, token = read_page(size, token)
            for row in rows:
                if row.updated_at is None or row.updated_at < since:
                    return found
                found.append(row)
            if not token:
                return found

    def _client_page(self, method: str, convert):
        def read(size, token):
            batch = self._call(method, max_results=size, order_by=[SINCE_ORDER], page_token=token)
            return [convert(entity) for entity in batch], batch.token

        return read

    def _rest_page(self, search, data_class):
        def read(size, token):
            page = self._rest_call(search, max_results=size, order_by=[SINCE_ORDER], page_token=token)
            return [data_class(**row) for row in page.items], page.token

        return read

    def experiments(self) -> dict[str, tuple[str, str]]:
        """experiment id -> (name, lifecycle stage), deleted experiments included."""
        return {
            e.experiment_id: (e.name, e.lifecycle_stage)
            for e in self._pages("search_experiments", view_type=ViewType.ALL, max_results=1000)
        }

    def get_logged_model(self, model_id: str) -> LoggedModelData | None:
        try:
            return logged_model_data(self._call("get_logged_model", model_id))
        except MlflowNotFound:
            return None

    def search_runs(self, run_ids: Iterable[str], experiment_ids: list[str]) -> list[RunData]:
        """Fetch runs in chunks with ``attributes.run_id IN (...)``: one call per chunk, never per run."""
        ids = sorted(set(run_ids))
        runs: list[RunData] = []
        for start in range(0, len(ids), RUN_CHUNK):
            chunk = ids[start : start + RUN_CHUNK]
            # Run ids are hex: nothing in them needs quoting (a stray quote would only match nothing).
            quoted = ",".join(f"'{i}'" for i in chunk if "'" not in i)
            for run in self._pages(
                "search_runs",
                experiment_ids=experiment_ids,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=len(chunk),
            ):
                runs.append(run_data(run))
        return runs

    def get_version(self, name: str, version: int) -> VersionData:
        v = self._call("get_model_version", name, str(version))
        return version_data(v)

    def find_version(self, name: str, version: int) -> VersionData | None:
        """The version, or None when MLflow says it does not exist."""
        try:
            return self.get_version(name, version)
        except MlflowNotFound:
            return None

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
        return version_data(v)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._call("set_registered_model_alias", name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("delete_registered_model_alias", name, alias)

    def set_version_tags(self, name: str, version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._call("set_model_version_tag", name, str(version), key, value)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call("log_text", run_id, text, artifact_file)

    def create_model(self, name: str, *, description: str = "", tags: dict[str, str] | None = None) -> None:
        self._call("create_registered_model", name, tags=tags or {}, description=description)

    def create_version(self, name: str, source: str, *, run_id: str = "") -> VersionData:
        return version_data(self._call("create_model_version", name, source, run_id=run_id or None))

    # ---- training runs, logged as a training script does (manage.py seed_demo) ---------------
    def runs_named(self, experiment: str, run_name: str) -> list[str]:
        """Ids of the runs called ``run_name`` in the experiment named ``experiment`` (none if there is none)."""
        found = self._call("get_experiment_by_name", experiment)
        if found is None:
            return []
        quoted = f'"{run_name}"' if "'" in run_name else f"'{run_name}'"
        runs = self._pages(
            "search_runs", experiment_ids=[found.experiment_id], filter_string=f"attributes.run_name = {quoted}"
        )
        return [run.info.run_id for run in runs]

    def log_training_run(
        self, *, experiment, artifact_location, run_name, params, metrics, tags, dataset, model, input_example, trusted
    ) -> str:
        """A finished run in ``experiment`` (created at ``artifact_location`` if missing) with params, metrics, tags,
        its training ``dataset`` (name, local path, DataFrame) and a fitted scikit-learn ``model`` that skops may
        load with the ``trusted`` types; returns the run id. MLflow logs models only through its fluent API, whose
        tracking URI is process-wide: it is this client's for the call, then restored."""
        found = self._call("get_experiment_by_name", experiment)
        experiment_id = found.experiment_id if found else self._call("create_experiment", experiment, artifact_location)
        dataset_name, dataset_path, frame = dataset
        previous_uri = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            with self._counted(mlflow.start_run, experiment_id=experiment_id, run_name=run_name) as run:
                self._counted(mlflow.log_params, params)
                self._counted(mlflow.log_metrics, metrics)
                self._counted(mlflow.set_tags, tags)
                # An explicit source: MLflow registers the local one twice, then warns that a path is ambiguous.
                source = mlflow.data.sources.LocalArtifactDatasetSource(dataset_path)
                self._counted(mlflow.log_input, mlflow.data.from_pandas(frame, source, name=dataset_name), "training")
                self._counted(
                    mlflow.sklearn.log_model,
                    model,
                    name="model",
                    input_example=input_example,
                    skops_trusted_types=trusted,
                )
                return run.info.run_id
        finally:
            mlflow.set_tracking_uri(previous_uri)

    # ---- webhooks (manage.py mlflow_webhook; MLflow >= 3.3, SQL store or ``mlflow server``) ---------
    @dataclass(frozen=True)
    class Webhook:
        webhook_id: str
        name: str
        url: str
        events: tuple[str, ...]
        status: str
        description: str

        @classmethod
        def from_mlflow(cls, w) -> RegistryClient.Webhook:
            return cls(
                webhook_id=w.webhook_id,
                name=w.name,
                url=w.url,
                events=tuple(sorted(str(event) for event in w.events)),
                status=str(getattr(w.status, "value", w.status)),
                description=w.description or "",
            )

    def list_webhooks(self) -> list[RegistryClient.Webhook]:
        return [self.Webhook.from_mlflow(w) for w in self._pages("list_webhooks", max_results=1000)]

    def create_webhook(self, *, name: str, url: str, events: list[str], secret: str, description: str) -> Webhook:
        return self.Webhook.from_mlflow(
            self._call("create_webhook", name=name, url=url, events=events, secret=secret, description=description)
        )

    def update_webhook(
        self, webhook_id: str, *, name: str, url: str, events: list[str], secret: str, description: str
    ) -> Webhook:
        """Everything at once, and ACTIVE: MLflow never returns the secret, so it cannot be compared, only resent."""
        return self.Webhook.from_mlflow(
            self._call(
                "update_webhook",
                webhook_id,
                name=name,
                url=url,
                events=events,
                secret=secret,
                description=description,
                status="ACTIVE",
            )
        )

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("delete_webhook", webhook_id)
