"""Freshness: from a write in MLflow to the portal's version page showing it, everything real.

    .venv/bin/python bench/freshness_bench.py [--repetitions 20] [--sync-interval 5] [--web gunicorn]

Starts, each in its own process group, stopped at the end (also on Ctrl-C / SIGTERM):

* a fresh ``mlflow server`` (SQLite store under ``bench/out/freshness/``, job runner off) with webhooks
  enabled: ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`` (a Fernet key made here),
  ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https``, ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true``;
* the portal, ``gunicorn registry_portal.wsgi`` (or ``manage.py runserver --noreload``) on a free port with
  ``MLFLOW_WEBHOOK_SECRET`` set, against a fresh database (``--database-url``, default PostgreSQL
  ``portal_freshbench``, dropped and migrated at start) and the Redis broker (``--broker-url``, default
  ``redis://127.0.0.1:6379/14``, flushed at start);
* ``celery -A registry_portal worker`` (prefork, concurrency 2, as docker-compose) and
  ``celery -A registry_portal beat`` with ``SYNC_INTERVAL_SECONDS=--sync-interval`` (the fast pass) and
  ``RECONCILE_INTERVAL_SECONDS=--reconcile-interval``;

registers the webhook with ``manage.py mlflow_webhook register <portal>/hooks/mlflow``, seeds one model,
and then, ``--repetitions`` times, interleaved, makes one MLflow write of each kind through
``MlflowClient`` and polls the version page (every ``--poll`` s, as a signed-in user) until it shows it:

  tag      set_model_version_tag (a fresh value)           webhook model_version_tag.set
  alias    set_registered_model_alias (a fresh alias)      webhook model_version_alias.created
  version  create_model_version (the new version's page)   webhook model_version.created (+ fast pass)
  stage    transition_model_version_stage                  no webhook: only the fast pass sees it

Latency is measured from the start of the write call (conservative: it includes MLflow's own write,
two REST calls for MlflowClient) to the first page that shows the change. Targets: p95 ≤ 2 s for the
webhook kinds, p95 ≤ SYNC_INTERVAL_SECONDS + 1 s for stage changes. Before each stage change the bench
waits a random part of the interval, so the change lands anywhere in the beat's cycle.
Exit status 1 when a target is missed, 2 when the portal lacks the webhook endpoint or the fast pass.
Output: stdout, ``bench/out/freshness_bench.json``, logs in ``bench/out/freshness/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
WORK = OUT / "freshness"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)
from portal_db import fresh_database  # noqa: E402

KINDS = ("tag", "alias", "version", "stage")
WEBHOOK_KINDS = ("tag", "alias", "version")
MODEL = "freshness-bench"
STAGES = ("Staging", "Production", "Archived", "None")
STAGE_BADGE = re.compile(
    r'<span class="badge (?:none|staging|production|archived)">(None|Staging|Production|Archived)</span>'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Subprocesses each in its own session; ``stop_all`` ends every group, newest first."""

    def __init__(self):
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict, log: Path) -> subprocess.Popen:
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.running:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: see {WORK}/{name}.log")

    def stop_all(self) -> None:
        while self.running:
            name, process = self.running.pop()
            stop_group(process)


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    # Anything left in the group (uvicorn / prefork children whose parent went first).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
        "min": round(min(values), 3),
    }


def wait_http(url: str, ok, timeout: float, processes: Processes, what: str) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        try:
            if ok(requests.get(url, timeout=2, allow_redirects=False)):
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=20, help="writes of each kind (default 20)")
    parser.add_argument("--sync-interval", type=int, default=5, help="SYNC_INTERVAL_SECONDS of the beat (fast pass)")
    parser.add_argument("--reconcile-interval", type=int, default=600, help="RECONCILE_INTERVAL_SECONDS of the beat")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_freshbench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14", help="flushed at start")
    parser.add_argument("--web", choices=("gunicorn", "runserver"), default="gunicorn")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--pool", default="prefork", help="celery worker pool")
    parser.add_argument("--concurrency", type=int, default=2, help="celery worker concurrency")
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between page polls")
    parser.add_argument("--timeout", type=float, default=60, help="give up on one change after this many seconds")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the waits before stage changes")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _terminate)
    random.seed(args.seed)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    processes = Processes()
    try:
        return run(args, processes)
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({exc}): stopping everything", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        _stop_mlflow()


_MLFLOW: list = []


def _stop_mlflow() -> None:
    while _MLFLOW:
        _MLFLOW.pop().stop()


def run(args, processes: Processes) -> int:
    import redis
    import requests
    from cryptography.fernet import Fernet

    from conftest import MlflowServer

    # ---- MLflow, with webhooks that can reach 127.0.0.1 over http ---------------------------------
    (WORK / "mlflow").mkdir()
    server = MlflowServer(
        WORK / "mlflow",
        env={
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
    )
    print(f"starting mlflow server on {server.url}", flush=True)
    _MLFLOW.append(server)
    server.start(timeout=120)

    # ---- the portal's environment, shared by this process, the web server, the worker and beat --------
    port = free_port()
    portal = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "registry_portal.settings",
        "DATABASE_URL": args.database_url,
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_ARTIFACT_ROOT": (WORK / "mlflow" / "artifacts").as_uri(),
        "CELERY_BROKER_URL": args.broker_url,
        "MLFLOW_WEBHOOK_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "SYNC_INTERVAL_SECONDS": str(args.sync_interval),
        "RECONCILE_INTERVAL_SECONDS": str(args.reconcile_interval),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PORTAL_URL": portal,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "PYTHONUNBUFFERED": "1",
        # Production settings (DEBUG off): the manifest static storage needs collectstatic, into the bench's own dir.
        "PORTAL_VAR_DIR": str(WORK / "var"),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # Plain HTTP on 127.0.0.1: no HTTPS redirect, cookies sent without TLS (docs/security.md).
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
    }
    os.environ.update(env)
    fresh_database(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    import inspect

    from registry.sync import sync_registry

    problems = []
    if "mode" not in inspect.signature(sync_registry).parameters:
        problems.append(
            "registry.sync.sync_registry has no `mode` (no fast pass): stage changes would wait for a reconcile"
        )
    try:
        from django.urls import reverse

        reverse("mlflow_hook")
        from registry.management.commands import mlflow_webhook  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - reported
        problems.append(f"the portal has no webhook endpoint or `mlflow_webhook` command: {exc}")
    if problems:
        for problem in problems:
            print(f"*** {problem}", file=sys.stderr)
        return 2

    # ---- a signed-in reader ------------------------------------------------------------------
    from django.contrib.auth import get_user_model
    from django.test import Client
    from mlflow import MlflowClient

    from registry.models import SyncRun, WebhookDelivery

    user = get_user_model().objects.create_user("freshness-reader", password=uuid.uuid4().hex)
    browser = Client()
    browser.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", browser.cookies["sessionid"].value, domain="127.0.0.1")

    def page_url(version: int) -> str:
        return portal + reverse("registry:version_detail", args=[MODEL, version])

    # ---- the portal, the worker, beat -----------------------------------------------------------
    if args.web == "gunicorn":
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "registry_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--access-logfile",
            "-",
        ]
    else:
        web = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    processes.start("web", web, env, WORK / "web.log")
    celery = [sys.executable, "-m", "celery", "-A", "registry_portal"]
    processes.start(
        "worker",
        [
            *celery,
            "worker",
            f"--pool={args.pool}",
            f"--concurrency={args.concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        env,
        WORK / "worker.log",
    )
    processes.start(
        "beat",
        [
            *celery,
            "beat",
            "-l",
            "INFO",
            "--schedule",
            str(WORK / "celerybeat-schedule"),
            "--pidfile",
            str(WORK / "beat.pid"),
        ],
        env,
        WORK / "beat.log",
    )
    wait_http(portal + reverse("login"), lambda r: r.status_code == 200, 60, processes, "the portal")
    registered = subprocess.run(
        [sys.executable, "manage.py", "mlflow_webhook", "register", f"{portal}/hooks/mlflow"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(f"  {registered.stdout.strip() or registered.stderr.strip()}", flush=True)
    if registered.returncode != 0:
        raise RuntimeError(f"mlflow_webhook register failed: {registered.stderr[-2000:]}")

    # ---- MLflow content, written only now: MLflow caches each event's webhook list for
    # MLFLOW_WEBHOOK_CACHE_TTL (60 s) per server process, so an event fired before the webhook existed
    # would keep that event undelivered for up to a minute. One model, two versions; the webhooks (and
    # the fast pass) bring them into the mirror.
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
    experiment = client.create_experiment("freshness")
    client.create_registered_model(MODEL, description="freshness benchmark")

    def new_version() -> int:
        run_id = client.create_run(experiment).info.run_id
        client.set_terminated(run_id)
        return int(client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id).version)

    first = new_version()
    new_version()

    def shows(version: int, check) -> tuple[bool, str]:
        response = session.get(page_url(version), timeout=10, allow_redirects=False)
        if response.status_code != 200:
            return False, ""
        return check(response.text), response.text

    def wait_for(version: int, check, started: float) -> float:
        deadline = started + args.timeout
        while time.perf_counter() < deadline:
            if shows(version, check)[0]:
                return time.perf_counter() - started
            time.sleep(args.poll)
        processes.check()
        raise RuntimeError(f"v{version}'s page did not show the change within {args.timeout} s")

    def current_stage(html: str) -> str:
        found = STAGE_BADGE.search(html)
        return found.group(1) if found else ""

    # Warm-up (not counted): one webhook round trip and one beat tick, so every process has started.
    print("warming up: one webhook delivery and one fast pass", flush=True)
    wait_for(first, lambda html: True, time.perf_counter())
    marker = f"warm-{uuid.uuid4().hex[:8]}"
    client.set_model_version_tag(MODEL, str(first), "freshness", marker)
    wait_for(first, lambda html: marker in html, time.perf_counter())
    deadline = time.monotonic() + 3 * args.sync_interval + 30
    while not SyncRun.objects.filter(mode="fast").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no fast pass ran within {3 * args.sync_interval + 30} s: see {WORK}/beat.log")
        processes.check()
        time.sleep(0.5)

    # ---- the measurements ----------------------------------------------------------------------
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    writes: dict[str, list[float]] = {k: [] for k in KINDS}
    stage_of = {first: "None"}
    for i in range(args.repetitions):
        for kind in KINDS:
            if kind == "stage":
                time.sleep(random.uniform(0, args.sync_interval))  # land anywhere in the beat's cycle
            started = time.perf_counter()
            if kind == "tag":
                marker = f"t{i}-{uuid.uuid4().hex[:8]}"
                client.set_model_version_tag(MODEL, str(first), "freshness", marker)
                target, check = first, (lambda html, m=marker: m in html)
            elif kind == "alias":
                alias = f"fresh{i}-{uuid.uuid4().hex[:6]}"
                client.set_registered_model_alias(MODEL, alias, str(first))
                target, check = first, (lambda html, a=alias: f"@{a}</span>" in html)
            elif kind == "version":
                target = new_version()
                check = lambda html: True  # noqa: E731 - the page exists (404 before the sync)
            else:
                stage = next(s for s in STAGES if s != stage_of[first])
                client.transition_model_version_stage(MODEL, str(first), stage)
                stage_of[first] = stage
                target, check = first, (lambda html, s=stage: current_stage(html) == s)
            written = time.perf_counter() - started
            seconds = wait_for(target, check, started)
            latencies[kind].append(seconds)
            writes[kind].append(written)
            print(f"  #{i + 1:>2} {kind:<8} {seconds:6.3f} s (write {written:.3f} s)", flush=True)
            time.sleep(0.3)  # let the sync that answered it finish before the next write

    # ---- report ------------------------------------------------------------------------------
    runs = list(SyncRun.objects.values_list("mode", "trigger", "status"))
    by_kind = {kind: summary(latencies[kind]) for kind in KINDS}
    write_times = {kind: summary(writes[kind]) for kind in KINDS}
    targets = {kind: 2.0 for kind in WEBHOOK_KINDS}
    targets["stage"] = args.sync_interval + 1.0
    met = {kind: by_kind[kind]["p95"] <= targets[kind] for kind in KINDS}
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{args.repetitions} writes of each kind; SYNC_INTERVAL_SECONDS={args.sync_interval}; web={args.web};"
        f" worker {args.pool}×{args.concurrency}; load avg now {load}"
    )
    print(f"{'from the write to the page':28} {'p50':>7} {'p95':>7} {'max':>7} {'target p95':>11}  (write p50)")
    mark = {True: "met", False: "MISSED"}
    for kind in KINDS:
        row = by_kind[kind]
        print(
            f"{kind:28} {row['p50']:7.3f} {row['p95']:7.3f} {row['max']:7.3f} {targets[kind]:10.1f}s"
            f"  ({write_times[kind]['p50']:.3f})  {mark[met[kind]]}"
        )
    counts: dict[str, int] = {}
    for mode, trigger, status in runs:
        key = f"{mode}/{trigger}/{status}"
        counts[key] = counts.get(key, 0) + 1
    print(f"SyncRuns (mode/trigger/status): {counts}")
    print(f"webhook deliveries received: {WebhookDelivery.objects.count()}")
    result = {
        "args": vars(args),
        "latency_s": by_kind,
        "write_s": write_times,
        "targets_p95_s": targets,
        "met": met,
        "raw": latencies,
        "sync_runs": counts,
        "webhook_deliveries": WebhookDelivery.objects.count(),
    }
    (OUT / "freshness_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
