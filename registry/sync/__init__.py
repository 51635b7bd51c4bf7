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

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ..mlflow_client import MlflowError, RegistryClient
from ..models import SyncRun
from .common import ACTOR, logger
from .model import VERSION_FIELDS, owner_of, version_target
from .read import (
    SETTLED_LOGGED_MODEL_STATUSES,
    WATERMARK_OVERLAP_MS,
    Snapshot,
    _look_for_renames,
    _read_all,
    _read_changed,
    _read_logged_models,
    _read_models,
    _read_runs,
    _runs_wanted,
    watermarks,
)
from .write import HEX, LOGGED_MODEL_FIELDS, RUN_FIELDS, WRITE_BATCH, _finish, _write, _write_runs, commit_key

__all__ = [
    "ACTOR",
    "HEX",
    "LOGGED_MODEL_FIELDS",
    "RUN_FIELDS",
    "SETTLED_LOGGED_MODEL_STATUSES",
    "VERSION_FIELDS",
    "WATERMARK_OVERLAP_MS",
    "WRITE_BATCH",
    "Snapshot",
    "commit_key",
    "owner_of",
    "sync_registry",
    "version_target",
    "watermarks",
]


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
