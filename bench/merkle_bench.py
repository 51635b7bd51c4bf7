"""Signed tree heads and proofs over a large audit log (issue 17's targets). Not a test.

    .venv/bin/python bench/merkle_bench.py [--events 1000000] [--proofs 500] [--reuse]
        [--database-url postgres://postgres@127.0.0.1:5432/registry_portal_merklebench]

Setup (not timed): the database is dropped and migrated (``--reuse`` keeps one that already holds the events), then
``--events`` audit events are appended with ``record_many`` in batches of 10,000. Timed, each printed:

1. growing the stored tree over the whole log from nothing (``audit.tree.extend``): informational;
2. a signed tree head after 10,000 new events (``publish_tree_head``: grow the tree, root, sign): target ≤ 1 s;
3. ``--proofs`` inclusion proofs of random events against that head, each with its database reads: target ≤ 5 ms p95;
4. a consistency proof between the two heads.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=500)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/registry_portal_merklebench")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from portal_db import audit_portal

    audit_portal(args.database_url, reuse=args.reuse)
    from audit import merkle, tree
    from audit.models import AuditChainHead, MerkleNode, TreeHead
    from audit.services import PendingEvent, Target, record_many

    def append(count: int) -> None:
        for start in range(0, count, BATCH):
            record_many(
                [
                    PendingEvent(
                        "system:sync",
                        "registry.version_created",
                        Target(
                            type="model_version", id=f"m{n % 997}/{n}", model_name=f"m{n % 997}", version=n % 50 + 1
                        ),
                        {"n": n},
                    )
                    for n in range(start, min(start + BATCH, count))
                ]
            )

    have = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
    started = time.perf_counter()
    if have < args.events:
        append(args.events - have)
        print(f"setup: appended {args.events - have:,} events in {time.perf_counter() - started:.1f} s")
    MerkleNode.objects.all().delete()
    TreeHead.objects.all().delete()

    started = time.perf_counter()
    covered = tree.extend()
    build = time.perf_counter() - started
    first = tree.publish_tree_head().head
    rows = MerkleNode.objects.count()
    print(f"1. tree over {covered:,} events built from nothing in {build:.2f} s ({rows:,} stored nodes)")

    append(BATCH)
    started = time.perf_counter()
    head = tree.publish_tree_head().head
    sth = time.perf_counter() - started
    print(f"2. signed tree head over {BATCH:,} new events (size {head.size:,}): {sth * 1000:.0f} ms (target ≤ 1000 ms)")

    rng = random.Random(17)
    root = bytes.fromhex(head.root)
    times = []
    for seq in rng.sample(range(1, head.size + 1), args.proofs):
        started = time.perf_counter()
        proof = tree.inclusion_proof(seq, head.size)
        times.append((time.perf_counter() - started) * 1000)
        from audit.models import AuditEvent

        leaf = merkle.leaf_hash(bytes.fromhex(AuditEvent.objects.get(seq=seq).hash))
        merkle.verify_inclusion(leaf, seq - 1, head.size, proof, root)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"3. {args.proofs} inclusion proofs (verified): p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, "
        f"max {times[-1]:.2f} ms, {len(proof)} hashes each (target ≤ 5 ms)"
    )

    started = time.perf_counter()
    proof = tree.consistency_proof(first.size, head.size)
    consistency = (time.perf_counter() - started) * 1000
    merkle.verify_consistency(first.size, head.size, bytes.fromhex(first.root), root, proof)
    print(f"4. consistency proof {first.size:,} → {head.size:,}: {consistency:.2f} ms ({len(proof)} hashes, verified)")
    from django.db import connection

    print(f"   database: {connection.vendor}")
    return 0 if sth <= 1.0 and p95 <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
