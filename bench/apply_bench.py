"""Apply latency: from the deciding approval POST to MLflow showing the new stage (issue 7). Not a test.

    .venv/bin/python bench/apply_bench.py [--requests 50] [--pool prefork] [--concurrency 2]
        [--database-url postgres://postgres@127.0.0.1:5432/registry_portal_bench]
        [--broker-url redis://127.0.0.1:6379/14] [--profile]

Everything is real and on loopback: a fresh ``mlflow server`` (SQLite store under
``bench/out/apply-bench/``), a fresh PostgreSQL database (dropped, created and migrated), a Redis
broker (the db is flushed at start) and a ``celery worker`` subprocess started as in docker-compose
(``--pool prefork --concurrency 2``; ``--pool solo`` to compare). The portal itself runs in this
process: the POST goes through Django's test ``Client`` to ``/approvals/requests/<pk>/review/``
(the full middleware stack and view; falls back to ``services.review_submit`` if the URL is missing).

Setup (not timed): N models, each with v1 in Production and v2 in Staging over HTTP, one sync, a
Production request for every v2 by its owner (checks run by the worker), the first of two approvals.
The policy has one rule, two approvals for Production (``approvals.policies`` DEFAULT_RULES would
need model cards; the apply path does not read them).

Timed, one request after the other (the next starts when the previous is ``applied``):
  post     the deciding approval POST (review, quorum, ``approved``, commit, task published)
  claimed  POST start → the worker's ``request.apply_started`` audit event (broker + worker pickup)
  mlflow   POST start → ``MlflowClient.get_model_version`` shows Production (polled every 10 ms): the target
  applied  POST start → the request is ``applied`` in the portal (after the apply's re-sync of the model)
and from the worker: the task's own run time (``succeeded in``) and its MLflow calls (audit data).
``--profile``: 10 more requests, then the worker is stopped and their apply (claim + ``transition_request_apply``) runs
in this process under cProfile: where the task's time goes (MLflow calls, the re-sync), in
``bench/out/apply_task.prof``.
Output: stdout and ``bench/out/apply_bench.json``; exit status 1 when the p95 target (2 s) is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=FutureWarning)
from portal_db import fresh_database  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float]) -> dict:
    return {
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.mean(values), 3),
    }


def wait_until(done, what: str, timeout: float = 120, every: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--pool", default="prefork", choices=("prefork", "solo", "threads"))
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/registry_portal_bench")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--profile", action="store_true", help="cProfile the apply in-process after the timed run")
    args = parser.parse_args()

    out = OUT / "apply-bench"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    from conftest import MlflowServer

    print("starting mlflow server ...", flush=True)
    server = MlflowServer(out).start()
    worker, missed = None, True
    try:
        fresh_database(args.database_url)
        import redis

        redis.Redis.from_url(args.broker_url).flushdb()
        env = {
            "DJANGO_SETTINGS_MODULE": "registry_portal.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),  # DEBUG is off: a key it accepts
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "MLFLOW_TRACKING_URI": server.url,
            "MLFLOW_ARTIFACT_ROOT": (out / "artifacts").as_uri(),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "View run" line per run created

        worker_log = out / "worker.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "registry_portal",
            "worker",
            f"--pool={args.pool}",
            f"--concurrency={args.concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ]
        with worker_log.open("ab") as log:
            worker = subprocess.Popen(
                command, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
            )

        def stop_worker():
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)

        results = run(args, server, stop_worker)
        results["worker_task_seconds"] = summary(task_times(worker_log))
        report(args, results)
        (OUT / "apply_bench.json").write_text(json.dumps(results, indent=2))
        missed = results["mlflow_seconds"]["p95"] > 2
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        server.stop()
    sys.exit(1 if missed else 0)


def task_times(log: Path) -> list[float]:
    return [
        float(s)
        for s in re.findall(r"apply_transition\[[-\w]+\] succeeded in ([\d.]+)s", log.read_text(errors="replace"))
    ]


PROFILED = 10
PARTS = (
    "get_version",
    "transition_stage",
    "set_alias",
    "get_aliases",
    "delete_alias",
    "set_version_tags",
    "approval_tags",
    "sync_registry",
)


def profile_applies(request_ids: list[int]) -> dict:
    """Claim and apply each request in this process under cProfile; seconds per apply spent in each part."""
    import cProfile
    import pstats

    from approvals import services

    profiler = cProfile.Profile()
    started = time.perf_counter()
    for pk in request_ids:
        profiler.enable()
        claim = services.transition_request_claim(request_id=pk)
        services.transition_request_apply(request_id=pk, claim=claim)
        profiler.disable()
    total = time.perf_counter() - started
    profiler.dump_stats(OUT / "apply_task.prof")
    stats = pstats.Stats(profiler)
    parts = {}
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        if function in PARTS and ("approvals" in filename or "registry" in filename):
            parts[function] = parts.get(function, 0) + cumulative / len(request_ids)
    return {"apply_seconds": round(total / len(request_ids), 3), **{k: round(v, 3) for k, v in parts.items()}}


def run(args, server, stop_worker) -> dict:
    from django.contrib.auth.models import Group, User
    from django.db import close_old_connections
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from mlflow import MlflowClient

    from approvals import services
    from approvals.models import CheckRun, Policy, TransitionRequest
    from audit.models import AuditEvent
    from registry.models import ModelVersion
    from registry.sync import sync_registry
    from registry.tests.mlflow_helpers import MlflowWorld

    policy = Policy.objects.filter(model_name="").first() or Policy(model_name="")
    policy.rules = {"Production": [{"type": "required_approvals", "count": 2}]}
    services.policy_save(actor="system:bench", policy=policy)
    owner = User.objects.create_user("olga-owner")
    reviewers = Group.objects.get_or_create(name="reviewers")[0]
    first, deciding = (User.objects.create_user(name) for name in ("reviewer-1", "reviewer-2"))
    for user in (first, deciding):
        user.groups.add(reviewers)

    started = time.monotonic()
    world = MlflowWorld(server.url, None)
    tag = uuid.uuid4().hex[:6]
    names = [f"apply-bench-{tag}-{i:03d}" for i in range(args.requests + (PROFILED if args.profile else 0))]
    for name in names:
        world.client.create_registered_model(name, tags={"owner": "olga-owner"})
        world.create_version(name, stage="Production", metrics={"accuracy": 0.91})
        world.create_version(name, stage="Staging", metrics={"accuracy": 0.93})
    sync_run = sync_registry()
    assert sync_run.status == "succeeded", sync_run.error
    requests = []
    for name in names:
        version = ModelVersion.objects.select_related("model", "run").get(model__name=name, version=2)
        requests.append(
            services.transition_request_create(
                actor=owner, version=version, to_stage="Production", justification="bench"
            )
        )
    ids = [r.pk for r in requests]
    wait_until(
        lambda: CheckRun.objects.filter(request__in=ids, status=CheckRun.PASSED).count() == len(ids),
        "the worker to run every request's checks",
        timeout=300,
        every=0.2,
    )
    for request in requests:
        services.review_submit(actor=first, request=request, decision="approve", comment="first")
    setup_seconds = time.monotonic() - started
    print(f"setup: {len(names)} models, requests with passing checks and one approval in {setup_seconds:.1f} s")

    client = Client(HTTP_HOST="localhost")
    client.force_login(deciding)
    try:
        reverse("approvals:review_submit", args=[ids[0]])
        via = "http"
    except NoReverseMatch:
        via = "service"
    mlflow = MlflowClient(server.url, registry_uri=server.url)
    rows = []
    for name, request in zip(names[: args.requests], requests[: args.requests], strict=True):
        close_old_connections()
        wall0, t0 = time.time(), time.perf_counter()
        if via == "http":
            response = client.post(
                reverse("approvals:review_submit", args=[request.pk]), {"decision": "approve", "comment": "ship it"}
            )
            assert response.status_code in (200, 302), (response.status_code, response.content[:500])
        else:
            services.review_submit(actor=deciding, request=request, decision="approve", comment="ship it")
        t_post = time.perf_counter() - t0
        wait_until(lambda n=name: mlflow.get_model_version(n, "2").current_stage == "Production", f"{name} in MLflow")
        t_mlflow = time.perf_counter() - t0
        wait_until(
            lambda pk=request.pk: TransitionRequest.objects.filter(pk=pk, status=TransitionRequest.APPLIED).exists(),
            f"request #{request.pk} applied",
        )
        t_applied = time.perf_counter() - t0
        events = AuditEvent.objects.filter(target_type="transition_request", target_id=str(request.pk))
        claimed_at = events.get(action="request.apply_started").created_at
        applied = events.get(action="request.applied")
        rows.append(
            {
                "request": request.pk,
                "post": t_post,
                "claimed": (claimed_at - dt.datetime.fromtimestamp(wall0, tz=dt.UTC)).total_seconds(),
                "mlflow": t_mlflow,
                "applied": t_applied,
                "mlflow_calls": applied.data.get("mlflow_calls"),
            }
        )
    profile = {}
    if args.profile:
        stop_worker()
        extra = requests[args.requests :]
        for request in extra:  # the task message goes to Redis, where no worker takes it
            services.review_submit(actor=deciding, request=request, decision="approve", comment="ship it")
        profile = profile_applies([r.pk for r in extra])
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "profile_per_apply_seconds": profile,
        "requests": len(rows),
        "via": via,
        "worker": f"--pool={args.pool} --concurrency={args.concurrency}",
        "setup_seconds": round(setup_seconds, 1),
        "post_seconds": summary([r["post"] for r in rows]),
        "claimed_seconds": summary([r["claimed"] for r in rows]),
        "mlflow_seconds": summary([r["mlflow"] for r in rows]),
        "applied_seconds": summary([r["applied"] for r in rows]),
        "mlflow_calls_per_apply": sorted({r["mlflow_calls"] for r in rows}),
        "rows": rows,
    }


def report(args, results: dict) -> None:
    print(f"\n{results['requests']} requests, deciding approval via {results['via']}, worker {results['worker']}")
    print("| from the deciding POST to | p50 | p95 | max | mean |")
    print("|---|---|---|---|---|")
    labels = {
        "post_seconds": "the POST's response",
        "claimed_seconds": "the worker claiming the request",
        "mlflow_seconds": "**MLflow showing Production**",
        "applied_seconds": "the request `applied` in the portal",
        "worker_task_seconds": "(the apply task's own run time)",
    }
    for key, label in labels.items():
        s = results[key]
        print(f"| {label} | {s['p50']:.3f} s | {s['p95']:.3f} s | {s['max']:.3f} s | {s['mean']:.3f} s |")
    print(f"MLflow calls per apply: {results['mlflow_calls_per_apply']}")
    if results["profile_per_apply_seconds"]:
        print(f"in-process apply, seconds per apply: {results['profile_per_apply_seconds']}")
    verdict = "meets" if results["mlflow_seconds"]["p95"] <= 2 else "MISSES"
    print(f"target p95 <= 2 s: {verdict} ({results['mlflow_seconds']['p95']:.3f} s)")


if __name__ == "__main__":
    main()
