"""Latency of the review pages on gunicorn + PostgreSQL with 10,000 versions mirrored (issue 4).

    .venv/bin/python bench/pages_bench.py [--requests 400] [--clients 10] [--reuse]

1. Builds (or reuses) the 10,000-version MLflow registry of ``bench/build_registry.py`` and mirrors it
   into a PostgreSQL database of its own (``--database-url``, default ``portal_pagesbench``; dropped,
   migrated and synced straight from the SQLite store unless ``--reuse`` finds it already complete).
2. Serves the portal with gunicorn, 2 sync workers, on 127.0.0.1 (DEBUG off, static files collected,
   persistent database connections), and signs in ``--clients`` sessions.
3. For each page (model list, model page of the 200-version model, version review page, lineage
   page), ``--clients`` threads issue ``--requests`` GETs in all, after a warm-up; latency is measured
   per request at the client. Twice: as users do, each client pausing a random 0.5–1.5 × ``--think``
   seconds between requests (what locust's ``wait_time = between(0.5, 1.5)`` does), and back to back
   with no pause (a closed loop: the saturation throughput of the 2 workers, where latency is mostly
   queueing: 10 clients on 2 sync workers wait for ~4 requests ahead of theirs).
4. Side by side: ``mlflow server`` (2 workers) serving the same store, and the two REST calls MLflow's
   UI makes to show that model's versions (``registered-models/get`` + ``model-versions/search``
   with ``name='bench-big-200'``), timed the same way, sequentially per view.

Results: stdout (a Markdown table) and ``bench/out/pages_bench.json``. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from load import latency_summary, run_clients  # noqa: E402 - bench/ is on the path from here

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import build_registry  # noqa: E402
from portal_db import fresh_database  # noqa: E402

PY = sys.executable
BIG = build_registry.SPEC["big_model"]
PASSWORD = "bench-pages-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PY, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True, capture_output=capture, text=True
    )
    return result.stdout if capture else ""


def mirrored_versions(url: str) -> list[tuple[str, int]]:
    import psycopg

    try:
        with psycopg.connect(url) as con:
            return con.execute(
                "SELECT m.name, v.version FROM registry_modelversion v JOIN registry_registeredmodel m"
                " ON m.id = v.model_id ORDER BY m.name, v.version"
            ).fetchall()
    except psycopg.Error:
        return []


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def sign_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    login = session.get(f"{base}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return session


def load(sessions: list[requests.Session], views: list, total: int, think: float = 0.0) -> dict:
    """``len(sessions)`` threads run ``views`` (callables taking a session) round robin, ``total`` in all,
    each pausing ``think`` × uniform(0.5, 1.5) seconds after each of its requests."""
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client(session: requests.Session, rng: random.Random) -> None:
        if think:
            time.sleep(rng.uniform(0, think))  # clients start out of step, as users do
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            start = time.perf_counter()
            error = views[index % len(views)](session)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if error:
                    failures.append(error)
            if think:
                time.sleep(think * rng.uniform(0.5, 1.5))

    threads = [threading.Thread(target=client, args=(s, random.Random(i))) for i, s in enumerate(sessions)]
    return latency_summary(latencies, failures, run_clients(threads))


def get(url: str, **kwargs):
    def view(session: requests.Session) -> str | None:
        response = session.get(url, timeout=30, allow_redirects=False, **kwargs)
        return None if response.status_code == 200 else f"{url}: HTTP {response.status_code}"

    return view


def mlflow_model_view(base: str, name: str):
    """What MLflow's UI requests to show a registered model with its versions."""

    def view(session: requests.Session) -> str | None:
        model = session.get(f"{base}/ajax-api/2.0/mlflow/registered-models/get", params={"name": name}, timeout=30)
        versions = session.get(
            f"{base}/ajax-api/2.0/mlflow/model-versions/search",
            params={"filter": f"name='{name}'", "max_results": 1000},
            timeout=30,
        )
        if model.status_code != 200 or versions.status_code != 200:
            return f"MLflow: HTTP {model.status_code}/{versions.status_code}"
        if len(versions.json().get("model_versions", [])) != build_registry.SPEC["big_model_versions"]:
            return "MLflow: wrong number of versions"
        return None

    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_pagesbench")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=400, help="requests per page kind")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause of a client between requests, s")
    parser.add_argument("--reuse", action="store_true", help="keep the database when it already mirrors 10,000")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args(argv)

    build_registry.ensure_registry()
    store = build_registry.STORE
    out = build_registry.OUT
    var = out / "pagesbench-var"
    var.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "PORTAL_VAR_DIR": str(var),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Plain HTTP on 127.0.0.1: no HTTPS redirect, cookies sent without TLS (docs/security.md).
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "",
    }
    total = build_registry.SPEC["versions"]
    if not (args.reuse and len(mirrored_versions(args.database_url)) == total):
        print(f"mirroring {store} into {args.database_url} ...", flush=True)
        fresh_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
        began = time.perf_counter()
        manage(env, "sync_registry")
        print(f"  synced in {time.perf_counter() - began:.1f} s", flush=True)
    versions = mirrored_versions(args.database_url)
    if len(versions) != total:
        raise RuntimeError(f"mirror holds {len(versions)} versions, expected {total}")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        "u, _ = User.objects.get_or_create(username='bench')\n"
        f"u.set_password('{PASSWORD}'); u.save()",
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = out / "pages_bench_gunicorn.log"
    gunicorn = start(
        [
            str(Path(PY).parent / "gunicorn"),
            "registry_portal.wsgi:application",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env,
        log,
    )
    results: dict = {
        "clients": args.clients,
        "requests_per_page": args.requests,
        "gunicorn_workers": args.workers,
        "think_s": args.think,
        "load_avg_before": os.getloadavg(),
    }
    try:
        wait_for(f"{base}/accounts/login/", gunicorn, log)
        sessions = [sign_in(base, "bench") for _ in range(args.clients)]
        rng = random.Random(4)
        sample = rng.sample(versions, 200)
        pages = {
            "model list": [get(f"{base}/")]
            + [get(f"{base}/?page={n}") for n in range(2, 11)]
            + [
                get(f"{base}/?stage=Production&owner=alice"),
                get(f"{base}/?q=bench-1"),
                get(f"{base}/?alias=challenger"),
            ],
            f"model page ({BIG}, 200 versions)": [
                get(f"{base}/models/{BIG}/"),
                get(f"{base}/models/{BIG}/?sort=metric:f1"),
                get(f"{base}/models/{BIG}/?sort=-metric:demographic_parity_difference&page=3"),
            ],
            "version review page": [get(f"{base}/models/{name}/versions/{number}/") for name, number in sample],
            "lineage page": [get(f"{base}/models/{name}/versions/{number}/lineage/") for name, number in sample],
        }
        for label, views in pages.items():
            load(sessions, views, max(len(views), 40))  # warm-up: templates, connections, caches
            for mode, think in (("users", args.think), ("closed loop", 0.0)):
                row = load(sessions, views, args.requests, think)
                results[f"{label} [{mode}]"] = row
                print(f"  {label} [{mode}]: {row}", flush=True)
    finally:
        stop(gunicorn)

    if not args.skip_mlflow:
        mlflow_port = free_port()
        mlflow_base = f"http://127.0.0.1:{mlflow_port}"
        mlflow_log = out / "pages_bench_mlflow.log"
        server = start(
            [
                PY,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{store / 'mlflow.db'}",
                "--artifacts-destination",
                str(store / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--workers",
                str(args.workers),
            ],
            {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"},
            mlflow_log,
        )
        try:
            wait_for(f"{mlflow_base}/health", server, mlflow_log, timeout=180)
            sessions = [requests.Session() for _ in range(args.clients)]
            views = [mlflow_model_view(mlflow_base, BIG)]
            load(sessions, views, 40)
            ratios = {}
            for mode, think in (("users", args.think), ("closed loop", 0.0)):
                row = load(sessions, views, args.requests, think)
                results[f"MLflow REST: registered-models/get + model-versions/search ({BIG}) [{mode}]"] = row
                print(f"  MLflow [{mode}]: {row}", flush=True)
                portal = results[f"model page ({BIG}, 200 versions) [{mode}]"]
                ratios[mode] = {key: round(portal[key] / row[key], 2) for key in ("p50_ms", "p95_ms", "p99_ms")}
        finally:
            stop(server)
        results["ratio_portal_over_mlflow"] = ratios

    results["load_avg_after"] = os.getloadavg()
    (out / "pages_bench.json").write_text(json.dumps(results, indent=2))
    print("\n| page | p50 ms | p95 ms | p99 ms | req/s | failures |\n|---|---|---|---|---|---|")
    for label, row in results.items():
        if isinstance(row, dict) and "p50_ms" in row and "requests" in row:
            print(
                f"| {label} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['throughput_rps']} | "
                f"{row['failures']} |"
            )
    if "ratio_portal_over_mlflow" in results:
        print(f"\nportal model page / MLflow REST calls: {results['ratio_portal_over_mlflow']}")
    failed = [label for label, row in results.items() if isinstance(row, dict) and row.get("failures")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
