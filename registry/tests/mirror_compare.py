"""What the mirror holds against what MLflow itself answers, read with a plain ``MlflowClient``.

Deliberately independent of ``registry.sync`` and ``registry.mlflow_client``: it reads MLflow the slow,
obvious way (``get_run`` and ``get_logged_model`` one by one) so a shortcut in sync cannot hide in both.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from mlflow import MlflowClient

from registry.models import LoggedModel, ModelVersion, RegisteredModel, Run

LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[^/]+)$")
# The mirror leaves this run tag out: MLflow fills it with a JSON blob per logged model.
DROPPED_RUN_TAGS = {"mlflow.log-model.history"}


def mirror_differences(client: MlflowClient) -> list[str]:
    """Every way the mirror differs from ``client``'s registry (empty: the mirror is exact)."""
    differences: list[str] = []
    models = list(_pages(client.search_registered_models, max_results=1000))
    versions = list(_pages(client.search_model_versions, max_results=10_000))

    mirrored_models = {m.name: m for m in RegisteredModel.objects.all()}
    _compare_keys(differences, "registered models", {m.name for m in models}, set(mirrored_models))
    aliases_of: dict[str, dict[str, int]] = {}
    for model in models:
        aliases_of[model.name] = {alias: int(number) for alias, number in (model.aliases or {}).items()}
        row = mirrored_models.get(model.name)
        if row is None:
            continue
        where = f"model {_show(model.name, 80)}"
        _compare(differences, where, "description", model.description or "", row.description)
        _compare(differences, where, "tags", dict(model.tags or {}), row.tags)
        _compare(differences, where, "aliases", aliases_of[model.name], row.aliases)

    mirrored_versions = {(v.model.name, v.version): v for v in ModelVersion.objects.select_related("model")}
    _compare_keys(differences, "model versions", {(v.name, int(v.version)) for v in versions}, set(mirrored_versions))
    runs_by_id = {r.run_id: r for r in Run.objects.prefetch_related("inputs__dataset")}
    logged_by_id = {m.model_id: m for m in LoggedModel.objects.all()}
    for version in versions:
        number = int(version.version)
        row = mirrored_versions.get((version.name, number))
        if row is None:
            continue
        where = f"model {_show(version.name, 80)} v{number}"
        by_version = defaultdict(list)
        for alias, target in aliases_of.get(version.name, {}).items():
            by_version[target].append(alias)
        _compare(differences, where, "stage", version.current_stage or "None", row.stage)
        _compare(differences, where, "aliases", sorted(by_version[number]), row.aliases)
        _compare(differences, where, "status", version.status or "", row.status)
        _compare(differences, where, "run_id", version.run_id or None, row.run_id)
        _compare(differences, where, "source", version.source or "", row.source)
        _compare(differences, where, "description", version.description or "", row.description)
        _compare(differences, where, "tags", dict(version.tags or {}), row.tags)
        if version.run_id:
            _compare_run(differences, client, version.run_id, runs_by_id.get(version.run_id), where)
        match = LOGGED_MODEL_SOURCE.match(version.source or "")
        model_id = match.group(1) if match else None
        _compare(differences, where, "logged_model_id", model_id, row.logged_model_id)
        if model_id:
            _compare_logged_model(differences, client, model_id, logged_by_id.get(model_id), where)
    return differences


def _compare_run(differences: list[str], client: MlflowClient, run_id: str, row: Run | None, where: str) -> None:
    where = f"{where} run {run_id}"
    if row is None:
        differences.append(f"{where}: not mirrored")
        return
    run = client.get_run(run_id)
    tags = {k: v for k, v in run.data.tags.items() if k not in DROPPED_RUN_TAGS}
    _compare(differences, where, "params", dict(run.data.params), row.params)
    _compare_floats(differences, where, "metrics", dict(run.data.metrics), row.metrics)
    _compare(differences, where, "tags", tags, row.tags)
    _compare(differences, where, "lifecycle_stage", run.info.lifecycle_stage, row.lifecycle_stage)
    _compare(differences, where, "status", run.info.status, row.status)
    expected_inputs = sorted(
        (
            d.dataset.name,
            d.dataset.digest,
            next((t.value for t in d.tags or [] if t.key == "mlflow.data.context"), ""),
            d.dataset.source_type,
            d.dataset.source,
            d.dataset.schema or "",
            d.dataset.profile or "",
        )
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    )
    mirrored_inputs = sorted(
        (
            i.dataset.name,
            i.dataset.digest,
            i.context,
            i.dataset.source_type,
            i.dataset.source,
            i.dataset.schema,
            i.dataset.profile,
        )
        for i in row.inputs.all()
    )
    _compare(
        differences,
        where,
        "datasets (name, digest, context, source_type, source, schema, profile)",
        expected_inputs,
        mirrored_inputs,
    )


def _compare_logged_model(
    differences: list[str], client: MlflowClient, model_id: str, row: LoggedModel | None, where: str
) -> None:
    where = f"{where} logged model {model_id}"
    if row is None:
        differences.append(f"{where}: not mirrored")
        return
    logged = client.get_logged_model(model_id)
    _compare(differences, where, "params", dict(logged.params or {}), row.params)
    _compare_floats(differences, where, "metrics", _latest_metrics(logged.metrics or []), row.metrics)


def _latest_metrics(metrics) -> dict[str, float]:
    """``get_logged_model`` returns every logged value: the latest per key is the one at the highest
    (step, timestamp), as MLflow reduces a run's history."""
    latest = {}
    for metric in sorted(metrics, key=lambda m: (m.step, m.timestamp)):
        latest[metric.key] = metric.value
    return latest


def _pages(method, **kwargs):
    token = None
    while True:
        page = method(page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def _compare(differences: list[str], where: str, field: str, expected, mirrored) -> None:
    if expected != mirrored or type(expected) is not type(mirrored):
        differences.append(f"{where}: {field}: MLflow has {_show(expected)}, mirror has {_show(mirrored)}")


def _compare_keys(differences: list[str], what: str, expected: set, mirrored: set) -> None:
    if missing := expected - mirrored:
        differences.append(f"{what} missing from the mirror: {sorted(missing)!r}"[:2000])
    if extra := mirrored - expected:
        differences.append(f"{what} in the mirror but not in MLflow: {sorted(extra)!r}"[:2000])


def _compare_floats(differences: list[str], where: str, field: str, expected: dict, mirrored) -> None:
    """Exact float equality: NaN equals NaN, and the sign of a zero counts (what MLflow returns, bit for bit)."""
    if not isinstance(mirrored, dict) or set(expected) != set(mirrored):
        _compare(differences, where, field, expected, mirrored)
        return
    for key, value in expected.items():
        if not _same_float(value, mirrored[key]):
            differences.append(f"{where}: {field}[{key!r}]: MLflow has {value!r}, mirror has {mirrored[key]!r}")


def _same_float(expected: float, mirrored) -> bool:
    if not isinstance(mirrored, float):
        return False
    if math.isnan(expected):
        return math.isnan(mirrored)
    return expected == mirrored and math.copysign(1.0, expected) == math.copysign(1.0, mirrored)


def _show(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"
