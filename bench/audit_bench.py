"""Audit trail benchmark (prints numbers; not a test).

    createdb -h 127.0.0.1 -U postgres portal_auditbench   # once; the script refuses other databases
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_auditbench \\
        .venv/bin/python bench/audit_bench.py --events 1000000

Measures append throughput of ``record`` (one event per transaction) and ``record_many`` (batches),
then bulk-loads a valid chain of ``--events`` events with COPY and times ``manage.py verify_audit``.
The audit tables of the bench database are wiped first.
"""

import argparse
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry_portal.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from audit.models import AuditChainHead, AuditEvent  # noqa: E402
from audit.services import GENESIS_HASH, PendingEvent, Target, canonical_json, compute_hash, record, record_many  # noqa: E402

ACTIONS = ("registry.version_created", "registry.stage_changed", "review.approved", "card.revised", "auth.login")
ACTORS = ("system:sync", "system:worker", "alice", "bob")


def wipe():
    with connection.cursor() as cursor:
        cursor.execute("SET audit.allow_truncate = on")
        cursor.execute("TRUNCATE audit_auditevent, audit_auditchainhead")
        cursor.execute("RESET audit.allow_truncate")


def pending(n: int) -> PendingEvent:
    model = f"model-{n % 500}"
    version = n % 40 + 1
    return PendingEvent(
        "system:sync",
        ACTIONS[n % len(ACTIONS)],
        Target(type="model_version", id=f"{model}/{version}", model_name=model, version=version),
        {"stage": "Production", "run_id": f"{n:032x}", "accuracy": 0.9 + (n % 7) / 100},
    )


def rate(count: int, seconds: float) -> str:
    return f"{count:>9,} events in {seconds:7.2f} s = {count / seconds:>10,.0f} events/s"


def bench_appends(singles: int, batches: int, batch_size: int):
    start = time.perf_counter()
    for n in range(singles):
        with transaction.atomic():
            record(actor=pending(n).actor, action=pending(n).action, target=pending(n).target, data=pending(n).data)
    print(f"record(), one event per transaction: {rate(singles, time.perf_counter() - start)}")

    start = time.perf_counter()
    for b in range(batches):
        record_many([pending(b * batch_size + n) for n in range(batch_size)])
    elapsed = time.perf_counter() - start
    print(f"record_many(), batches of {batch_size}:      {rate(batches * batch_size, elapsed)}")


def bulk_chain(count: int) -> float:
    """A valid chain of ``count`` events, hashed by the same code as ``record_many`` and loaded with COPY."""
    start = time.perf_counter()
    wipe()
    AuditChainHead.objects.bulk_create([AuditChainHead(pk=1)])
    base = datetime(2026, 1, 1, tzinfo=UTC)
    prev_hash = GENESIS_HASH
    columns = "seq, created_at, actor, action, target_type, target_id, model_name, version, data, prev_hash, hash"
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
        for seq in range(1, count + 1):
            source = pending(seq)
            event = AuditEvent(
                seq=seq,
                created_at=base + timedelta(milliseconds=seq * 37),
                actor=ACTORS[seq % len(ACTORS)],
                action=source.action,
                target_type=source.target.type,
                target_id=source.target.id,
                model_name=source.target.model_name,
                version=source.target.version,
                data=source.data,
                prev_hash=prev_hash,
            )
            event.hash = prev_hash = compute_hash(prev_hash, event)
            copy.write_row(
                (
                    seq,
                    event.created_at,
                    event.actor,
                    event.action,
                    event.target_type,
                    event.target_id,
                    event.model_name,
                    event.version,
                    canonical_json(event.data),
                    event.prev_hash,
                    event.hash,
                )
            )
    AuditChainHead.objects.filter(pk=1).advance(seq=count, hash=prev_hash)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="chain length to verify")
    parser.add_argument("--singles", type=int, default=2_000, help="record() calls to time")
    parser.add_argument("--batches", type=int, default=100, help="record_many() batches to time")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        sys.exit(f"refusing to wipe the audit trail of {connection.vendor} database {name!r}: use portal_auditbench")
    call_command("migrate", verbosity=0)
    print(f"PostgreSQL {connection.cursor().connection.info.server_version}, database {name}, {os.cpu_count()} CPUs")

    wipe()
    bench_appends(args.singles, args.batches, args.batch_size)

    print(f"bulk-loaded a valid chain of {args.events:,} events in {bulk_chain(args.events):.1f} s")
    out = StringIO()
    start = time.perf_counter()
    call_command("verify_audit", stdout=out)
    elapsed = time.perf_counter() - start
    print(f"verify_audit:                        {rate(args.events, elapsed)}")
    print(f"  {out.getvalue().strip()}")


if __name__ == "__main__":
    main()
