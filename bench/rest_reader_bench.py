"""MlflowClient's list reads vs the plain-JSON reader (registry/mlflow_rest.py) at 10,000 versions.

    .venv/bin/python bench/rest_reader_bench.py [--repeat 3] [--page 10000]

Serves ``bench/out/mlflow-10k/mlflow.db`` (built by ``bench/build_registry.py``) with ``mlflow server``
on a free loopback port (job runner off) and times, interleaved, ``--repeat`` times each:

  client-versions  MlflowClient.search_model_versions, every page, normalised as registry/mlflow_client.py does
  rest-versions    mlflow_rest.search_model_versions, every page (plain dicts of the same fields)
  client-models    MlflowClient.search_registered_models (1,000 a page), normalised
  rest-models      mlflow_rest.search_registered_models

and checks that both readers return equal rows. Wall seconds (best and median) and this process's CPU
seconds (the client-side parsing the REST reader saves; the server's work is the same for both).
Output: stdout and ``bench/out/rest_reader_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)

import build_registry  # noqa: E402


def client_rows(client, method, page):
    """Every row through MlflowClient, shaped by the portal's own converters (what the REST reader must equal)."""
    from dataclasses import asdict

    from registry.mlflow_data import model_data, version_data

    convert = model_data if method == "search_registered_models" else version_data
    rows, token = [], None
    while True:
        result = getattr(client, method)(max_results=page, page_token=token)
        rows.extend(asdict(convert(e)) for e in result)
        token = result.token
        if not token:
            return rows


def rest_rows(url, search, page):
    from registry import mlflow_rest

    return [row for p in mlflow_rest.pages(search, url, max_results=page, timeout=120) for row in p.items]


def timed(func):
    cpu, start = time.process_time(), time.perf_counter()
    result = func()
    return time.perf_counter() - start, time.process_time() - cpu, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page", type=int, default=10_000, help="versions per page (models: 1,000)")
    args = parser.parse_args(argv)

    build_registry.ensure_registry()
    from conftest import MlflowServer

    server = MlflowServer(build_registry.STORE, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    print(f"starting mlflow server on {server.url} serving {server.db}", flush=True)
    server.start(timeout=120)
    try:
        os.environ["DJANGO_SETTINGS_MODULE"] = "registry_portal.settings"
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
        from mlflow import MlflowClient

        from registry import mlflow_client, mlflow_rest  # noqa: F401 - imported before anything is timed

        client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        client.search_registered_models(max_results=1)  # warm-up
        mlflow_rest.search_registered_models(server.url, max_results=1, timeout=60)
        cases = {
            "client-versions": lambda: client_rows(client, "search_model_versions", args.page),
            "rest-versions": lambda: rest_rows(server.url, mlflow_rest.search_model_versions, args.page),
            "client-models": lambda: client_rows(client, "search_registered_models", 1000),
            "rest-models": lambda: rest_rows(server.url, mlflow_rest.search_registered_models, 1000),
        }
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
        results = {}
        for i in range(args.repeat):
            for key, func in cases.items():
                seconds, cpu, rows = timed(func)
                times[key].append((seconds, cpu))
                results[key] = rows
                print(f"  #{i + 1} {key}: {seconds:.2f} s wall, {cpu:.2f} s CPU, {len(rows)} rows", flush=True)
        for kind in ("versions", "models"):
            if results[f"client-{kind}"] != results[f"rest-{kind}"]:
                raise SystemExit(f"the two readers disagree on {kind}")
        print(f"\nboth readers return equal rows; load avg {os.getloadavg()}")
        summary = {}
        print(f"{'':18} {'best s':>8} {'median s':>9} {'CPU s (median)':>15}")
        for key, values in times.items():
            walls = [w for w, _ in values]
            cpus = [c for _, c in values]
            summary[key] = {
                "best_s": min(walls),
                "median_s": statistics.median(walls),
                "cpu_median_s": statistics.median(cpus),
                "rows": len(results[key]),
            }
            print(f"{key:18} {min(walls):8.2f} {statistics.median(walls):9.2f} {statistics.median(cpus):15.2f}")
        for kind in ("versions", "models"):
            c, r = summary[f"client-{kind}"], summary[f"rest-{kind}"]
            print(
                f"{kind}: REST reader {c['median_s'] / r['median_s']:.1f}× faster wall (median),"
                f" {c['cpu_median_s'] / max(r['cpu_median_s'], 1e-9):.1f}× less client CPU"
            )
        (build_registry.OUT / "rest_reader_bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
