"""Time the portal's sync against a real ``mlflow server`` holding 10,000 versions (issue 2).

    .venv/bin/python bench/sync_bench.py [--naive-sample 1000] [--profile] [--sync-impl PATH]

Builds (or reuses) ``bench/out/mlflow-10k/mlflow.db`` with ``bench/build_registry.py``, serves it
with ``mlflow server`` on a free 127.0.0.1 port, points the portal at it with a fresh PostgreSQL
database (``--database-url``, default ``postgres://postgres@127.0.0.1:5432/portal_syncbench``,
dropped and migrated at start) and times, in one run:

  (d) the bare batched read: paginated search_registered_models + search_model_versions +
      search_runs in chunks of run ids, nothing written: the limit;
  (a) the portal's sync into the empty mirror;
  (b) an incremental sync with nothing changed (three times; the median counts);
  (f) the models + versions part of (d), which even (b) must read: the floor of (b);
  (e) a ``--full`` sync with nothing changed (every run re-read and compared);
  (c) the course module's loop, get_model_version + get_run per version, on a sample of
      versions scaled to 10,000 (the output says so).

MLflow calls are counted at the HTTP layer (every ``requests`` call the process makes). Results
go to stdout and ``bench/out/sync_bench.json``; ``--profile`` also writes a cProfile of (a) to
``bench/out/sync_full.prof`` and prints its top entries.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)

import build_registry  # noqa: E402
import requests  # noqa: E402
from portal_db import fresh_database  # noqa: E402

HTTP_CALLS = [0]
_request = requests.Session.request


def _counting_request(self, method, url, *args, **kwargs):
    HTTP_CALLS[0] += 1
    return _request(self, method, url, *args, **kwargs)


requests.Session.request = _counting_request


def measure(label: str, func, *, profile: Path | None = None) -> dict:
    calls, cpu, start = HTTP_CALLS[0], time.process_time(), time.perf_counter()
    if profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(func)
        profiler.dump_stats(profile)
    else:
        result = func()
    seconds = time.perf_counter() - start
    row = {
        "label": label,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "mlflow_calls": HTTP_CALLS[0] - calls,
        "result": result,
    }
    print(f"  {label}: {seconds:.2f} s, {row['mlflow_calls']} MLflow calls", flush=True)
    return row


def bare_batched_read(client, chunk: int, *, runs: bool = True) -> dict:
    """What any batched reader must fetch: the limit the sync is compared with.

    Without ``runs``: only the models and versions, which even an incremental sync must read
    (tag and alias changes bump no timestamp), so the floor of (b).
    """
    from mlflow.entities import ViewType

    def pages(method, **kwargs):
        token = None
        while True:
            page = getattr(client, method)(page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    models = list(pages("search_registered_models", max_results=1000))
    versions = list(pages("search_model_versions", max_results=10_000))
    if not runs:
        return {"models": len(models), "versions": len(versions)}
    experiments = [e.experiment_id for e in pages("search_experiments", view_type=ViewType.ALL, max_results=1000)]
    ids = sorted({v.run_id for v in versions if v.run_id})
    runs = []
    for start in range(0, len(ids), chunk):
        quoted = ",".join(f"'{i}'" for i in ids[start : start + chunk])
        runs.extend(
            pages(
                "search_runs",
                experiment_ids=experiments,
                filter_string=f"attributes.run_id IN ({quoted})",
                run_view_type=ViewType.ALL,
                max_results=chunk,
            )
        )
    return {"models": len(models), "versions": len(versions), "runs": len(runs)}


def naive_loop(client, sample: list[tuple[str, str]]) -> dict:
    """The course module: one get_model_version and one get_run per version."""
    for name, version in sample:
        mv = client.get_model_version(name, version)
        client.get_run(mv.run_id)
    return {"versions": len(sample)}


SYNC = {}


def load_sync(path: str | None):
    """The portal's ``registry.sync``, or a copy of it at ``path`` (to measure a proposed change): a copy of the
    package (its directory, or its ``__init__.py``) or a single-module version of it (a ``.py`` file)."""
    if not path:
        from registry import sync as module
    else:
        import importlib.util

        location = Path(path)
        if location.is_dir():
            location = location / "__init__.py"
        name = "registry._sync_candidate"
        if location.name == "__init__.py":
            # A package: its submodules (``.read``, ``.write``...) are found in its directory.
            spec = importlib.util.spec_from_file_location(
                name, location, submodule_search_locations=[str(location.parent)]
            )
        else:
            spec = importlib.util.spec_from_file_location(name, location)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # for the package's ``from .read import ...`` to find their parent
        spec.loader.exec_module(module)
    SYNC["sync_registry"] = module.sync_registry
    return module


def sync(**kwargs):
    run = SYNC["sync_registry"](**kwargs)
    if run.error:
        raise RuntimeError(f"sync failed: {run.error}")
    return run.counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_syncbench")
    parser.add_argument("--naive-sample", type=int, default=1000, help="versions timed for (c); 0 = all 10,000")
    parser.add_argument("--profile", action="store_true", help="cProfile (a) into bench/out/sync_full.prof")
    parser.add_argument(
        "--sync-impl", metavar="PATH", help="time this copy of registry/sync/ (or its __init__.py) instead"
    )
    parser.add_argument("--out", default="sync_bench.json", help="result file name under bench/out/")
    args = parser.parse_args(argv)

    build_registry.ensure_registry()
    from conftest import MlflowServer

    # The job runner (GenAI jobs, not the registry) starts five huey consumers that each import
    # mlflow for ~30 s of CPU right after /health answers: on 2 cores that skews every timing.
    server = MlflowServer(build_registry.STORE, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    print(f"starting mlflow server on {server.url} serving {server.db}", flush=True)
    t0 = time.perf_counter()
    server.start(timeout=120)
    print(f"  server answered /health after {time.perf_counter() - t0:.1f} s; load avg {os.getloadavg()}", flush=True)
    try:
        return run_bench(server.url, args)
    finally:
        server.stop()


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
    module = load_sync(args.sync_impl)
    print(f"sync implementation: {module.__file__}", flush=True)
    from django.conf import settings
    from mlflow import MlflowClient

    from registry.mlflow_client import RUN_CHUNK
    from registry.models import ModelVersion, Run, RunInput

    total = build_registry.SPEC["versions"]
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    client.search_registered_models(max_results=1)  # the server's first request pays its warm-up
    print(f"portal: MLFLOW_TRACKING_URI={settings.MLFLOW_TRACKING_URI} DATABASE_URL={args.database_url}", flush=True)

    rows = {}
    rows["d"] = measure("(d) bare batched read", lambda: bare_batched_read(client, RUN_CHUNK))
    profile = build_registry.OUT / "sync_full.prof" if args.profile else None
    rows["a"] = measure("(a) portal sync, empty mirror", lambda: sync(), profile=profile)
    mirrored = {
        "versions": ModelVersion.objects.count(),
        "runs": Run.objects.count(),
        "run_inputs": RunInput.objects.count(),
    }
    if mirrored["versions"] != total or mirrored["runs"] != total:
        raise RuntimeError(f"mirror incomplete after (a): {mirrored}")
    incremental = [measure(f"(b) incremental sync, nothing changed, #{i + 1}", lambda: sync()) for i in range(3)]
    rows["b"] = sorted(incremental, key=lambda r: r["seconds"])[1]
    rows["b"]["all_seconds"] = [round(r["seconds"], 2) for r in incremental]
    rows["f"] = measure("(f) bare read of models + versions only", lambda: bare_batched_read(client, 0, runs=False))
    rows["e"] = measure("(e) --full sync, nothing changed", lambda: sync(full=True))
    rows["d2"] = measure("(d) bare batched read, again", lambda: bare_batched_read(client, RUN_CHUNK))

    versions = sorted(
        ModelVersion.objects.values_list("model__name", "version"), key=lambda nv: (nv[0], nv[1])
    )  # every 10th version: all models, old and new versions alike
    step = max(1, total // args.naive_sample) if args.naive_sample else 1
    sample = [(name, str(v)) for name, v in versions[::step]]
    rows["c"] = measure(f"(c) naive loop, {len(sample)} versions", lambda: naive_loop(client, sample))
    scale = total / len(sample)

    limit = min(rows["d"]["seconds"], rows["d2"]["seconds"])
    naive = rows["c"]["seconds"] * scale
    table = [
        ("(a) portal sync, empty mirror", rows["a"]["seconds"], rows["a"]["cpu_seconds"], rows["a"]["mlflow_calls"]),
        (
            "(b) incremental, no change (median/3)",
            rows["b"]["seconds"],
            rows["b"]["cpu_seconds"],
            rows["b"]["mlflow_calls"],
        ),
        ("(e) --full, no change", rows["e"]["seconds"], rows["e"]["cpu_seconds"], rows["e"]["mlflow_calls"]),
        (
            f"(c) naive loop{f' (×{scale:g} of {len(sample)})' if scale != 1 else ''}",
            naive,
            rows["c"]["cpu_seconds"] * scale,
            round(rows["c"]["mlflow_calls"] * scale),
        ),
        ("(d) bare batched read (best of 2)", limit, rows["d"]["cpu_seconds"], rows["d"]["mlflow_calls"]),
        ("(f) bare read, models + versions", rows["f"]["seconds"], rows["f"]["cpu_seconds"], rows["f"]["mlflow_calls"]),
    ]
    ratios = {
        "c_over_a": naive / rows["a"]["seconds"],
        "a_over_d": rows["a"]["seconds"] / limit,
        "b_seconds": rows["b"]["seconds"],
    }
    targets = {
        "c_over_a": ratios["c_over_a"] >= 100,
        "a_over_d": ratios["a_over_d"] <= 2,
        "b_seconds": ratios["b_seconds"] <= 2,
    }

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{total} versions in 500 models, mlflow server at {url}, portal DB PostgreSQL, load avg now {load}")
    print(f"{'':38} {'seconds':>9} {'client CPU s':>13} {'MLflow calls':>13}")
    for label, seconds, cpu, calls in table:
        print(f"{label:38} {seconds:9.2f} {cpu:13.2f} {calls:13}")
    if scale != 1:
        print(
            f"(c) was timed on {len(sample)} versions (every {step}th) in {rows['c']['seconds']:.1f} s"
            f" and scaled ×{scale:g} to {total}."
        )
    print(f"(a) counts: {rows['a']['result']}")
    print(f"(b) counts: {rows['b']['result']}; three runs: {rows['b']['all_seconds']} s")
    print(f"(e) counts: {rows['e']['result']}")
    print(f"mirror after (a): {mirrored}")
    mark = {True: "met", False: "MISSED"}
    print(f"(c)/(a) = {ratios['c_over_a']:.0f}×   target ≥ 100×  {mark[targets['c_over_a']]}")
    print(f"(a)/(d) = {ratios['a_over_d']:.2f}×   target ≤ 2×    {mark[targets['a_over_d']]}")
    print(f"(b)     = {ratios['b_seconds']:.2f} s  target ≤ 2 s   {mark[targets['b_seconds']]}")
    print(f"for scale: (c)/(d) = {naive / limit:.0f}× is the most any sync that reads every run can reach;")
    print(
        f"           (c)/(b) = {naive / rows['b']['seconds']:.0f}×; (f) = {rows['f']['seconds']:.2f} s is the floor of (b)"
    )

    if args.profile:
        out = io.StringIO()
        pstats.Stats(str(profile), stream=out).sort_stats("cumulative").print_stats(35)
        print(f"\ncProfile of (a), by cumulative time ({profile}):")
        print(out.getvalue())

    result = {
        "rows": rows,
        "naive_scale": scale,
        "ratios": ratios,
        "targets_met": targets,
        "mirror": mirrored,
    }
    (build_registry.OUT / args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
