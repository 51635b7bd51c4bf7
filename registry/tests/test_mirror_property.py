"""Property: every value, name and entity MLflow 3.17 accepts is mirrored exactly, and every page of it answers 200.

Each example is a registry drawn from what MLflow accepts (``mlflow/utils/validation.py``, 3.17.2), written
with the real client into a fresh SQLite store, synced, compared field by field with what MLflow answers
(``mirror_compare.mirror_differences``), and browsed. ``MIRROR_PROPERTY_EXAMPLES`` sets the example count
(default 12: under a minute for the three tests here when they pass); raise it locally to search harder.
When a test fails, hypothesis shrinks the example for up to five minutes: its "Falsifying example" is the report.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import time
import uuid
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from registry.models import ModelVersion, RegisteredModel, SyncRun
from registry.sync import sync_registry

from .mirror_compare import mirror_differences
from .test_sync import writes

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("MIRROR_PROPERTY_EXAMPLES", "12"))
property_settings = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)

STAGES = ("None", "Staging", "Production", "Archived")
# Text MLflow stores as it is. NUL is left out: PostgreSQL text cannot hold it, so an MLflow on PostgreSQL
# cannot store it either; surrogates cannot be encoded at all.
TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
LETTERS_AND_DIGITS = st.characters(categories=("L", "Nd"))
# Keys of tags, params and metrics: ``^[/\w.\- :]*$`` that does not move under posixpath.normpath.
KEY_CHARS = st.one_of(LETTERS_AND_DIGITS, st.sampled_from("_-. :/"))
NAME_CHARS = st.one_of(LETTERS_AND_DIGITS, st.sampled_from(" .'\"%#?&\\-_"))
ALIAS_CHARS = st.one_of(LETTERS_AND_DIGITS, st.sampled_from("_-"))
EDGE_FLOATS = (
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    -5e-324,
    0.0,
    -0.0,
    1e-300,
    2.0**53 + 1,
    0.1,
)


def long_text(lengths: tuple[int, ...]) -> st.SearchStrategy[str]:
    """A value of exactly one of ``lengths`` chars, built by repetition (hypothesis draws short text cheaply)."""
    return st.builds(
        lambda seed, n: (seed * (n // len(seed) + 1))[:n],
        st.text(TEXT, min_size=1, max_size=8),
        st.sampled_from(lengths),
    )


def text_value(max_size: int, long_lengths: tuple[int, ...]) -> st.SearchStrategy[str]:
    """Mostly short values, now and then one at MLflow's limit or past a mirror column's width."""
    return st.one_of(st.text(TEXT, max_size=40), st.text(TEXT, max_size=40), long_text(long_lengths)).filter(
        lambda v: len(v) <= max_size
    )


def _valid_key(key: str) -> bool:
    # MLflow refuses keys that normalise to another path, "." or a name starting with ".." or "/".
    return (
        posixpath.normpath(key) == key
        and key != "."
        and not key.startswith(("..", "/"))
        and not key.startswith("mlflow.")
    )


def keys(max_size: int = 250) -> st.SearchStrategy[str]:
    long_keys = st.builds(lambda c, n: c * n, st.sampled_from("kK_é"), st.sampled_from([249, 250]))
    return st.one_of(
        st.sampled_from(["items", "keys", "values", "owner", "get", "pk", "__class__", "a b", "x.y", "a/b", "ключ"]),
        st.text(KEY_CHARS, min_size=1, max_size=30),
        long_keys,
    ).filter(lambda k: len(k) <= max_size and _valid_key(k))


def _valid_model_name(name: str) -> bool:
    return name.strip() != "" and ".." not in name and name != "."


MODEL_NAMES = st.one_of(
    st.sampled_from(
        ["Churn", " padded ", "O'Brien", 'say "hi"', "100%", "#1?&x", "back\\slash", "a.b", "Ünïcødé 模型"]
    ),
    st.text(NAME_CHARS, min_size=1, max_size=40),
    st.builds(lambda c, n: c * n, st.sampled_from("mM'%é "), st.sampled_from([255, 256])).map(lambda n: "x" + n[1:]),
).filter(_valid_model_name)


def _valid_alias(alias: str) -> bool:
    return alias.lower() != "latest" and not re.fullmatch(r"[vV]\d+", alias)


ALIASES = st.one_of(
    st.sampled_from(["items", "2", "-rc", "v2-rc", "champion", "Champion", "чемпион", "_", "keys"]),
    st.text(ALIAS_CHARS, min_size=1, max_size=20),
    st.builds(lambda c: c * 255, st.sampled_from("aß_")),
).filter(_valid_alias)

GIT_COMMITS = st.one_of(
    st.sampled_from(["1a2b3c4d-dirty", "ABCDEF0123456789", "abc", "not a commit", "a" * 70, ""]),
    st.text("0123456789abcdef", min_size=40, max_size=40),
    st.text(TEXT, max_size=20),
)
METRIC_VALUES = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(allow_nan=True, allow_infinity=True))


@dataclass
class DatasetSpec:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None


@dataclass
class RunSpec:
    params: dict[str, str]
    metrics: dict[str, list[float]]
    tags: dict[str, str]
    inputs: list[tuple[DatasetSpec, str | None]]
    status: str
    deleted: bool


@dataclass
class LoggedModelSpec:
    name: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    ready: bool


@dataclass
class VersionSpec:
    # "run": runs:/ source; "run_logged_model": models:/ of a LoggedModel from a run; "logged_model": from no
    # run at all; "path": a plain path, no run.
    kind: str
    run: RunSpec | None
    logged_model: LoggedModelSpec | None
    tags: dict[str, str]
    description: str
    stage: str


@dataclass
class ModelSpec:
    name: str
    description: str
    tags: dict[str, str]
    versions: list[VersionSpec]
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> index into versions


def registry_tags() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(keys(), text_value(100_000, (255, 256, 5001, 100_000)), max_size=4)


@st.composite
def datasets(draw) -> DatasetSpec:
    digest = draw(
        st.one_of(
            st.text("0123456789abcdef", min_size=8, max_size=8),
            st.text("0123456789abcdef", min_size=36, max_size=36),
            st.text(TEXT, min_size=1, max_size=36),
        )
    )
    return DatasetSpec(
        name=draw(st.one_of(st.text(TEXT, min_size=1, max_size=30), long_text((499, 500)))),
        digest=digest,
        source_type=draw(st.sampled_from(["local", "http", "code", "delta_table"])),
        source=draw(
            st.one_of(st.just('{"uri": "/datasets/train.csv"}'), st.text(TEXT, max_size=60), long_text((65_535,)))
        ),
        schema=draw(
            st.one_of(
                st.none(), st.just('{"mlflow_colspec": [{"type": "double", "name": "x"}]}'), st.text(TEXT, max_size=30)
            )
        ),
        profile=draw(st.one_of(st.none(), st.just('{"num_rows": 20}'), st.text(TEXT, max_size=30))),
    )


@st.composite
def runs(draw, pool: list[DatasetSpec]) -> RunSpec:
    tags = draw(st.dictionaries(keys(), text_value(8000, (255, 8000)), max_size=3))
    if draw(st.booleans()):
        tags["mlflow.source.git.commit"] = draw(GIT_COMMITS)
    if draw(st.booleans()):
        tags["mlflow.runName"] = draw(st.text(TEXT, min_size=1, max_size=60))
    inputs = []
    for dataset in (
        draw(st.lists(st.sampled_from(pool), max_size=2, unique_by=lambda d: (d.name, d.digest))) if pool else []
    ):
        context = draw(st.one_of(st.none(), st.sampled_from(["training", "eval", ""]), text_value(500, (499, 500))))
        inputs.append((dataset, context))
    return RunSpec(
        params=draw(st.dictionaries(keys(), text_value(6000, (255, 5999, 6000)), max_size=4)),
        metrics=draw(st.dictionaries(keys(), st.lists(METRIC_VALUES, min_size=1, max_size=3), max_size=5)),
        tags=tags,
        inputs=inputs,
        status=draw(st.sampled_from(["FINISHED", "FINISHED", "FAILED", "KILLED", "RUNNING"])),
        deleted=draw(st.integers(0, 3)) == 3,  # shrinks towards a live run
    )


LOGGED_MODEL_NAMES = st.one_of(
    st.none(), st.text(st.one_of(LETTERS_AND_DIGITS, st.sampled_from(" -_#?&\\")), min_size=1, max_size=40)
)


@st.composite
def logged_models(draw) -> LoggedModelSpec:
    return LoggedModelSpec(
        name=draw(LOGGED_MODEL_NAMES),
        params=draw(st.dictionaries(keys(), text_value(6000, (6000,)), max_size=3)),
        metrics=draw(st.dictionaries(keys(), METRIC_VALUES, max_size=4)),
        ready=draw(st.booleans()),
    )


@st.composite
def versions(draw, pool: list[DatasetSpec]) -> VersionSpec:
    kind = draw(st.sampled_from(["run", "run_logged_model", "logged_model", "path"]))
    return VersionSpec(
        kind=kind,
        run=draw(runs(pool)) if kind in ("run", "run_logged_model") else None,
        logged_model=draw(logged_models()) if kind in ("run_logged_model", "logged_model") else None,
        tags=draw(registry_tags()),
        description=draw(text_value(5000, (5000,))),
        stage=draw(st.sampled_from(STAGES)),
    )


@st.composite
def registries(draw) -> list[ModelSpec]:
    names = draw(st.lists(MODEL_NAMES, min_size=1, max_size=3, unique=True))
    # Names differing only by case are distinct models to MLflow.
    twin = names[0].swapcase()
    if draw(st.booleans()) and twin != names[0] and twin not in names and len(twin) <= 256:
        names.append(twin)
    pool = draw(st.lists(datasets(), max_size=3))
    models = []
    for name in names:
        model_versions = draw(st.lists(versions(pool), max_size=3))
        aliases = {}
        if model_versions:
            aliases = draw(st.dictionaries(ALIASES, st.integers(0, len(model_versions) - 1), max_size=3))
        models.append(
            ModelSpec(
                name=name,
                description=draw(text_value(5000, (5000,))),
                tags=draw(registry_tags()),
                versions=model_versions,
                aliases=aliases,
            )
        )
    return models


def _edge_run(**overrides) -> RunSpec:
    fields = {
        "params": {"items": "p" * 6000, "max depth": "3", "ключ/é": ""},
        "metrics": {f"edge {i}": [value] for i, value in enumerate(EDGE_FLOATS)}
        | {"history": [0.5, float("nan"), 0.75]},
        "tags": {"mlflow.source.git.commit": "1a2b3c4d-dirty", "values": "t" * 8000},
        "inputs": [],
        "status": "FINISHED",
        "deleted": False,
    }
    return RunSpec(**(fields | overrides))


EDGE_DATASET = DatasetSpec(
    name="d" * 500, digest="ab/cd ef#?%", source_type="local", source="s" * 65_535, schema=None, profile=None
)
HEX_DATASET = DatasetSpec(
    name="churn-data", digest="0123abcd", source_type="local", source='{"uri": "/d.csv"}', schema="{}", profile="{}"
)
EDGE_LOGGED_MODEL = LoggedModelSpec(
    name="lm #1",
    params={"lr": "0.1", "keys": "k" * 6000},
    metrics={"nan": float("nan"), "inf": float("inf")},
    ready=True,
)
# Every edge value at once: a dozen random examples cannot be counted on to reach them all.
KITCHEN_SINK = [
    ModelSpec(
        name="x" + "'" * 255,
        description="d" * 5000,
        tags={"owner": "o" * 300, "items": "i", "keys": "k" * 100_000, "a/b": ""},
        versions=[
            VersionSpec(
                kind="run",
                run=_edge_run(inputs=[(EDGE_DATASET, "c" * 500), (HEX_DATASET, None)], status="RUNNING"),
                logged_model=None,
                tags={"values": "v" * 100_000, "owner": "o" * 300},
                description="",
                stage="Production",
            ),
            VersionSpec(
                kind="run_logged_model",
                run=_edge_run(inputs=[(HEX_DATASET, "training")], deleted=True, status="KILLED"),
                logged_model=EDGE_LOGGED_MODEL,
                tags={},
                description="v" * 5000,
                stage="Staging",
            ),
            VersionSpec(
                kind="logged_model", run=None, logged_model=EDGE_LOGGED_MODEL, tags={}, description="", stage="None"
            ),
            VersionSpec(kind="path", run=None, logged_model=None, tags={"get": "x"}, description="", stage="Archived"),
        ],
        aliases={"items": 0, "2": 1, "-rc": 2, "чемпион": 3, "a" * 255: 3},
    ),
    ModelSpec(name=' O\'Brien \\ 100% #1?&"x" ', description="", tags={}, versions=[], aliases={}),
    ModelSpec(name=' o\'bRIEN \\ 100% #1?&"X" ', description="", tags={}, versions=[], aliases={}),
]


class RegistryWriter:
    """Writes a drawn registry the way MLflow users do, with the real client."""

    def __init__(self, client: MlflowClient, root: Path):
        self.client = client
        self.experiment_id = client.create_experiment(
            f"exp-{uuid.uuid4().hex[:8]}", artifact_location=(root / "artifacts").as_uri()
        )
        self._clock = int(time.time() * 1000)

    def write(self, registry: list[ModelSpec]) -> None:
        deleted = []
        for model in registry:
            self.client.create_registered_model(model.name, tags=model.tags, description=model.description)
            numbers = [self._version(model.name, spec, deleted) for spec in model.versions]
            for alias, index in model.aliases.items():
                self.client.set_registered_model_alias(model.name, alias, str(numbers[index]))
        # Last: a deleted run takes no more writes.
        for run_id in deleted:
            self.client.delete_run(run_id)

    def _version(self, name: str, spec: VersionSpec, deleted: list[str]) -> int:
        run_id = self._run(spec.run) if spec.run else None
        model_id = None
        if spec.logged_model:
            model_id = self._logged_model(spec.logged_model, run_id)
            source = f"models:/{model_id}"
        elif run_id:
            source = f"runs:/{run_id}/model"
        else:
            source = f"/mnt/models/{uuid.uuid4().hex[:6]}/model"
        version = self.client.create_model_version(
            name, source, run_id=run_id, tags=spec.tags, description=spec.description, model_id=model_id
        )
        if spec.run:
            if spec.run.status != "RUNNING":
                self.client.set_terminated(run_id, status=spec.run.status)
            if spec.run.deleted:
                deleted.append(run_id)
        if spec.stage != "None":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.client.transition_model_version_stage(name, version.version, spec.stage)
        return int(version.version)

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _run(self, spec: RunSpec) -> str:
        run_id = self.client.create_run(self.experiment_id).info.run_id
        metrics = [
            Metric(key, value, self._tick(), step)
            for key, values in spec.metrics.items()
            for step, value in enumerate(values)
        ]
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, v) for k, v in spec.params.items()],
            tags=[RunTag(k, v) for k, v in spec.tags.items()],
        )
        if spec.inputs:
            self.client.log_inputs(
                run_id,
                [
                    DatasetInput(
                        Dataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
                        tags=[] if context is None else [InputTag("mlflow.data.context", context)],
                    )
                    for d, context in spec.inputs
                ],
            )
        return run_id

    def _logged_model(self, spec: LoggedModelSpec, run_id: str | None) -> str:
        model_id = self.client.create_logged_model(
            self.experiment_id, name=spec.name, source_run_id=run_id, params=spec.params
        ).model_id
        if spec.metrics:
            # A LoggedModel's metrics are logged from a run (MLflow refuses run_id=None): its own, or an
            # evaluation run no version points at.
            metrics_run = run_id or self.client.create_run(self.experiment_id).info.run_id
            for key, value in spec.metrics.items():
                self.client.log_metric(metrics_run, key, value, timestamp=self._tick(), model_id=model_id)
            if not run_id:
                self.client.set_terminated(metrics_run)
        if spec.ready:
            self.client.finalize_logged_model(model_id, "READY")
        return model_id


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite store: each example copies it (creating one costs ~2 s)."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


class ExampleStore:
    """A fresh MLflow store for one example, and the portal pointed at it; the mirror rolled back after."""

    def __init__(self, template: Path):
        self.root = Path(tempfile.mkdtemp(prefix="mirror-property-"))
        shutil.copy(template, self.root / "mlflow.db")
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self._stack = ExitStack()

    def __enter__(self):
        self._stack.callback(shutil.rmtree, self.root, ignore_errors=True)
        self._stack.enter_context(override_settings(MLFLOW_TRACKING_URI=self.uri))
        # MLflow's SQL registry looks up the LoggedModel of a ``models:/m-…`` source through the *global*
        # tracking URI (``MlflowClient()`` in ``create_model_version``); unset, it would open ./mlflow.db.
        self._stack.enter_context(_use_tracking_uri(self.uri))
        self._stack.enter_context(transaction.atomic())
        self._stack.callback(transaction.set_rollback, True)
        return self

    def __exit__(self, *exc_info):
        return self._stack.__exit__(*exc_info)


def assert_mirrored(client: MlflowClient, sync_run: SyncRun) -> None:
    assert sync_run.status == SyncRun.SUCCEEDED, (sync_run.error, sync_run.failures)
    differences = mirror_differences(client)
    assert differences == [], "\n".join(differences)


def assert_pages_answer(browser, registry: list[ModelSpec]) -> None:
    for spec in registry:
        model = RegisteredModel.objects.get(name=spec.name)
        response = browser.get(model.get_absolute_url())
        assert response.status_code == 200, (spec.name, model.get_absolute_url())
        for version in ModelVersion.objects.filter(model=model).select_related("model"):
            url = version.get_absolute_url()
            lineage = reverse("registry:version_lineage", args=[model.name, version.version])
            for page, accept in ((url, "text/html"), (lineage, "text/html"), (lineage, "application/json")):
                response = browser.get(page, HTTP_ACCEPT=accept)
                assert response.status_code == 200, (spec.name, version.version, page, accept)


def assert_mirrored_and_browsable(template: Path, registry: list[ModelSpec], browser) -> None:
    with ExampleStore(template) as store:
        RegistryWriter(store.client, store.root).write(registry)
        assert_mirrored(store.client, sync_registry())
        assert_pages_answer(browser, registry)


def test_a_registry_of_every_edge_value_is_mirrored_exactly_and_browsable(empty_store, client_in):
    assert_mirrored_and_browsable(empty_store, KITCHEN_SINK, client_in)


@property_settings
@given(registry=registries())
def test_every_accepted_registry_is_mirrored_exactly_and_browsable(registry, empty_store, client_in):
    assert_mirrored_and_browsable(empty_store, registry, client_in)


@property_settings
@given(registry=registries())
def test_a_second_sync_of_the_same_registry_writes_nothing(registry, empty_store):
    with ExampleStore(empty_store) as store:
        RegistryWriter(store.client, store.root).write(registry)
        sync_registry()
        with CaptureQueriesContext(connection) as queries:
            sync_run = sync_registry()
        assert writes(queries.captured_queries) == []
        assert_mirrored(store.client, sync_run)


def test_every_edge_value_is_mirrored_exactly_over_http_by_reconcile_and_fast_pass(tmp_path, client_in):
    """The same registry served by a real ``mlflow server``: the lists come through the plain-JSON reader
    (registry/mlflow_rest.py), runs and LoggedModels through MlflowClient; reconcile then a fast pass agree."""
    from conftest import MlflowServer

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with _use_tracking_uri(uri):
        RegistryWriter(MlflowClient(tracking_uri=uri, registry_uri=uri), tmp_path).write(KITCHEN_SINK)
    server = MlflowServer(tmp_path).start()
    try:
        remote = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        with override_settings(MLFLOW_TRACKING_URI=server.url):
            assert_mirrored(remote, sync_registry(mode=SyncRun.RECONCILE))
            assert_pages_answer(client_in, KITCHEN_SINK)
            first = KITCHEN_SINK[0].name
            remote.update_registered_model(first, description="changed over http")
            fast = sync_registry(mode=SyncRun.FAST)
            assert_mirrored(remote, fast)
            assert RegisteredModel.objects.get(name=first).description == "changed over http"
    finally:
        server.stop()
