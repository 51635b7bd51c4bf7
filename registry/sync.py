"""Mirror MLflow's registry into the portal's tables: batched, per model isolated, cost in proportion to change.

Three ways in, one writer (``_sync_model``), see docs/sync.md:

* **reconcile** (``mode="reconcile"``, the default, "Sync now"): one paginated ``search_registered_models``
  (aliases live there), one paginated ``search_model_versions``, and only for runs that are new or
  unfinished (every run with ``full``) one ``search_experiments`` plus one ``search_runs`` per chunk of run
  ids; a ``get_logged_model`` per LoggedModel not mirrored yet. It alone sees deletions, and tag and alias
  changes (they bump no timestamp) when no webhook reports them.
* **fast pass** (``mode="fast"``): versions and models ordered by ``last_updated_timestamp DESC``, read back
  to the mirror's watermark; only models whose rows differ from the mirror are synced. Nothing changed:
  two MLflow calls and no write.
* **one model** (``model_name=...``, webhooks): ``get_registered_model`` by exact name, its versions.

Each model is written in its own transaction with its runs, StageChanges and audit events: a model that
cannot be read or stored fails alone (the SyncRun is ``partial`` and names it; the model's row says it is
stale) and the next sync retries it. A model leaves the mirror only when MLflow answers "does not exist"
for its name; a model that vanished under one name and appeared under another with the same creation
time and versions was renamed, and its row moves with everything linked to it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit.services import PendingEvent, Target, record_many

from .fields import same_floats
from .mlflow_client import (
    LoggedModelData,
    MlflowError,
    ModelData,
    RegistryClient,
    RunData,
    VersionData,
)
from .models import (
    OWNER_LENGTH,
    TERMINAL_RUN_STATUSES,
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
from .signals import model_renamed, versions_removed

logger = logging.getLogger(__name__)
ACTOR = "system:sync"
RUN_FIELDS = (
    "experiment_id",
    "experiment_name",
    "run_name",
    "user",
    "status",
    "start_time",
    "end_time",
    "params",
    "metrics",
    "tags",
    "git_commit",
    "source_name",
    "lifecycle_stage",
    "experiment_lifecycle_stage",
    "gone",
)
LOGGED_MODEL_FIELDS = (
    "experiment_id",
    "name",
    "source_run_id",
    "status",
    "params",
    "metrics",
    "metric_datasets",
    "tags",
    "created_at",
    "updated_at",
)
SETTLED_LOGGED_MODEL_STATUSES = ("READY", "FAILED", "LoggedModelStatus.READY", "LoggedModelStatus.FAILED")
HEX = frozenset("0123456789abcdef")
# Models written per commit (each in its own savepoint): 500 commits were a fifth of a first sync's time.
WRITE_BATCH = 25


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


def sync_registry(
    *,
    model_name: str | None = None,
    full: bool = False,
    trigger: str = "command",
    sync_run: SyncRun | None = None,
    mode: str | None = None,
) -> SyncRun:
    """Run one sync and return its SyncRun: ``succeeded``, ``partial`` (some models failed alone, named in
    ``failures``) or ``failed`` (MLflow unreadable: nothing written, or, failing while reading runs, only the
    models and versions written before, as ``counts`` say)."""
    mode = mode or (SyncRun.MODEL if model_name else SyncRun.RECONCILE)
    if sync_run is None:
        sync_run = SyncRun.objects.create(model_name=model_name or "", full=full, trigger=trigger[:40], mode=mode)
    elif sync_run.mode != mode:
        sync_run.mode = mode
        sync_run.save(update_fields=["mode"])
    client = RegistryClient()
    counts: Counter = Counter()
    try:
        if model_name:
            snapshot = _read_models(client, [model_name])
        elif mode == SyncRun.FAST:
            snapshot = _read_changed(client)
        else:
            snapshot = _read_all(client)
        _look_for_renames(client, snapshot)
        _read_logged_models(client, snapshot, full=full)
        wanted = _runs_wanted(snapshot, full=full)
    except MlflowError as exc:
        logger.warning("sync failed: %s", exc)
        counts["mlflow_calls"] = client.calls
        return _finish(sync_run, counts, {}, f"MLflow unavailable or failing: {exc}")
    # Runs are most of a first sync's reading (MLflow's search_runs), models and versions most of its writing,
    # and versions do not need their runs stored first (no database constraint): both at once.
    with ThreadPoolExecutor(max_workers=1) as pool:
        fetching = pool.submit(_read_runs, client, wanted)
        failures = _write(snapshot, sync_run, counts)
        try:
            snapshot.runs, snapshot.missing_runs = fetching.result()
        except MlflowError as exc:
            # What was written stays (counted as committed); the runs, still unsettled, are read next time.
            logger.warning("sync could not read runs: %s", exc)
            counts["mlflow_calls"] = client.calls
            return _finish(sync_run, counts, failures, f"MLflow unavailable or failing while reading runs: {exc}")
    counts["mlflow_calls"] = client.calls
    counts["runs_fetched"] = len(snapshot.runs)
    failures.update(_write_runs(snapshot, counts))
    if snapshot.watermarks is not None:
        sync_run.models_watermark, sync_run.versions_watermark = snapshot.watermarks
    return _finish(sync_run, counts, failures, "")


# ---- reading ------------------------------------------------------------------------------------
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


# ---- writing ------------------------------------------------------------------------------------
def _write(snapshot: Snapshot, sync_run: SyncRun, counts: Counter) -> dict[str, str]:
    failures: dict[str, str] = {}
    names = {m.name for m in snapshot.models}
    if snapshot.mirror is not None:
        mirrored, mirrored_versions = snapshot.mirror
    else:
        mirrored, mirrored_versions = _mirror_rows(RegisteredModel.objects.filter(name__in=names | snapshot.gone))
    renamed = _renames(snapshot, mirrored)
    logged_by_model = {name: logged for name, (_, logged) in _runs_by_model(snapshot).items()}

    todo = []
    for data in snapshot.models:
        current = mirrored.get(data.name)
        existing = mirrored_versions.get(current.pk, {}) if current else {}
        versions = snapshot.versions.get(data.name, [])
        logged = logged_by_model.get(data.name, [])
        if (
            current is not None
            and not current.sync_error
            and not logged
            and _unchanged(data, versions, current, existing)
        ):
            continue  # nothing to write: no transaction, no query
        todo.append((data, versions, logged))

    for start in range(0, len(todo), WRITE_BATCH):
        batch_counts: Counter = Counter()
        batch_failures: dict[str, str] = {}
        batch_events: list[PendingEvent] = []
        try:
            # One commit per batch, a savepoint per model: a model that fails rolls back alone. The audit events
            # of the models kept are appended once per batch, in the same transaction (one chain lock, one insert).
            with transaction.atomic():
                for data, versions, logged in todo[start : start + WRITE_BATCH]:
                    model_counts: Counter = Counter()
                    model_events: list[PendingEvent] = []
                    try:
                        with transaction.atomic():
                            _write_model(data, versions, logged, renamed, sync_run, model_counts, model_events)
                        batch_counts.update(model_counts)  # only what the savepoint kept
                        batch_events.extend(model_events)
                    except Exception as exc:  # noqa: BLE001 - one model's failure leaves its previous mirror intact
                        logger.exception("sync of model %s failed", data.name)
                        batch_failures[data.name] = _describe(exc)
                record_many(batch_events)
        except Exception as exc:  # noqa: BLE001 - the batch's commit itself failed: none of it was kept
            logger.exception("sync could not commit a batch of models")
            batch_counts.clear()
            batch_failures = {data.name: _describe(exc) for data, *_ in todo[start : start + WRITE_BATCH]}
        counts.update(batch_counts)
        failures.update(batch_failures)
        for name, error in batch_failures.items():
            _mark_stale(name, error)
    for name in snapshot.gone:
        model = mirrored.get(name)
        if model is None or model.pk in {m.pk for m in renamed.values()}:
            continue
        try:
            with transaction.atomic():
                _delete_model(model, counts)
        except Exception as exc:  # noqa: BLE001
            logger.exception("could not delete model %s from the mirror", name)
            failures[name] = _describe(exc)
    return failures


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


def _write_runs(snapshot: Snapshot, counts: Counter) -> dict[str, str]:
    """Store the runs read, all in one go when they can be; else model by model, each in its own savepoint, so
    that a run the database refuses fails only the models that need it (they are marked stale and retried)."""
    by_model = {name: runs for name, (runs, _) in _runs_by_model(snapshot).items() if runs}
    unique = list({(i[0].run_id if i[0] is not None else i[1]): i for runs in by_model.values() for i in runs}.values())
    if not unique:
        return {}
    run_counts: Counter = Counter()
    try:
        with transaction.atomic():
            _store_runs(unique, run_counts)
        counts.update(run_counts)
        return {}
    except Exception:  # noqa: BLE001 - retried model by model
        logger.warning("storing this sync's runs together failed; storing them model by model", exc_info=True)
    failures = {}
    for name, runs in sorted(by_model.items()):
        run_counts = Counter()
        try:
            with transaction.atomic():
                _store_runs(runs, run_counts)
            counts.update(run_counts)
        except Exception as exc:  # noqa: BLE001 - one model's runs fail that model alone
            logger.exception("could not store the runs of model %s", name)
            failures[name] = _describe(exc)
            _mark_stale(name, failures[name])
    return failures


def _write_model(data, versions, logged, renamed: dict, sync_run, counts, events) -> None:
    # Webhook syncs, the fast pass and reconcile may run at once: under the lock, read the rows again and
    # write against what is there now.
    _lock_model(data.name)
    _store_logged_models(logged, counts)
    current = RegisteredModel.objects.filter(name=data.name).first()
    origin = renamed.get(data.name)
    if current is None and origin is not None:
        origin = RegisteredModel.objects.filter(pk=origin.pk).first()
        if origin is not None and origin.name != data.name:
            current = _rename(origin, data.name, sync_run, counts)
    existing = {row.version: row for row in current.versions.all()} if current else {}
    _sync_model(data, versions, current, existing, sync_run, counts, events)


def _lock_model(name: str) -> None:
    """Serialise writers of one model's mirror until the transaction ends (PostgreSQL; SQLite locks the
    whole database for a write anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"registry.sync:{name}"])


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= 500 else text[:499] + "…"


def _mark_stale(name: str, error: str) -> None:
    """Say on the model's own row that its mirror is stale (a row of its name only, if it had none)."""
    try:
        with transaction.atomic():
            model, created = RegisteredModel.objects.get_or_create(name=name)
            model.sync_error = error
            model.stale_since = model.stale_since or timezone.now()
            model.save(update_fields=["sync_error", "stale_since"])
    except Exception:  # noqa: BLE001 - the SyncRun still names the model and its error
        logger.exception("could not mark model %s stale", name)


def _finish(sync_run: SyncRun, counts: Counter, failures: dict[str, str], error: str) -> SyncRun:
    sync_run.counts = dict(counts)
    sync_run.failures = failures
    if failures and not error:
        error = "; ".join(f"{name}: {message}" for name, message in sorted(failures.items()))
        sync_run.status = SyncRun.PARTIAL
    else:
        sync_run.status = SyncRun.FAILED if error else SyncRun.SUCCEEDED
    sync_run.error = error
    sync_run.finished_at = timezone.now()
    sync_run.save(
        update_fields=["counts", "failures", "error", "status", "finished_at", "models_watermark", "versions_watermark"]
    )
    return sync_run


def _runs_by_model(snapshot: Snapshot) -> dict[str, tuple[list, list]]:
    """The runs and LoggedModels read this sync, grouped by the model whose versions need them."""
    grouped: dict[str, tuple[list, list]] = {}
    for name, versions in snapshot.versions.items():
        logged = [
            snapshot.logged_models[v.logged_model_id] for v in versions if v.logged_model_id in snapshot.logged_models
        ]
        run_ids = {v.run_id for v in versions if v.run_id} | {m.source_run_id for m in logged if m.source_run_id}
        runs = [snapshot.runs[r] for r in sorted(run_ids) if r in snapshot.runs]
        runs += [(None, r) for r in sorted(run_ids & snapshot.missing_runs)]
        if runs or logged:
            grouped[name] = (runs, logged)
    return grouped


def commit_key(value: str) -> str:
    """The commit as a lineage key: a lower-case hex hash (4–64 digits), else empty (shown as text only)."""
    lowered = (value or "").strip().lower()
    return lowered if 4 <= len(lowered) <= 64 and set(lowered) <= HEX else ""


def _run_fields(run: RunData, experiment_name: str, experiment_stage: str) -> dict:
    return {
        "experiment_id": run.experiment_id,
        "experiment_name": experiment_name,
        "run_name": run.run_name,
        "user": run.user,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "git_commit": commit_key(run.tags.get("mlflow.source.git.commit", "")),
        "source_name": run.tags.get("mlflow.source.name", ""),
        "lifecycle_stage": run.lifecycle_stage or Run.ACTIVE,
        "experiment_lifecycle_stage": experiment_stage or Run.ACTIVE,
        "gone": False,
    }


def _differs(row, fields: dict, float_maps=("metrics",)) -> list[str]:
    return [
        key
        for key, value in fields.items()
        if (not same_floats(getattr(row, key), value) if key in float_maps else getattr(row, key) != value)
    ]


def _new_and_changed(model, key: str, existing: dict, wanted: dict[str, dict]) -> tuple[list, list]:
    """The rows to insert and the rows to update (only those that differ) so that each key's row holds its fields."""
    new_rows, changed = [], []
    for value, fields in wanted.items():
        row = existing.get(value)
        if row is None:
            new_rows.append(model(**{key: value}, **fields))
        elif _differs(row, fields):
            for name, field_value in fields.items():
                setattr(row, name, field_value)
            changed.append(row)
    return new_rows, changed


def _store_runs(runs: list, counts: Counter) -> None:
    """``runs``: (run data, experiment name, experiment stage) tuples, or (None, run id) for a run MLflow
    no longer returns (gc'd): kept as ``gone`` so no sync asks for it again."""
    if not runs:
        return
    wanted = {}
    for item in runs:
        if item[0] is None:
            wanted[item[1]] = {"gone": True}
        else:
            wanted[item[0].run_id] = _run_fields(*item)
    existing = {r.run_id: r for r in Run.objects.filter(run_id__in=list(wanted))}
    new_rows, changed = _new_and_changed(Run, "run_id", existing, wanted)
    # ``ignore_conflicts``: a run shared by two models may be stored by a concurrent sync of the other one.
    Run.objects.bulk_create(new_rows, batch_size=1000, ignore_conflicts=True)
    Run.objects.bulk_update(changed, RUN_FIELDS, batch_size=500)
    counts["runs_created"] += len(new_rows)
    counts["runs_updated"] += len(changed)
    _store_inputs([item[0] for item in runs if item[0] is not None])


def _store_inputs(runs: list[RunData]) -> None:
    keys = {(d.name, d.digest): d for run in runs for d in run.datasets}
    run_pks = dict(Run.objects.filter(run_id__in=[r.run_id for r in runs]).values_list("run_id", "pk"))
    datasets = {}
    if keys:
        names = {name for name, _ in keys}
        datasets = {(d.name, d.digest): d for d in Dataset.objects.filter(name__in=names)}
        missing = [
            Dataset(
                name=d.name,
                digest=d.digest,
                source_type=d.source_type,
                source=d.source,
                schema=d.schema,
                profile=d.profile,
            )
            for key, d in keys.items()
            if key not in datasets
        ]
        if missing:
            Dataset.objects.bulk_create(missing, ignore_conflicts=True)
            datasets = {(d.name, d.digest): d for d in Dataset.objects.filter(name__in=names)}
    current: dict[int, dict[tuple, int]] = defaultdict(dict)
    for pk, run_pk, dataset_pk, context in RunInput.objects.filter(run_id__in=run_pks.values()).values_list(
        "pk", "run_id", "dataset_id", "context"
    ):
        current[run_pk][(dataset_pk, context)] = pk
    stale, new_rows = [], []
    for run in runs:
        run_pk = run_pks[run.run_id]
        wanted = {(datasets[(d.name, d.digest)].pk, d.context) for d in run.datasets}
        have = current[run_pk]
        stale.extend(pk for key, pk in have.items() if key not in wanted)
        new_rows.extend(RunInput(run_id=run_pk, dataset_id=ds, context=ctx) for ds, ctx in wanted - have.keys())
    if stale:
        RunInput.objects.filter(pk__in=stale).delete()
    RunInput.objects.bulk_create(new_rows, batch_size=1000, ignore_conflicts=True)


def _logged_model_fields(logged: LoggedModelData) -> dict:
    return {
        "experiment_id": logged.experiment_id,
        "name": logged.name,
        "source_run_id": logged.source_run_id,
        "status": logged.status,
        "params": logged.params,
        "metrics": logged.metrics,
        "metric_datasets": logged.metric_datasets,
        "tags": logged.tags,
        "created_at": logged.created_at,
        "updated_at": logged.updated_at,
    }


def _store_logged_models(logged_models: list[LoggedModelData], counts: Counter) -> None:
    if not logged_models:
        return
    wanted = {logged.model_id: _logged_model_fields(logged) for logged in logged_models}
    existing = {m.model_id: m for m in LoggedModel.objects.filter(model_id__in=list(wanted))}
    new_rows, changed = _new_and_changed(LoggedModel, "model_id", existing, wanted)
    LoggedModel.objects.bulk_create(new_rows, ignore_conflicts=True)
    LoggedModel.objects.bulk_update(changed, LOGGED_MODEL_FIELDS)
    counts["logged_models_stored"] += len(new_rows) + len(changed)


def owner_of(tags: dict) -> str:
    """The ``owner`` tag as the model's owner (a user name), or empty: a tag value longer than any user name
    (MLflow allows 100,000 characters) names nobody; the tag itself is mirrored as it is."""
    owner = tags.get("owner", "")
    return owner if len(owner) <= OWNER_LENGTH else ""


def _model_fields(model: ModelData) -> dict:
    return {
        "description": model.description,
        "tags": model.tags,
        "aliases": model.aliases,
        "owner": owner_of(model.tags),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


VERSION_FIELDS = (
    "stage",
    "aliases",
    "status",
    "status_message",
    "run_id",
    "logged_model_id",
    "source",
    "description",
    "tags",
    "created_at",
    "updated_at",
)


def _version_fields(version: VersionData, aliases: list[str]) -> dict:
    """The mirror's fields of one version, in ``VERSION_FIELDS`` order."""
    return {
        "stage": version.stage,
        "aliases": aliases,
        "status": version.status,
        "status_message": version.status_message,
        "run_id": version.run_id or None,
        "logged_model_id": version.logged_model_id or None,
        "source": version.source,
        "description": version.description,
        "tags": version.tags,
        "created_at": version.created_at,
        "updated_at": version.updated_at,
    }


def _aliases_by_version(data: ModelData) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = defaultdict(list)
    for alias, number in data.aliases.items():
        by_version[number].append(alias)
    return by_version


def _unchanged(data: ModelData, versions: list[VersionData], model: RegisteredModel, existing: dict) -> bool:
    """``existing``: version number -> the mirror's ``VERSION_FIELDS`` values, as a tuple."""
    if any(getattr(model, k) != v for k, v in _model_fields(data).items()):
        return False
    if len(versions) != len(existing):
        return False
    aliases = _aliases_by_version(data)
    for version in versions:
        row = existing.get(version.version)
        if row is None or row != tuple(_version_fields(version, sorted(aliases.get(version.version, []))).values()):
            return False
    return True


def _same_incarnation(created_in_mirror: dt.datetime | None, created_in_mlflow: dt.datetime | None) -> bool:
    """A name (or version number) MLflow re-used for a new entity shows a different creation time."""
    return created_in_mirror is None or created_in_mlflow is None or created_in_mirror == created_in_mlflow


def _sync_model(
    data: ModelData,
    versions: list[VersionData],
    model: RegisteredModel | None,
    existing: dict[int, ModelVersion],
    sync_run: SyncRun,
    counts: Counter,
    events: list[PendingEvent],
) -> None:
    """Write one model's mirror; its audit events are appended to ``events`` for the caller to record."""
    changes: list[StageChange] = []
    fields = {**_model_fields(data), "sync_error": "", "stale_since": None}
    if model is not None and not _same_incarnation(model.created_at, data.created_at):
        # Deleted and created again under the same name: the old model's history must not attach to the new one.
        _delete_model(model, counts, reason="re-created in MLflow under the same name")
        model, existing = None, {}
    # The row a failed first sync left to say the model is stale: this sync is the model's first mirror.
    placeholder = model is not None and model.created_at is None and not existing
    if model is None or placeholder:
        fields["mirrored_since"] = timezone.now()
        if placeholder:
            for key, value in fields.items():
                setattr(model, key, value)
            model.save()
        else:
            model = RegisteredModel.objects.create(name=data.name, **fields)
        counts["models_created"] += 1
        events.append(PendingEvent(ACTOR, "registry.model_created", _model_target(data.name), {"owner": model.owner}))
        _alias_changes(data.name, {}, data.aliases, sync_run, events, changes)
    else:
        before = {k: getattr(model, k) for k in fields}
        changed = [k for k, v in fields.items() if before[k] != v]
        if changed:
            for key in changed:
                setattr(model, key, fields[key])
            model.save(update_fields=changed)
            counts["models_updated"] += 1
            described = {
                k: {"from": before[k], "to": fields[k]}
                for k in changed
                if k not in ("updated_at", "aliases", "sync_error", "stale_since")
            }
            if described:
                events.append(PendingEvent(ACTOR, "registry.model_updated", _model_target(data.name), described))
        _alias_changes(data.name, before["aliases"], data.aliases, sync_run, events, changes)

    aliases_by_version = _aliases_by_version(data)
    new_rows = []
    replaced = []
    for version in versions:
        target = version_target(data.name, version.version)
        wanted = _version_fields(version, sorted(aliases_by_version.get(version.version, [])))
        row = existing.pop(version.version, None)
        if row is not None and not _same_incarnation(row.created_at, version.created_at):
            replaced.append(row)
            row = None
        if row is None:
            new_rows.append(ModelVersion(model=model, version=version.version, mirrored_since=timezone.now(), **wanted))
            events.append(
                PendingEvent(
                    ACTOR, "registry.version_created", target, {"stage": version.stage, "run_id": version.run_id}
                )
            )
            if version.stage != "None":
                changes.append(_stage_change(data.name, version, "", sync_run))
            continue
        before = {k: getattr(row, k) for k in wanted}
        diff = [k for k, v in wanted.items() if before[k] != v]
        if not diff:
            continue
        for key in diff:
            setattr(row, key, wanted[key])
        row.save(update_fields=diff)
        counts["versions_updated"] += 1
        if "stage" in diff:
            changes.append(_stage_change(data.name, version, before["stage"], sync_run))
            events.append(
                PendingEvent(ACTOR, "registry.stage_changed", target, {"from": before["stage"], "to": version.stage})
            )
        described = {
            k: {"from": before[k], "to": wanted[k]} for k in diff if k not in ("stage", "aliases", "updated_at")
        }
        if described:
            events.append(PendingEvent(ACTOR, "registry.version_updated", target, described))
    gone = [*replaced, *existing.values()]
    for row in gone:
        events.append(
            PendingEvent(
                ACTOR,
                "registry.version_deleted",
                version_target(data.name, row.version),
                {"stage": row.stage, "run_id": row.run_id, **({"reason": "number re-used"} if row in replaced else {})},
            )
        )
    if gone:
        # Before the new rows: a re-used number must not meet its predecessor in the unique index.
        ModelVersion.objects.filter(pk__in=[v.pk for v in gone]).delete()
        counts["versions_deleted"] += len(gone)
        versions_removed.send(
            sender=ModelVersion,
            model_name=data.name,
            versions=sorted(row.version for row in gone),
            reason="version number re-used in MLflow" if replaced else "deleted in MLflow",
        )
    ModelVersion.objects.bulk_create(new_rows, batch_size=1000)
    counts["versions_created"] += len(new_rows)
    StageChange.objects.bulk_create(changes)
    counts["stage_changes"] += len(changes)


def _model_target(name: str) -> Target:
    return Target(type="registered_model", id=name, model_name=name)


def version_target(name: str, version: int) -> Target:
    return Target(type="model_version", id=f"{name}/{version}", model_name=name, version=version)


def _stage_change(model_name: str, version: VersionData, from_stage: str, sync_run: SyncRun) -> StageChange:
    return StageChange(
        model_name=model_name,
        version=version.version,
        kind=StageChange.KIND_STAGE,
        from_value=from_stage,
        to_value=version.stage,
        mlflow_timestamp=version.updated_at,
        sync_run=sync_run,
    )


def _alias_changes(model_name: str, old: dict, new: dict, sync_run, events, changes) -> None:
    for alias in sorted(set(old) | set(new)):
        before, after = old.get(alias), new.get(alias)
        if before == after:
            continue
        # The alias left ``before`` and landed on ``after``: one row per version concerned.
        for number, from_value, to_value in ((before, alias, ""), (after, "", alias)):
            if number is None:
                continue
            changes.append(
                StageChange(
                    model_name=model_name,
                    version=number,
                    kind=StageChange.KIND_ALIAS,
                    alias=alias,
                    from_value=from_value,
                    to_value=to_value,
                    sync_run=sync_run,
                )
            )
        events.append(
            PendingEvent(
                ACTOR,
                "registry.alias_changed",
                Target(type="registered_model", id=model_name, model_name=model_name, version=after or before),
                {"alias": alias, "from_version": before, "to_version": after},
            )
        )


def _delete_model(model: RegisteredModel, counts: Counter, reason: str = "") -> None:
    versions = list(model.versions.values_list("version", "stage"))
    if model.created_at is None and not versions:
        model.delete()  # only the stale-marker row of a model that was never mirrored
        return
    data = {"versions": [{"version": v, "stage": s} for v, s in versions]}
    if reason:
        data["reason"] = reason
    record_many([PendingEvent(ACTOR, "registry.model_deleted", _model_target(model.name), data)])
    model.delete()
    if versions:
        versions_removed.send(
            sender=ModelVersion,
            model_name=model.name,
            versions=sorted(v for v, _ in versions),
            reason=reason or "model deleted in MLflow",
        )
    counts["models_deleted"] += 1
    counts["versions_deleted"] += len(versions)


# ---- renames ------------------------------------------------------------------------------------
def _fingerprint(created_at, versions) -> tuple:
    """What a rename keeps (MLflow keeps the model's creation time and each version's run, source and
    creation time) and a different model would not share."""
    return (created_at, frozenset((v.version, v.run_id or "", v.source, v.created_at) for v in versions))


def _renames(snapshot: Snapshot, mirrored: dict[str, RegisteredModel]) -> dict[str, RegisteredModel]:
    """new name -> the mirrored model (under its old name) it was renamed from, for unambiguous matches only."""
    vanished = [mirrored[name] for name in snapshot.gone if name in mirrored]
    appeared = [m for m in snapshot.models if m.name not in mirrored]
    if not vanished or not appeared:
        return {}
    old_prints = defaultdict(list)
    rows = defaultdict(list)
    for row in ModelVersion.objects.filter(model__in=vanished):
        rows[row.model_id].append(row)
    for model in vanished:
        if model.created_at is not None:
            old_prints[_fingerprint(model.created_at, rows[model.pk])].append(model)
    new_prints = defaultdict(list)
    for data in appeared:
        new_prints[_fingerprint(data.created_at, snapshot.versions.get(data.name, []))].append(data)
    matches = {}
    for key, olds in old_prints.items():
        news = new_prints.get(key, [])
        if len(olds) == 1 and len(news) == 1:
            matches[news[0].name] = olds[0]
    return matches


def _rename(model: RegisteredModel, new_name: str, sync_run: SyncRun, counts: Counter) -> RegisteredModel:
    old_name = model.name
    model.name = new_name
    model.save(update_fields=["name"])
    StageChange.objects.filter(model_name=old_name).update(model_name=new_name)
    ModelRename.objects.create(model=model, old_name=old_name, new_name=new_name, sync_run=sync_run)
    record_many(
        [PendingEvent(ACTOR, "registry.model_renamed", _model_target(new_name), {"from": old_name, "to": new_name})]
    )
    # Cards and approvals keep the model's name beside their link to it: they follow (registry imports neither).
    model_renamed.send(sender=RegisteredModel, model=model, old_name=old_name, new_name=new_name)
    counts["models_renamed"] += 1
    return model
