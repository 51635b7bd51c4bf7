"""Writing one sync: models in batches (a savepoint each), then the runs, their inputs and LoggedModels; a model
that fails is marked stale alone; the SyncRun's outcome."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db import connection, transaction
from django.utils import timezone

from audit.services import PendingEvent, record_many

from ..fields import same_floats
from ..mlflow_data import LoggedModelData, RunData
from ..models import Dataset, LoggedModel, RegisteredModel, Run, RunInput, SyncRun
from .common import logger
from .model import _delete_model, _sync_model, _unchanged
from .read import Snapshot, _mirror_rows
from .renames import _rename, _renames

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
HEX = frozenset("0123456789abcdef")
# Models written per commit (each in its own savepoint): 500 commits were a fifth of a first sync's time.
WRITE_BATCH = 25


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
