"""Latency of the API's deployment gate and version endpoint on gunicorn + PostgreSQL at 10,000 versions (issue 14).

    .venv/bin/python bench/api_bench.py [--requests 2000] [--clients 10] [--workers 2] [--reuse]

1. Builds the mirror straight with the ORM (``tests.factories``: what sync writes) into a PostgreSQL database
   of its own (``--database-url``, default ``portal_apibench``; dropped and migrated unless ``--reuse`` finds
   it complete): 500 models × 20 versions, each version with its run (params, six metrics, commit and
   dataset tags), every 4th run with one of 8 datasets; in each model vN Staging, vN-1 Production
   (alias ``champion``), vN-2/vN-3 Archived; a finished sync. Mirror rows are all these endpoints read.
   A user ``bench`` (in no group) and a token of theirs.
2. Counts the SQL queries of one gate and one version request (Django test client, in that process).
3. Serves the portal with gunicorn (``--workers`` sync workers) on 127.0.0.1 (DEBUG off, persistent
   database connections) and runs ``--clients`` threads (http.client; a new connection when gunicorn
   closes one) issuing ``--requests`` GETs per endpoint, with ``Authorization: Bearer``, over random
   models and versions, after a warm-up: sequentially (one client: the service time), then closed loop
   (every client back to back: the saturation throughput; latency includes queueing).

   GET /api/v1/gate/{name}?stage=Production       (answers 409: no version got there by a portal request)
   GET /api/v1/models/{name}/versions/{v}

Results: stdout and ``bench/out/api_bench.json``. Loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from load import latency_summary, run_clients  # noqa: E402 - bench/ is on the path from here

PY = sys.executable
MODELS, VERSIONS_PER_MODEL = 500, 20
TOTAL = MODELS * VERSIONS_PER_MODEL


def model_name(index: int) -> str:
    return f"bench-{index:03d}"


def stage_of(version: int) -> str:
    offset = VERSIONS_PER_MODEL - version
    return {0: "Staging", 1: "Production", 2: "Archived", 3: "Archived"}.get(offset, "None")


# --- inside the Django process (``api_bench.py _build`` / ``_queries``) --------------------------------


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
    import django

    django.setup()


def build_mirror() -> None:
    _django()
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from accounts.services import api_token_create
    from registry.models import Dataset
    from tests.factories import make_model, make_run, make_sync, make_version, use_dataset

    began = time.perf_counter()
    with transaction.atomic():
        datasets = [
            Dataset.objects.create(
                name="churn", digest=f"dg{n:06d}", source_type="s3", source=f"s3://bench-data/churn/v{n}.parquet"
            )
            for n in range(8)
        ]
        for i in range(MODELS):
            model = make_model(
                model_name(i),
                owner=("alice", "bob", "carol", "dave", "erin")[i % 5],
                tags={"team": f"team-{i % 10}"},
                aliases={"champion": VERSIONS_PER_MODEL - 1},
                description="A bench model.",
            )
            for number in range(1, VERSIONS_PER_MODEL + 1):
                n = i * VERSIONS_PER_MODEL + number
                run = make_run(
                    metrics={k: 0.8 + (n % 17) / 100 for k in ("accuracy", "precision", "recall", "f1", "roc_auc")}
                    | {"demographic_parity_difference": 0.02},
                    params={"n_estimators": "100", "max_depth": "6", "learning_rate": "0.1", "model_type": "gbm"},
                    tags={"mlflow.source.name": "train.py", "dataset_version": f"v{n % 8}", "owner": "alice"},
                    commit=f"{n:040x}",
                    experiment=f"bench-exp-{i % 50:02d}",
                )
                if n % 4 == 0:
                    use_dataset(run, datasets[n % 8])
                make_version(
                    model,
                    number,
                    stage=stage_of(number),
                    aliases=("champion",) if stage_of(number) == "Production" else (),
                    run=run,
                    version_tags={"validation_status": "passed"} if number % 3 == 0 else {},
                )
        make_sync(finished_at=timezone.now())
        user = User.objects.create_user("bench", email="bench@example.com")
        secret = api_token_create(actor=user, user=user, name="api-bench")[1]
    (OUT / "api_bench_token").write_text(secret)
    print(f"  built {TOTAL} versions in {time.perf_counter() - began:.1f} s", flush=True)


def count_queries() -> None:
    _django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    secret = (OUT / "api_bench_token").read_text()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    result = {}
    for label, path in (
        ("gate", "/api/v1/gate/bench-123?stage=Production"),
        ("version", "/api/v1/models/bench-123/versions/7"),
    ):
        client.get(path)  # the first request of a process imports and warms up
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        result[label] = {
            "status": response.status_code,
            "queries": len(queries),
            "sql": [q["sql"][:160] for q in queries],
        }
    print(json.dumps(result))


# --- the driver -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mirrored_count(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url) as con:
            return con.execute("SELECT count(*) FROM registry_modelversion").fetchone()[0]
    except psycopg.Error:
        return 0


def load(port: int, secret: str, paths: list[str], total: int, clients: int, ok: tuple[int, ...]) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}

    def client() -> None:
        connection = None
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            path = paths[index % len(paths)]
            start = time.perf_counter()
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            if response.will_close:  # gunicorn's sync workers close after each response
                connection.close()
                connection = None
            with lock:
                latencies.append(elapsed)
                if response.status not in ok:
                    failures.append(f"{path}: HTTP {response.status}")
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    return latency_summary(latencies, failures, run_clients(threads))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_apibench")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint and mode")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the database when it already mirrors 10,000")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    var = OUT / "apibench-var"
    var.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "MLFLOW_TRACKING_URI": f"sqlite:///{var / 'mlflow-unused.db'}",  # reads never call MLflow
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
        "GATE_MAX_MIRROR_AGE_SECONDS": "86400",  # the bench's one sync stays fresh for the gate
    }
    if not (args.reuse and mirrored_count(args.database_url) == TOTAL and (OUT / "api_bench_token").exists()):
        from portal_db import fresh_database

        print(f"building the mirror in {args.database_url} ...", flush=True)
        fresh_database(args.database_url)
        subprocess.run([PY, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
        subprocess.run([PY, __file__, "_build"], env=env, cwd=ROOT, check=True)
    secret = (OUT / "api_bench_token").read_text()
    queries = json.loads(
        subprocess.run([PY, __file__, "_queries"], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    for label, row in queries.items():
        print(f"  {label}: HTTP {row['status']}, {row['queries']} queries", flush=True)

    port = free_port()
    log = OUT / "api_bench_gunicorn.log"
    command = [
        str(Path(PY).parent / "gunicorn"),
        "registry_portal.wsgi:application",
        "--workers",
        str(args.workers),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    gunicorn = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    rng = random.Random(14)
    gate_paths = [f"/api/v1/gate/{model_name(rng.randrange(MODELS))}?stage=Production" for _ in range(500)]
    version_paths = [
        f"/api/v1/models/{model_name(rng.randrange(MODELS))}/versions/{rng.randint(1, VERSIONS_PER_MODEL)}"
        for _ in range(500)
    ]
    endpoints = {"gate": (gate_paths, (200, 409)), "version": (version_paths, (200,))}
    results: dict = {
        "command": " ".join(["bench/api_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "gunicorn": " ".join(command[1:4]),
        "clients": args.clients,
        "requests": args.requests,
        "queries": {k: v["queries"] for k, v in queries.items()},
        "load_avg_before": os.getloadavg(),
    }
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/api/v1/openapi.json")
                break
            except OSError:
                if gunicorn.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        for label, (paths, ok) in endpoints.items():
            load(port, secret, paths, 100, args.clients, ok)  # warm-up: imports, connections
            for mode, clients in (("1 client", 1), (f"{args.clients} clients, closed loop", args.clients)):
                row = load(port, secret, paths, args.requests if clients > 1 else args.requests // 4, clients, ok)
                results[f"{label} [{mode}]"] = row
                print(f"  {label} [{mode}]: {row}", flush=True)
    finally:
        if gunicorn.poll() is None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=20)
    (OUT / "api_bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["_build"]:
        build_mirror()
    elif sys.argv[1:] == ["_queries"]:
        count_queries()
    else:
        sys.exit(main())
