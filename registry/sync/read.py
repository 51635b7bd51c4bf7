"""Reading what a sync needs from MLflow (and the mirror's rows to compare with): the whole registry, the
fast pass's changes since the watermarks, named models, renamed models' old names, runs and LoggedModels."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db.models import Max, Q

from ..mlflow_client import RegistryClient
from ..mlflow_data import LoggedModelData, ModelData, RunData, VersionData
from ..models import TERMINAL_RUN_STATUSES, LoggedModel, ModelVersion, RegisteredModel, Run, SyncRun
from .model import VERSION_FIELDS

SETTLED_LOGGED_MODEL_STATUSES = ("READY", "FAILED", "LoggedModelStatus.READY", "LoggedModelStatus.FAILED")


@dataclass
class Snapshot:
    """What one sync read from MLflow."""

    models: list[ModelData]
    versions: dict[str, list[VersionData]]
    # Names MLflow answered "does not exist" for: the only models a sync may delete.
    gone: set[str] = field(default_factory=set)
    runs: dict[str, tuple[RunData, str, str]] = field(default_factory=dict)  # run id -> (run, exp name, exp stage)
    missing_runs: set[str] = field(default_factory=set)  # asked for, not returned (gc'd)
    logged_models: dict[str, LoggedModelData] = field(default_factory=dict)
    # (models, versions): newest timestamps the lists showed (ms); None for a one-model read.
    watermarks: tuple[int, int] | None = None
    # The mirror's rows to compare with, read while MLflow was answering (whole-registry reads only).
    mirror: tuple[dict, dict] | None = None


def _read_all(client: RegistryClient) -> Snapshot:
    # The two lists at once: each is mostly the server's time building its response.
    with ThreadPoolExecutor(max_workers=2) as pool:
        listed_models = pool.submit(client.search_models)
        listed_versions = pool.submit(client.search_versions)
        # Meanwhile, in this thread (the database connection is this thread's): what to compare them with.
        mirror = _mirror_rows(RegisteredModel.objects.all())
        models, all_versions = listed_models.result(), listed_versions.result()
    versions: dict[str, list[VersionData]] = defaultdict(list)
    for version in all_versions:
        versions[version.name].append(version)
    listed = {m.name for m in models}
    snapshot = Snapshot(
        models=models, versions=versions, watermarks=(_newest(models), _newest(all_versions)), mirror=mirror
    )
    # A mirrored model missing from the list is deleted only when MLflow confirms it by name: a list that
    # came back short by mistake must never empty the mirror. One call per vanished model: cost ∝ change.
    for name in RegisteredModel.objects.exclude(name__in=listed).values_list("name", flat=True).iterator():
        found = client.get_model(name)
        if found is None:
            snapshot.gone.add(name)
        else:
            snapshot.models.append(found)
            snapshot.versions[name] = client.search_versions(name)
    return snapshot


def _read_models(client: RegistryClient, names) -> Snapshot:
    snapshot = Snapshot(models=[], versions={})
    for name in names:
        found = client.get_model(name)
        if found is None:
            snapshot.gone.add(name)
            continue
        snapshot.models.append(found)
        snapshot.versions[name] = client.search_versions(name)
    return snapshot


# Without a watermark recorded by an earlier pass (the first fast pass), the mirror's newest timestamps stand
# in, less this much: a change made while that earlier pass was reading may be older than one it stored.
WATERMARK_OVERLAP_MS = 10_000


def _ms(at) -> int:
    return int(at.timestamp() * 1000) if at else 0


def _newest(rows) -> int:
    return max((_ms(row.updated_at) for row in rows), default=0)


def watermarks() -> tuple[int, int]:
    """(models, versions), in ms: read back to here. The newest timestamps the last finished fast or reconcile
    pass saw in its lists: a change made after a list was read carries a later timestamp, and a model that
    failed is retried through its ``sync_error`` whatever the watermark."""
    last = (
        SyncRun.objects.filter(status__in=(SyncRun.SUCCEEDED, SyncRun.PARTIAL), versions_watermark__isnull=False)
        .order_by("-id")
        .values_list("models_watermark", "versions_watermark")
        .first()
    )
    if last is not None:
        return last[0], last[1]
    marks = []
    for query in (RegisteredModel.objects, ModelVersion.objects):
        latest = query.aggregate(at=Max("updated_at"))["at"]
        marks.append(max(_ms(latest) - WATERMARK_OVERLAP_MS, 0) if latest else 0)
    return marks[0], marks[1]


def _read_changed(client: RegistryClient) -> Snapshot:
    """The fast pass: what changed since the watermarks, plus models whose last sync failed (retried)."""
    model_mark, version_mark = watermarks()
    changed_models = client.search_models_since(model_mark)
    changed_versions = client.search_versions_since(version_mark)
    mirrored = {
        (name, number): (stage, description, status, updated)
        for name, number, stage, description, status, updated in ModelVersion.objects.filter(
            model__name__in={v.name for v in changed_versions}
        ).values_list("model__name", "version", "stage", "description", "status", "updated_at")
    }
    names = {
        v.name
        for v in changed_versions
        if mirrored.get((v.name, v.version)) != (v.stage, v.description, v.status, v.updated_at)
    }
    models = {
        name: (description, updated)
        for name, description, updated in RegisteredModel.objects.filter(
            name__in={m.name for m in changed_models}
        ).values_list("name", "description", "updated_at")
    }
    names |= {m.name for m in changed_models if models.get(m.name) != (m.description, m.updated_at)}
    names |= set(RegisteredModel.objects.exclude(sync_error="").values_list("name", flat=True))
    snapshot = _read_models(client, sorted(names))
    snapshot.watermarks = (
        max(model_mark, _newest(changed_models)),
        max(version_mark, _newest(changed_versions)),
    )
    return snapshot


def _look_for_renames(client: RegistryClient, snapshot: Snapshot) -> None:
    """A model new to the mirror that shares its creation time with a mirrored model this read did not
    cover may be that model renamed: ask MLflow for the old name (one call, only then)."""
    listed = {m.name for m in snapshot.models}
    mirrored = set(RegisteredModel.objects.filter(name__in=listed).values_list("name", flat=True))
    created = {m.created_at for m in snapshot.models if m.name not in mirrored and m.created_at is not None}
    if not created:
        return
    candidates = (
        RegisteredModel.objects.filter(created_at__in=created)
        .exclude(name__in=listed | snapshot.gone)
        .values_list("name", flat=True)
    )
    for name in candidates:
        if client.get_model(name) is None:
            snapshot.gone.add(name)


def _runs_wanted(snapshot: Snapshot, *, full: bool) -> set[str]:
    """Run ids to read: the versions' and LoggedModels' runs that are new or unfinished (all of them with ``full``)."""
    wanted = {v.run_id for versions in snapshot.versions.values() for v in versions if v.run_id}
    wanted |= {m.source_run_id for m in snapshot.logged_models.values() if m.source_run_id}
    if not full and wanted:
        # The settled runs' ids rather than ``run_id IN (10,000 ids)``: building that query cost more than this.
        settled = Run.objects.filter(Q(status__in=TERMINAL_RUN_STATUSES) | Q(gone=True))
        wanted -= set(settled.values_list("run_id", flat=True).iterator(chunk_size=5000))
    return wanted


def _read_runs(client: RegistryClient, wanted: set[str]) -> tuple[dict, set[str]]:
    """(run id -> (run, experiment name, experiment stage), ids MLflow did not return). MLflow only: this runs
    beside the writes, in another thread, so it touches neither the database nor the snapshot."""
    if not wanted:
        return {}, set()
    experiments = client.experiments()
    runs = {}
    for run in client.search_runs(wanted, list(experiments)):
        name, stage = experiments.get(run.experiment_id, ("", ""))
        runs[run.run_id] = (run, name, stage)
    return runs, wanted - set(runs)


def _read_logged_models(client: RegistryClient, snapshot: Snapshot, *, full: bool) -> None:
    wanted = {v.logged_model_id for versions in snapshot.versions.values() for v in versions if v.logged_model_id}
    if not full:
        settled = LoggedModel.objects.filter(model_id__in=wanted, status__in=SETTLED_LOGGED_MODEL_STATUSES)
        wanted -= set(settled.values_list("model_id", flat=True))
    for model_id in sorted(wanted):
        logged = client.get_logged_model(model_id)
        if logged is not None:
            snapshot.logged_models[model_id] = logged


def _mirror_rows(models) -> tuple[dict[str, RegisteredModel], dict[int, dict[int, tuple]]]:
    """The mirrored ``models`` by name, and their versions as plain tuples of ``VERSION_FIELDS`` by model id and
    number: an unchanged registry of 10,000 versions must not build 10,000 instances (models that differ are
    read again, as instances, under their lock)."""
    mirrored = {m.name: m for m in models}
    versions: dict[int, dict[int, tuple]] = defaultdict(dict)
    for model_id, number, *values in ModelVersion.objects.filter(model__in=list(mirrored.values())).values_list(
        "model_id", "version", *VERSION_FIELDS
    ):
        versions[model_id][number] = tuple(values)
    return mirrored, versions
