"""Build the 10,000-version benchmark registry as a SQLite MLflow store (idempotent).

    .venv/bin/python bench/build_registry.py            # build, or reuse if already complete
    .venv/bin/python bench/build_registry.py --rebuild  # throw the store away and build it again

Output: ``bench/out/mlflow-10k/mlflow.db`` (the store; serve it with ``mlflow server
--backend-store-uri sqlite:///bench/out/mlflow-10k/mlflow.db``) and ``bench/out/mlflow-10k/build.json``
(the spec it was built from, counts and timings). The content is deterministic apart from
run ids and creation timestamps; see ``bench/README.md`` for the layout other benchmarks rely on.

Creating versions over HTTP costs ~90 ms each (MLFLOW_NOTES.md), so the store is written through
an ``MlflowClient`` pointed straight at the SQLite file, in WAL mode while building (~40% faster
commits), and switched back to a single-file rollback journal when done. The build happens in a
sibling ``.building`` directory that is renamed into place only when complete, under a file lock,
so a crash never leaves a half-built store that looks finished and two concurrent callers build once.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)

OUT = Path(__file__).resolve().parent / "out"
STORE = OUT / "mlflow-10k"
DB = STORE / "mlflow.db"
MARKER = STORE / "build.json"

# Bump when the layout below changes: a store built from another spec is rebuilt.
SPEC = {
    "spec": 1,
    "models": 500,
    "versions": 10_000,
    "big_model": "bench-big-200",
    "big_model_versions": 200,
    "experiments": 50,
    "dataset_every": 4,
}
SMALL_MODELS = SPEC["models"] - 1  # 499 models share the other 9,800 versions: 319 × 20 + 180 × 19
SMALL_VERSIONS = SPEC["versions"] - SPEC["big_model_versions"]
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "demographic_parity_difference")
OWNERS = ("alice", "bob", "carol", "dave", "erin")
BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: run times are deterministic


def model_plan() -> list[tuple[str, int]]:
    """(model name, version count) for every model: 10,000 versions in all."""
    per, extra = divmod(SMALL_VERSIONS, SMALL_MODELS)
    plan = [(f"bench-{i:03d}", per + (1 if i < extra else 0)) for i in range(SMALL_MODELS)]
    plan.append((SPEC["big_model"], SPEC["big_model_versions"]))
    assert sum(n for _, n in plan) == SPEC["versions"], plan
    return plan


def stage_of(version: int, count: int) -> str:
    """Latest version in Staging, the one before in Production, the two before those Archived."""
    return {count: "Staging", count - 1: "Production", count - 2: "Archived", count - 3: "Archived"}.get(
        version, "None"
    )


def is_complete() -> bool:
    if not (DB.exists() and MARKER.exists()):
        return False
    try:
        built = json.loads(MARKER.read_text())
    except ValueError:
        return False
    return built.get("spec") == SPEC and built.get("complete") is True


def ensure_registry(*, rebuild: bool = False) -> Path:
    """Return the path of the complete store, building it first if needed."""
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".mlflow-10k.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits for the first build, then reuses it
        if rebuild and STORE.exists():
            shutil.rmtree(STORE)
        if is_complete():
            built = json.loads(MARKER.read_text())
            print(f"reusing {DB} ({built['counts']['versions']} versions, built in {built['timings']['total_s']} s)")
            return DB
        build()
    return DB


def _datasets():
    """Eight versions of a small churn dataset, computed once and logged on every 4th run."""
    import mlflow.data
    import pandas as pd
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for n in range(8):
        frame = pd.DataFrame(
            {
                "tenure": [float((i * 7 + n) % 72) for i in range(200)],
                "monthly_charges": [20.0 + (i * 13 + n) % 100 for i in range(200)],
                "region": [("north", "south", "east", "west")[i % 4] for i in range(200)],
                "churned": [(i + n) % 3 == 0 for i in range(200)],
            }
        )
        ds = mlflow.data.from_pandas(frame, source=f"s3://bench-data/churn/v{n}.parquet", name="churn")
        inputs.append(DatasetInput(Dataset(**ds.to_dict()), tags=[InputTag("mlflow.data.context", "training")]))
    return inputs


def build() -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    tmp = STORE.with_name(STORE.name + ".building")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    experiments = [
        # The artifact location names the final directory: nothing is logged there, but it stays valid.
        client.create_experiment(
            f"bench-exp-{e:02d}", artifact_location=(STORE / "artifacts" / f"exp-{e:02d}").as_uri()
        )
        for e in range(SPEC["experiments"])
    ]
    with sqlite3.connect(tmp / "mlflow.db") as con:
        con.execute("PRAGMA journal_mode=WAL")
    datasets = _datasets()
    timings["setup_s"] = time.perf_counter() - started

    plan = model_plan()
    counts = {"models": 0, "versions": 0, "runs": 0, "dataset_inputs": 0, "transitions": 0, "aliases": 0}
    seq = 0
    phase = time.perf_counter()
    for m, (name, count) in enumerate(plan):
        owner = OWNERS[m % len(OWNERS)]
        client.create_registered_model(
            name,
            tags={"owner": owner, "team": f"team-{m % 10}"},
            description=f"Benchmark model {name}: churn classifier, {count} versions.",
        )
        counts["models"] += 1
        experiment = experiments[m % len(experiments)]
        for v in range(1, count + 1):
            seq += 1
            start = BASE_MS + seq * 60_000
            run = client.create_run(
                experiment,
                start_time=start,
                run_name=f"{name}-train-{v}",
                tags={
                    "mlflow.source.git.commit": hashlib.sha1(f"{name}/{v}".encode()).hexdigest(),  # noqa: S324
                    "mlflow.source.name": "train.py",
                    "mlflow.user": owner,
                    "dataset_version": f"v{seq % 8}",
                    "owner": owner,
                },
            )
            run_id = run.info.run_id
            score = 0.70 + (seq % 250) / 1000
            client.log_batch(
                run_id,
                metrics=[Metric(key, round(score - i * 0.01, 4), start + 1000, 0) for i, key in enumerate(METRICS)],
                params=[
                    Param("n_estimators", str(50 + v % 5 * 50)),
                    Param("max_depth", str(3 + v % 6)),
                    Param("learning_rate", str(0.05 + (v % 4) * 0.05)),
                    Param("model_type", "gradient_boosting"),
                ],
            )
            if seq % SPEC["dataset_every"] == 0:
                client.log_inputs(run_id, [datasets[seq % len(datasets)]])
                counts["dataset_inputs"] += 1
            client.set_terminated(run_id, end_time=start + 45_000)
            counts["runs"] += 1
            tags = {"validation_status": "passed"} if v % 3 == 0 else None
            client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=tags)
            counts["versions"] += 1
            stage = stage_of(v, count)
            if stage != "None":
                client.transition_model_version_stage(name, str(v), stage, archive_existing_versions=False)
                counts["transitions"] += 1
        client.set_registered_model_alias(name, "champion", str(count - 1))
        counts["aliases"] += 1
        if m % 2 == 0:
            client.set_registered_model_alias(name, "challenger", str(count))
            counts["aliases"] += 1
        if (m + 1) % 50 == 0:
            elapsed = time.perf_counter() - phase
            print(f"  {m + 1}/{len(plan)} models, {counts['versions']} versions, {elapsed:.0f} s", flush=True)
    timings["versions_s"] = time.perf_counter() - phase

    # MLflow's pooled connections keep the WAL open; the journal mode can change only without them.
    client._tracking_client.store.engine.dispose()
    client._get_registry_client().store.engine.dispose()
    finish(tmp, counts, timings, started)


def finish(tmp: Path, counts: dict, timings: dict, started: float) -> None:
    """Check the store, make it one self-contained file again, record the spec and move it into place."""
    with sqlite3.connect(tmp / "mlflow.db") as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
        found = con.execute("SELECT count(*) FROM model_versions").fetchone()[0]
    if found != SPEC["versions"]:
        raise RuntimeError(f"built {found} versions, expected {SPEC['versions']}")
    timings["total_s"] = time.perf_counter() - started
    timings = {k: round(v, 1) for k, v in timings.items()}
    (tmp / "build.json").write_text(
        json.dumps({"spec": SPEC, "complete": True, "counts": counts, "timings": timings}, indent=2) + "\n"
    )
    if STORE.exists():
        shutil.rmtree(STORE)
    tmp.rename(STORE)
    per_version_ms = 1000 * timings["versions_s"] / counts["versions"]
    print(f"built {DB}: {counts}")
    print(f"timings: {timings} ({per_version_ms:.1f} ms per version incl. its run)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="delete the store and build it again")
    args = parser.parse_args(argv)
    ensure_registry(rebuild=args.rebuild)
    return 0


if __name__ == "__main__":
    sys.exit(main())
