"""Registries drawn from what MLflow 3.17 accepts (``mlflow/utils/validation.py``, 3.17.2), and the writer that
puts one into a store with the real client, as MLflow users do: the examples of ``test_mirror_property.py``.
``KITCHEN_SINK`` holds every edge value at once.
"""

from __future__ import annotations

import posixpath
import re
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

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
