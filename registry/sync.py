"""Mirror MLflow's registry into the portal's tables: batched, incremental, atomic per model.

A sync costs a handful of MLflow calls whatever the registry's size: one paginated
``search_registered_models`` (aliases live there), one paginated ``search_model_versions``,
and — only for versions whose run is new or unfinished (or every run with ``full``) — one
``search_experiments`` and one ``search_runs`` per chunk of run ids. Tag and alias changes
do not bump MLflow's timestamps, so every field read is compared with the mirror, and a row
is written only when it differs: an unchanged registry writes nothing but the SyncRun.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from django.db import transaction
from django.utils import timezone

from audit.services import PendingEvent, Target, record_many

from .mlflow_client import MlflowError, ModelData, RegistryClient, RunData, VersionData
from .models import Dataset, ModelVersion, RegisteredModel, Run, RunInput, StageChange, SyncRun

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
)


def sync_registry(
    *, model_name: str | None = None, full: bool = False, trigger: str = "command", sync_run: SyncRun | None = None
) -> SyncRun:
    """Run one sync and return its SyncRun (``failed`` with a readable error if MLflow failed)."""
    if sync_run is None:
        sync_run = SyncRun.objects.create(model_name=model_name or "", full=full, trigger=trigger)
    client = RegistryClient()
    counts: Counter = Counter()
    errors: list[str] = []
    try:
        models = client.search_models(model_name)
        versions = client.search_versions(model_name)
        runs = _fetch_runs(client, versions, full=full)
    except MlflowError as exc:
        logger.warning("sync failed: %s", exc)
        counts["mlflow_calls"] = client.calls
        return _finish(sync_run, counts, f"MLflow unavailable or failing: {exc}")

    counts["mlflow_calls"] = client.calls
    counts["runs_fetched"] = len(runs)
    try:
        _upsert_runs(runs, counts)
    except Exception as exc:  # noqa: BLE001 - recorded on the SyncRun, mirror left as it was
        logger.exception("sync could not store runs")
        return _finish(sync_run, counts, f"could not store runs: {exc}")

    versions_by_model: dict[str, list[VersionData]] = defaultdict(list)
    for version in versions:
        versions_by_model[version.name].append(version)
    mirror = RegisteredModel.objects.all()
    if model_name:
        mirror = mirror.filter(name=model_name)
    mirrored = {m.name: m for m in mirror}
    seen = {m.name for m in models}
    # One query for every mirrored version instead of one per model.
    mirrored_versions: dict[int, dict[int, ModelVersion]] = defaultdict(dict)
    for row in ModelVersion.objects.filter(model__in=list(mirrored.values())):
        mirrored_versions[row.model_id][row.version] = row

    for model in models:
        model_counts: Counter = Counter()
        current = mirrored.get(model.name)
        existing = mirrored_versions.get(current.pk, {}) if current else {}
        wanted = versions_by_model.get(model.name, [])
        if current is not None and _unchanged(model, wanted, current, existing):
            continue  # nothing to write: no transaction, no query
        try:
            with transaction.atomic():
                _sync_model(model, wanted, current, dict(existing), sync_run, model_counts)
            counts.update(model_counts)  # only what committed
        except Exception as exc:  # noqa: BLE001 - one model's failure leaves its previous mirror intact
            logger.exception("sync of model %s failed", model.name)
            errors.append(f"{model.name}: {exc}")
    for name, stale in mirrored.items():
        if name not in seen:
            with transaction.atomic():
                _delete_model(stale, counts)
    return _finish(sync_run, counts, "; ".join(errors))


def _finish(sync_run: SyncRun, counts: Counter, error: str) -> SyncRun:
    sync_run.counts = dict(counts)
    sync_run.error = error
    sync_run.status = SyncRun.FAILED if error else SyncRun.SUCCEEDED
    sync_run.finished_at = timezone.now()
    sync_run.save(update_fields=["counts", "error", "status", "finished_at"])
    return sync_run


def _fetch_runs(client: RegistryClient, versions: list[VersionData], *, full: bool) -> list[tuple[RunData, str]]:
    wanted = {v.run_id for v in versions if v.run_id}
    if not full:
        settled = set(
            Run.objects.filter(run_id__in=wanted, status__in=("FINISHED", "FAILED", "KILLED")).values_list(
                "run_id", flat=True
            )
        )
        wanted -= settled
    if not wanted:
        return []
    experiments = client.experiment_names()
    runs = client.search_runs(wanted, list(experiments))
    return [(run, experiments.get(run.experiment_id, "")) for run in runs]


def _run_fields(run: RunData, experiment_name: str) -> dict:
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
        "git_commit": run.tags.get("mlflow.source.git.commit", "")[:64],
        "source_name": run.tags.get("mlflow.source.name", ""),
    }


def _upsert_runs(runs: list[tuple[RunData, str]], counts: Counter) -> None:
    if not runs:
        return
    with transaction.atomic():
        existing = {r.run_id: r for r in Run.objects.filter(run_id__in=[run.run_id for run, _ in runs])}
        new_rows, changed = [], []
        for run, experiment_name in runs:
            fields = _run_fields(run, experiment_name)
            row = existing.get(run.run_id)
            if row is None:
                new_rows.append(Run(run_id=run.run_id, **fields))
            elif any(getattr(row, k) != v for k, v in fields.items()):
                for key, value in fields.items():
                    setattr(row, key, value)
                changed.append(row)
        Run.objects.bulk_create(new_rows, batch_size=1000)
        Run.objects.bulk_update(changed, RUN_FIELDS, batch_size=500)
        counts["runs_created"] += len(new_rows)
        counts["runs_updated"] += len(changed)
        _upsert_inputs([run for run, _ in runs])


def _upsert_inputs(runs: list[RunData]) -> None:
    keys = {(d.name, d.digest): d for run in runs for d in run.datasets}
    if not keys:
        return
    names = {name for name, _ in keys}
    datasets = {(d.name, d.digest): d for d in Dataset.objects.filter(name__in=names)}
    missing = [
        Dataset(
            name=d.name, digest=d.digest, source_type=d.source_type, source=d.source, schema=d.schema, profile=d.profile
        )
        for key, d in keys.items()
        if key not in datasets
    ]
    if missing:
        Dataset.objects.bulk_create(missing, ignore_conflicts=True)
        datasets = {(d.name, d.digest): d for d in Dataset.objects.filter(name__in=names)}
    run_pks = dict(Run.objects.filter(run_id__in=[r.run_id for r in runs]).values_list("run_id", "pk"))
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
    # One delete and one insert for the whole sync instead of two queries per run.
    if stale:
        RunInput.objects.filter(pk__in=stale).delete()
    RunInput.objects.bulk_create(new_rows, batch_size=1000, ignore_conflicts=True)


def _model_fields(model: ModelData) -> dict:
    return {
        "description": model.description,
        "tags": model.tags,
        "aliases": model.aliases,
        "owner": model.tags.get("owner", ""),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


def _version_fields(version: VersionData, aliases: list[str]) -> dict:
    return {
        "stage": version.stage,
        "aliases": aliases,
        "status": version.status,
        "run_id": version.run_id or None,
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
    if any(getattr(model, k) != v for k, v in _model_fields(data).items()):
        return False
    if len(versions) != len(existing) or any(v.version not in existing for v in versions):
        return False
    aliases = _aliases_by_version(data)
    for version in versions:
        row = existing[version.version]
        wanted = _version_fields(version, sorted(aliases.get(version.version, [])))
        if any(getattr(row, k) != v for k, v in wanted.items()):
            return False
    return True


def _sync_model(
    data: ModelData,
    versions: list[VersionData],
    model: RegisteredModel | None,
    existing: dict[int, ModelVersion],
    sync_run: SyncRun,
    counts: Counter,
) -> None:
    events: list[PendingEvent] = []
    changes: list[StageChange] = []
    fields = _model_fields(data)
    if model is None:
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
            described = {k: {"from": before[k], "to": fields[k]} for k in changed if k not in ("updated_at", "aliases")}
            if described:
                events.append(PendingEvent(ACTOR, "registry.model_updated", _model_target(data.name), described))
        _alias_changes(data.name, before["aliases"], data.aliases, sync_run, events, changes)

    aliases_by_version = _aliases_by_version(data)

    new_rows = []
    for version in versions:
        target = version_target(data.name, version.version)
        wanted = _version_fields(version, sorted(aliases_by_version.get(version.version, [])))
        row = existing.pop(version.version, None)
        if row is None:
            new_rows.append(ModelVersion(model=model, version=version.version, **wanted))
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
    ModelVersion.objects.bulk_create(new_rows, batch_size=1000)
    counts["versions_created"] += len(new_rows)
    for gone in existing.values():
        events.append(
            PendingEvent(
                ACTOR,
                "registry.version_deleted",
                version_target(data.name, gone.version),
                {"stage": gone.stage, "run_id": gone.run_id},
            )
        )
    if existing:
        ModelVersion.objects.filter(pk__in=[v.pk for v in existing.values()]).delete()
        counts["versions_deleted"] += len(existing)
    StageChange.objects.bulk_create(changes)
    counts["stage_changes"] += len(changes)
    record_many(events)


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


def _delete_model(model: RegisteredModel, counts: Counter) -> None:
    versions = list(model.versions.values_list("version", "stage"))
    record_many(
        [
            PendingEvent(
                ACTOR,
                "registry.model_deleted",
                _model_target(model.name),
                {"versions": [{"version": v, "stage": s} for v, s in versions]},
            )
        ]
    )
    model.delete()
    counts["models_deleted"] += 1
    counts["versions_deleted"] += len(versions)
