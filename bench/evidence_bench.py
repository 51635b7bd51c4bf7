"""The evidence pack of a typical version in a large audit log (issue 17's targets). Not a test.

    .venv/bin/python bench/evidence_bench.py [--events 1000000] [--reuse]
        [--database-url postgres://postgres@127.0.0.1:5432/registry_portal_evidencebench]

Setup (not timed): the database is dropped and migrated (``--reuse`` keeps one that already holds the events), then
``--events`` audit events are appended with ``record_many`` in batches of 10,000; one event in each batch is about
the benchmark's version (``bench`` v1), so at 1,000,000 it has 100 events spread over the whole log. The version
is typical: a run with 30 params and 30 metrics, two datasets, a card with every section written, three requests
with two reviews and a comment each, their check runs with eight rules, two findings and a waiver. The stored tree
is grown and a head signed (``publish_tree_head``). Timed, each printed:

1. ``build_pack`` when the latest head covers the version's events (p50 of 5): target ≤ 2 s;
2. ``build_pack`` right after a new event about the version (a head is published for the pack);
3. the pack's size as ``pack.json`` (target ≤ 1 MB) and as ``evidence.zip``;
4. one inclusion proof of a random event, with its reads (p50, p95 of 300): target ≤ 5 ms; and the version's
   100 proofs in one go (``tree.inclusion_proofs``, two queries).

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


def _setup_django(args) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from portal_db import audit_portal

    audit_portal(args.database_url, reuse=args.reuse)
    from django.core.management import call_command

    # DEBUG is off: the page's stylesheet comes from the collected, hashed static files, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)


def _append(have: int, count: int) -> None:
    from audit.services import PendingEvent, Target, record_many

    rng = random.Random(have)
    for start in range(have, have + count, BATCH):
        end = min(start + BATCH, have + count)
        ours = rng.randrange(start, end)
        record_many(
            [
                PendingEvent(
                    "system:sync",
                    "registry.version_updated",
                    Target(type="model_version", id="bench/1", model_name="bench", version=1),
                    {"n": n, "changed": ["tags"]},
                )
                if n == ours
                else PendingEvent(
                    "system:sync",
                    "registry.version_created",
                    Target(type="model_version", id=f"m{n % 997}/{n}", model_name=f"m{n % 997}", version=n % 50 + 1),
                    {"n": n},
                )
                for n in range(start, end)
            ]
        )


def _typical_version():
    """``bench`` v1 with what a version under governance holds (rows made straight, as a sync and the services
    would leave them)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from approvals.models import CheckResult, CheckRun, RequestComment, Review, TransitionRequest, Waiver
    from cards.models import CardRevision, ModelCard
    from cards.sections import SECTIONS
    from findings.models import Finding
    from registry.models import Dataset, ModelVersion, RegisteredModel, Run, RunInput

    existing = ModelVersion.objects.filter(model__name="bench", version=1).first()
    if existing is not None:
        return existing
    users = [get_user_model().objects.create(username=name) for name in ("owner", "rev-a", "rev-b")]
    run = Run.objects.create(
        run_id="r" * 32,
        experiment_name="bench",
        status="FINISHED",
        params={f"param_{i}": str(i) for i in range(30)},
        metrics={f"metric_{i}": i / 31 for i in range(30)},
        tags={"mlflow.source.git.commit": "abc123" * 6},
        git_commit="abc123" * 6,
    )
    for i, context in enumerate(("training", "evaluation")):
        dataset = Dataset.objects.create(name=f"data-{i}", digest=f"d{i}" * 8, source=f"s3://bucket/data-{i}")
        RunInput.objects.create(run=run, dataset=dataset, context=context)
    model = RegisteredModel.objects.create(name="bench")
    version = ModelVersion.objects.create(model=model, version=1, stage="Staging", run=run, tags={"approval.x": "1"})
    card = ModelCard.objects.create(model_name="bench", version=1, run_id=run.run_id, model_version=version)
    for number in (1, 2, 3):
        CardRevision.objects.create(
            card=card,
            number=number,
            author="owner",
            summary=f"revision {number}",
            sections={s.key: f"{s.title}: " + "prose " * 60 for s in SECTIONS},
        )
    now = timezone.now()
    for n, (stage, status) in enumerate((("Staging", "rejected"), ("Staging", "applied"), ("Production", "pending"))):
        request = TransitionRequest.objects.create(
            version=version,
            model_name="bench",
            version_number=1,
            from_stage="None" if stage == "Staging" else "Staging",
            to_stage=stage,
            justification="why " * 40,
            requested_by=users[0],
            required_approvals=2,
            status=status,
        )
        for reviewer in users[1:]:
            Review.objects.create(request=request, reviewer=reviewer, decision="approve", content_digest="x" * 64)
        RequestComment.objects.create(request=request, author=users[1], body="a comment " * 20)
        check_run = CheckRun.objects.create(
            version=version, model_name="bench", version_number=1, request=request, stage=stage, content_digest="x" * 64
        )
        CheckResult.objects.bulk_create(
            CheckResult(
                check_run=check_run,
                position=i,
                rule_id=f"rule-{i}",
                rule_type="metric_threshold",
                status="passed",
                message="metric_0 0.5 >= 0.4",
                evidence={"value": 0.5, "threshold": 0.4, "baseline": n},
            )
            for i in range(8)
        )
    for severity in ("high", "low"):
        Finding.objects.create(
            version=version, model_name="bench", version_number=1, title="a finding", severity=severity, owner=users[0]
        )
    Waiver.objects.create(
        version=version,
        model_name="bench",
        version_number=1,
        stage="Production",
        rule_id="rule-1",
        justification="soon",
        requested_by=users[0],
        required_approvals=2,
        expires_at=now + timezone.timedelta(days=30),
    )
    return version


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/registry_portal_evidencebench")
    args = parser.parse_args()
    _setup_django(args)
    import django

    from audit import tree
    from audit.models import AuditChainHead, AuditEvent
    from evidence import documents
    from evidence.pack import build_pack
    from registry.selectors import version_get_for_user

    have = AuditChainHead.objects.values_list("seq", flat=True).first() or 0
    started = time.perf_counter()
    if have < args.events:
        _append(have, args.events - have)
        print(f"setup: appended {args.events - have:,} events in {time.perf_counter() - started:.1f} s")
    _typical_version()
    started = time.perf_counter()
    tree.publish_tree_head()
    print(f"setup: tree grown and head signed in {time.perf_counter() - started:.1f} s")

    class Reader:  # who reads the version: any signed-in user (registry's visible_to)
        is_authenticated = True

    def version():
        return version_get_for_user(Reader(), "bench", 1)

    times = []
    for _ in range(5):
        started = time.perf_counter()
        pack = build_pack(version())
        times.append(time.perf_counter() - started)
    covered = statistics.median(times)
    events = pack["audit"]["event_count"]
    print(f"1. pack of {events} events in a log of {pack['audit']['tree_head']['size']:,}: p50 {covered * 1000:.0f} ms")

    _append(AuditChainHead.objects.values_list("seq", flat=True).first(), 1)  # one event of the version
    started = time.perf_counter()
    pack = build_pack(version())
    fresh = time.perf_counter() - started
    assert pack["audit"]["tree_head"]["published_for_this_pack"]
    print(f"2. pack right after a new event (a head published for it): {fresh * 1000:.0f} ms")

    size = len(documents.pack_json(pack).encode())
    zipped = len(documents.render_zip(pack))
    print(f"3. pack.json {size:,} bytes ({size / 1e6:.2f} MB; target ≤ 1 MB), evidence.zip {zipped:,} bytes")

    head_size = pack["audit"]["tree_head"]["size"]
    rng = random.Random(17)
    proof_times = []
    for seq in rng.sample(range(1, head_size + 1), 300):
        started = time.perf_counter()
        tree.inclusion_proof(seq, head_size)
        proof_times.append((time.perf_counter() - started) * 1000)
    proof_times.sort()
    p95 = proof_times[int(len(proof_times) * 0.95) - 1]
    seqs = list(AuditEvent.objects.filter(model_name="bench", version=1).values_list("seq", flat=True))
    started = time.perf_counter()
    tree.inclusion_proofs(seqs, head_size)
    batch = (time.perf_counter() - started) * 1000
    print(
        f"4. one inclusion proof: p50 {statistics.median(proof_times):.2f} ms, p95 {p95:.2f} ms (target ≤ 5 ms); "
        f"the version's {len(seqs)} proofs together: {batch:.1f} ms"
    )
    print(f"   database: {django.db.connection.vendor}")
    return 0 if covered <= 2.0 and fresh <= 2.0 and size <= 1_000_000 and p95 <= 5.0 else 1


if __name__ == "__main__":
    sys.exit(main())
