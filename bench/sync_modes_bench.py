"""Time the sync's modes against a real ``mlflow server`` holding 10,000 versions.

    .venv/bin/python bench/sync_modes_bench.py [--database-url URL] [--repeat 5]

Builds (or reuses) ``bench/out/mlflow-10k/mlflow.db`` (``bench/build_registry.py``), serves a copy of
it (``bench/out/sync-modes/``) with ``mlflow server --workers 1`` on a free 127.0.0.1 port (job runner
off), points the portal at it with a fresh PostgreSQL database (``--database-url``, default
``postgres://postgres@127.0.0.1:5432/portal_syncmodesbench``, dropped and migrated at start; a
``sqlite:///PATH`` URL works too) and measures, in one run:

  (d)  the bare batched read, nothing written: both list endpoints through the plain-JSON reader
       (registry/mlflow_rest.py, what the reconcile pass uses over HTTP), then search_experiments and
       search_runs by 500 run ids through MlflowClient; (d') the same all through MlflowClient
  (a)  the first sync into an empty mirror (``mode="reconcile"``)          target (a)/(d) ≤ 1.3×
  (r)  reconcile with nothing changed (median of --repeat)                  target ≤ 2 s
  (f)  fast pass with nothing changed (median of --repeat)                  target ≤ 0.2 s and ≤ 3 MLflow calls
  (f1) fast pass after one stage transition made in MLflow: it must show in the mirror
  (f2) fast pass after a version tag set in MLflow (bumps no timestamp: the fast pass is not expected
       to see it), then (r2) a reconcile, which must

The endpoints column shows which reader made each call: ``(rest)`` registry/mlflow_rest.py,
``(client)`` MlflowClient (told apart by its User-Agent).

MLflow calls are counted at the HTTP layer (every ``requests`` call this process makes), per endpoint,
and compared with ``SyncRun.counts["mlflow_calls"]``. ``sync_registry`` without a ``mode`` parameter (the
fast pass not in this tree yet): the fast-pass rows are skipped with a message and (a)/(r) run the
default sync. Exit status 1 when a target is missed, 2 when modes are missing. Output: stdout and
``bench/out/sync_modes_bench.json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import secrets
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)

import build_registry  # noqa: E402
import requests  # noqa: E402
from portal_db import fresh_database  # noqa: E402

CALLS: Counter = Counter()  # (endpoint path, "client" | "rest") -> HTTP requests
_request = requests.Session.request


def _counting_request(self, method, url, *args, **kwargs):
    agent = (kwargs.get("headers") or {}).get("User-Agent", "") or self.headers.get("User-Agent", "")
    CALLS[(urlsplit(url).path, "client" if "mlflow" in agent.lower() else "rest")] += 1
    return _request(self, method, url, *args, **kwargs)


requests.Session.request = _counting_request

TARGETS = {"a_over_d": 1.3, "reconcile_s": 2.0, "fast_s": 0.2, "fast_calls": 3}


def measure(label: str, func) -> dict:
    before, cpu, start = CALLS.copy(), time.process_time(), time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    used = CALLS - before
    row = {
        "label": label,
        "seconds": round(seconds, 4),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "http_calls": sum(used.values()),
        "endpoints": {f"{path} ({kind})": n for (path, kind), n in sorted(used.items())},
        "result": result,
    }
    print(f"  {label}: {seconds:.3f} s, {row['http_calls']} HTTP calls {row['endpoints']}", flush=True)
    return row


def median_row(label: str, func, repeat: int) -> dict:
    rows = [measure(f"{label} #{i + 1}", func) for i in range(repeat)]
    row = dict(sorted(rows, key=lambda r: r["seconds"])[len(rows) // 2])
    row["label"] = label
    row["all_seconds"] = [r["seconds"] for r in rows]
    return row


def bare_read(url: str, client, *, rest: bool, chunk: int = 500) -> dict:
    """What a batched reader must fetch at least, nothing written: the limit the first sync is compared with."""
    from mlflow.entities import ViewType

    from registry import mlflow_rest

    def pages(method, **kwargs):
        token = None
        while True:
            page = getattr(client, method)(page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    if rest:
        models = [m for p in mlflow_rest.pages(mlflow_rest.search_registered_models, url) for m in p.items]
        versions = [v for p in mlflow_rest.pages(mlflow_rest.search_model_versions, url) for v in p.items]
        run_ids = sorted({v["run_id"] for v in versions if v["run_id"]})
    else:
        models = list(pages("search_registered_models", max_results=1000))
        versions = list(pages("search_model_versions", max_results=10_000))
        run_ids = sorted({v.run_id for v in versions if v.run_id})
    experiments = [e.experiment_id for e in pages("search_experiments", view_type=ViewType.ALL, max_results=1000)]
    runs = 0
    for start in range(0, len(run_ids), chunk):
        quoted = ",".join(f"'{i}'" for i in run_ids[start : start + chunk])
        runs += sum(
            1
            for _ in pages(
                "search_runs",
                experiment_ids=experiments,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=chunk,
            )
        )
    return {"models": len(models), "versions": len(versions), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_syncmodesbench")
    parser.add_argument("--repeat", type=int, default=5, help="runs of (r) and (f); the median counts")
    parser.add_argument("--out", default="sync_modes_bench.json", help="result file name under bench/out/")
    args = parser.parse_args(argv)

    build_registry.ensure_registry()
    from conftest import MlflowServer

    # The bench writes to MLflow (f1, f2): it serves a copy, so the shared store stays as built.
    root = build_registry.OUT / "sync-modes"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copy2(build_registry.DB, root / "mlflow.db")
    server = MlflowServer(root, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    print(f"starting mlflow server on {server.url} serving a copy of {build_registry.DB}", flush=True)
    t0 = time.perf_counter()
    server.start(timeout=120)
    print(f"  server answered /health after {time.perf_counter() - t0:.1f} s; load avg {os.getloadavg()}", flush=True)
    try:
        return run_bench(server.url, args)
    finally:
        server.stop()


CHANGED = {"name": "bench-001", "version": "2", "stage_after": "Staging", "tag": "bench.touch"}


def run_bench(url: str, args) -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry_portal.settings"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
    os.environ["MLFLOW_TRACKING_URI"] = url
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    fresh_database(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from mlflow import MlflowClient

    from registry.models import ModelVersion, Run
    from registry.sync import sync_registry

    has_modes = "mode" in inspect.signature(sync_registry).parameters
    if not has_modes:
        print(
            "\n*** registry.sync.sync_registry has no `mode` parameter: the fast pass is not in this tree.\n"
            "*** (f), (f1), (f2) are skipped; (a) and (r) time the default sync.\n",
            flush=True,
        )

    def sync(mode: str) -> dict:
        run = sync_registry(mode=mode, trigger="bench") if has_modes else sync_registry(trigger="bench")
        if run.error:
            raise RuntimeError(f"{mode} sync failed: {run.error}")
        return dict(run.counts)

    total = build_registry.SPEC["versions"]
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    client.search_registered_models(max_results=1)  # the server's first request pays its warm-up
    rows: dict[str, dict] = {}
    rows["d"] = measure("(d) bare batched read, list endpoints via REST", lambda: bare_read(url, client, rest=True))
    rows["d_client"] = measure("(d') bare batched read, all MlflowClient", lambda: bare_read(url, client, rest=False))
    rows["a"] = measure("(a) first sync, empty mirror (reconcile)", lambda: sync("reconcile"))
    mirrored = {"versions": ModelVersion.objects.count(), "runs": Run.objects.count()}
    if mirrored["versions"] != total or mirrored["runs"] != total:
        raise RuntimeError(f"mirror incomplete after (a): {mirrored}")
    rows["d2"] = measure("(d) bare batched read, again", lambda: bare_read(url, client, rest=True))
    rows["r"] = median_row("(r) reconcile, nothing changed", lambda: sync("reconcile"), args.repeat)
    checks = {}
    if has_modes:
        rows["f"] = median_row("(f) fast pass, nothing changed", lambda: sync("fast"), args.repeat)
        name, version = CHANGED["name"], int(CHANGED["version"])
        client.transition_model_version_stage(name, CHANGED["version"], CHANGED["stage_after"])
        rows["f1"] = measure("(f1) fast pass after one stage transition", lambda: sync("fast"))
        stage = ModelVersion.objects.get(model__name=name, version=version).stage
        checks["fast pass sees a stage change"] = stage == CHANGED["stage_after"]
        client.set_model_version_tag(name, CHANGED["version"], CHANGED["tag"], str(time.time()))
        rows["f2"] = measure("(f2) fast pass after one version tag set", lambda: sync("fast"))
        tags = ModelVersion.objects.get(model__name=name, version=version).tags
        print(
            f"      after (f2) the mirror {'has' if CHANGED['tag'] in tags else 'does not have'} the tag (expected: not)"
        )
        rows["r2"] = measure("(r2) reconcile after that tag", lambda: sync("reconcile"))
        tags = ModelVersion.objects.get(model__name=name, version=version).tags
        checks["reconcile sees a tag change"] = CHANGED["tag"] in tags

    limit = min(rows["d"]["seconds"], rows["d2"]["seconds"])
    ratios = {"a_over_d": rows["a"]["seconds"] / limit, "reconcile_s": rows["r"]["seconds"]}
    met = {
        "a_over_d": ratios["a_over_d"] <= TARGETS["a_over_d"],
        "reconcile_s": ratios["reconcile_s"] <= TARGETS["reconcile_s"],
    }
    if has_modes:
        ratios["fast_s"] = rows["f"]["seconds"]
        ratios["fast_calls"] = rows["f"]["result"].get("mlflow_calls", rows["f"]["http_calls"])
        met["fast_s"] = ratios["fast_s"] <= TARGETS["fast_s"]
        met["fast_calls"] = max(ratios["fast_calls"], rows["f"]["http_calls"]) <= TARGETS["fast_calls"]
        met.update(checks)

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    engine = "SQLite" if args.database_url.startswith("sqlite") else "PostgreSQL"
    print(f"\n{total} versions in 500 models, mlflow server at {url}, portal DB {engine}, load avg now {load}")
    print(f"{'':46} {'seconds':>8} {'CPU s':>7} {'HTTP':>5} {'counted':>8}")
    for row in rows.values():
        counted = row["result"].get("mlflow_calls", "") if isinstance(row["result"], dict) else ""
        print(f"{row['label']:46} {row['seconds']:8.3f} {row['cpu_seconds']:7.2f} {row['http_calls']:5} {counted!s:>8}")
    for key in ("r", "f"):
        if key in rows:
            print(f"{rows[key]['label']}: all runs {rows[key]['all_seconds']} s")
    mark = {True: "met", False: "MISSED"}
    print(f"(a)/(d) = {ratios['a_over_d']:.2f}×  target ≤ {TARGETS['a_over_d']}×  {mark[met['a_over_d']]}")
    print(f"(r)     = {ratios['reconcile_s']:.2f} s target ≤ {TARGETS['reconcile_s']} s  {mark[met['reconcile_s']]}")
    if has_modes:
        print(f"(f)     = {ratios['fast_s']:.3f} s target ≤ {TARGETS['fast_s']} s  {mark[met['fast_s']]}")
        print(f"(f) calls = {ratios['fast_calls']}  target ≤ {TARGETS['fast_calls']}  {mark[met['fast_calls']]}")
        for check, ok in checks.items():
            print(f"{check}: {mark[ok]}")
    (build_registry.OUT / args.out).write_text(
        json.dumps({"rows": rows, "ratios": ratios, "targets": TARGETS, "met": met}, indent=2, default=str) + "\n"
    )
    if not has_modes:
        return 2
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
