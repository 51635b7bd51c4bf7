"""Notification dispatcher throughput: audit events → deliveries → signed webhook POSTs to a local receiver. Not a test.

    .venv/bin/python bench/notify_bench.py [--events 5000] [--subscriptions 1]
        [--database-url postgres://postgres@127.0.0.1:5432/registry_portal_notifybench]

The portal database is fresh (SQLite under ``bench/out/`` by default; a PostgreSQL one is dropped, created
and migrated). Setup (not timed): ``--events`` audit events appended with ``record_many`` (all of them
notifiable), and ``--subscriptions`` webhook subscriptions whose cursors start before them. The receiver is
another process on 127.0.0.1 (``http.server``, HTTP/1.1 keep-alive) that answers 200 and counts webhook-ids.

Timed: the beat task's work (``services.notifications_dispatch``: cursors catch up, deliveries created,
senders run in-process as without a broker) until every delivery is ``delivered``. Prints events/s per
subscription (deliveries/s overall); exit status 1 below the target of 500 events/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TARGET = 500


def receive(port: int, counts):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with counts.get_lock():
                counts.value += 1

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--database-url", default=f"sqlite:///{OUT / 'notify-bench.sqlite3'}")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from portal_db import fresh_database

    fresh_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from audit.services import PendingEvent, Target, record_many
    from conftest import free_port
    from notifications import services
    from notifications.events import DERIVED, NOTIFIABLE
    from notifications.models import Delivery, Subscription

    port = free_port()
    counts = multiprocessing.Value("i", 0)
    receiver = multiprocessing.Process(target=receive, args=(port, counts), daemon=True)
    receiver.start()
    time.sleep(0.5)

    actions = sorted(set(NOTIFIABLE) - set(DERIVED))  # derived keys (checks.failed) are no audit action
    for start in range(0, args.events, 1000):
        record_many(
            [
                PendingEvent(
                    "system:worker",
                    actions[n % len(actions)],
                    Target(type="transition_request", id=str(n), model_name=f"model-{n % 50}", version=n % 9 + 1),
                    {"to_stage": "Production", "n": n},
                )
                for n in range(start, min(start + 1000, args.events))
            ]
        )
    for n in range(args.subscriptions):
        Subscription.objects.create(
            channel=Subscription.WEBHOOK,
            name=f"bench-{n}",
            url=f"http://127.0.0.1:{port}/hook",
            secret="bench",
            actions=actions,
            cursor=0,
        )

    expected = args.events * args.subscriptions
    started = time.perf_counter()
    while Delivery.objects.filter(status=Delivery.DELIVERED).count() < expected:
        services.notifications_dispatch()
        if Delivery.objects.exclude(status=Delivery.DELIVERED).filter(status__in=["failed", "dead"]).exists():
            print(
                "a delivery failed:", Delivery.objects.exclude(last_error="").values_list("last_error", flat=True)[:1]
            )
            return 2
    seconds = time.perf_counter() - started
    receiver.terminate()
    rate = args.events / seconds
    vendor = django.db.connection.vendor
    print(
        f"{vendor}: {args.events} events × {args.subscriptions} subscription(s) delivered in {seconds:.2f} s: "
        f"{rate:,.0f} events/s per subscription, {expected / seconds:,.0f} deliveries/s; "
        f"receiver counted {counts.value} POSTs (target ≥ {TARGET} events/s)"
    )
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
