"""Governance checks benchmark (prints numbers; not a test). Target: < 50 ms per version for 10 rules.

    .venv/bin/python bench/checks_bench.py [--versions 2000] [--models 20] [--sample 300]
        [--database-url postgres://postgres@127.0.0.1:5432/portal_checksbench]

The bench database is dropped, created and migrated (PostgreSQL), or a fresh SQLite file is used
(``--database-url sqlite:///bench/out/checks_bench.sqlite3``). The mirror is filled the way sync leaves
it — registered models, runs (metrics, params, tags, a dataset input each), versions in every stage,
Staging entries in ``StageChange``, model cards for half the versions — and the policy is the default
Production policy plus a fairness bound and an F1 threshold: 10 rules. Then, per version:

  (a) dry run: fetch the version, evaluate all 10 rules against the mirror (what ``check_governance``
      and "What would block this?" do);
  (b) content digest only (what staleness and after_sync compute);
  (c) a whole check run on a sample: ``check_run_create`` + the task body (claim, evaluate, write the
      results, audit ``checks.completed``), in-process without a broker;
  (d) the re-check scan of ``after_sync`` over every checked version with nothing changed (one digest
      each, nothing queued): what follows a sync that re-read runs or updated versions;
  (e) ``after_sync`` after a sync that re-read no runs and updated no versions (the steady state).

Results go to stdout and ``bench/out/checks_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
from portal_db import fresh_database  # noqa: E402

EXTRA_RULES = [
    {
        "id": "fairness",
        "type": "fairness_bound",
        "metric": "demographic_parity_difference",
        "max": 0.1,
        "group_metric": "selection_rate",
    },
    {"id": "f1", "type": "metric_threshold", "metric": "f1", "op": ">=", "value": 0.8},
]


@contextmanager
def counting_queries(counter: list[int]):
    from django.db import connection

    def count(execute, sql, params, many, context):
        counter[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield


def build_mirror(models: int, versions: int) -> None:
    """Mirror rows for ``versions`` versions over ``models`` models, in bulk."""
    from django.utils import timezone

    from cards.completeness import sections_completeness
    from cards.models import CardRevision, ModelCard
    from registry.models import Dataset, ModelOwner, ModelVersion, RegisteredModel, Run, RunInput, StageChange
    from tests.factories import complete_sections, person

    now = timezone.now()
    registered = RegisteredModel.objects.bulk_create(
        [RegisteredModel(name=f"model-{m:03d}", owner_tag="olga-owner") for m in range(models)]
    )
    # Owned in the portal (the tag grants nothing): one ModelOwner row per model.
    olga = person("olga-owner")
    ModelOwner.objects.bulk_create([ModelOwner(model=model, user=olga) for model in registered])
    dataset = Dataset.objects.create(name="churn-data", digest="a1b2c3d4")
    per_model = versions // models
    runs, rows, changes = [], [], []
    for m, model in enumerate(registered):
        for n in range(1, per_model + 1):
            stage = "Production" if n == 1 else ("Staging" if n % 4 == 0 else ("Archived" if n % 7 == 0 else "None"))
            accuracy = 0.85 + ((m * 31 + n * 17) % 13) / 100
            run = Run(
                run_id=uuid.uuid4().hex,
                status="FINISHED",
                metrics={
                    "accuracy": accuracy,
                    "f1": accuracy - 0.03,
                    "precision": 0.9,
                    "recall": 0.88,
                    "auc": 0.93,
                    "selection_rate_north": 0.41,
                    "selection_rate_south": 0.36 + (n % 3) / 50,
                    "selection_rate_east": 0.39,
                },
                params={f"param_{p}": str(p * n) for p in range(12)},
                tags={
                    "mlflow.source.git.commit": f"{n:040x}",
                    "mlflow.source.name": "train.py",
                    "mlflow.user": "olga",
                    "dataset_version": f"v{n}",
                },
                git_commit=f"{n:040x}",
            )
            runs.append(run)
            rows.append(ModelVersion(model=model, version=n, stage=stage, run_id=run.run_id, tags={"team": "churn"}))
            if stage == "Staging":
                changes.append(
                    StageChange(
                        model_name=model.name,
                        version=n,
                        kind="stage",
                        from_value="None",
                        to_value="Staging",
                        mlflow_timestamp=now,
                    )
                )
    Run.objects.bulk_create(runs, batch_size=1000)
    RunInput.objects.bulk_create(
        [RunInput(run=run, dataset=dataset, context="training") for run in Run.objects.all()], batch_size=1000
    )
    ModelVersion.objects.bulk_create(rows, batch_size=1000)
    StageChange.objects.bulk_create(changes, batch_size=1000)
    sections = complete_sections()
    completeness = sections_completeness(sections)
    cards = ModelCard.objects.bulk_create(
        [
            ModelCard(model_name=v.model.name, version=v.version, run_id=v.run_id, model_version=v)
            for v in ModelVersion.objects.select_related("model").filter(version__in=range(1, per_model + 1, 2))
        ],
        batch_size=1000,
    )
    CardRevision.objects.bulk_create(
        [
            CardRevision(
                card=card,
                number=1,
                author="olga-owner",
                summary="bench",
                sections=sections,
                complete=completeness.complete,
                percent=completeness.percent,
            )
            for card in cards
        ],
        batch_size=1000,
    )


def summary(label: str, seconds: list[float], queries: int, count: int) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    row = {
        "label": label,
        "versions": count,
        "mean_ms": statistics.fmean(ms),
        "p50_ms": ms[len(ms) // 2],
        "p95_ms": ms[int(len(ms) * 0.95) - 1],
        "max_ms": ms[-1],
        "queries_per_version": queries / count,
    }
    print(
        f"  {label}: mean {row['mean_ms']:.2f} ms, p50 {row['p50_ms']:.2f}, p95 {row['p95_ms']:.2f}, "
        f"max {row['max_ms']:.2f} ms; {row['queries_per_version']:.1f} queries/version ({count} versions)",
        flush=True,
    )
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--sample", type=int, default=300, help="versions given a whole check run in (c)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_checksbench")
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "registry_portal.settings"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # DEBUG is off: a key it accepts
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["CELERY_BROKER_URL"] = ""  # (c) runs the task body in-process
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    fresh_database(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import transaction

    from approvals import services, tasks
    from approvals.checks import evaluate
    from approvals.digest import version_content_digest
    from approvals.models import CheckRun, Policy
    from approvals.policies import stage_policy
    from registry.models import ModelVersion, SyncRun

    started = time.perf_counter()
    build_mirror(args.models, args.versions)
    default = Policy.objects.get(model_name="")
    default.rules = {**default.rules, "Production": default.rules["Production"] + EXTRA_RULES}
    default.save()
    rule_count = len(stage_policy("model-000", "Production").rules)
    keys = list(ModelVersion.objects.order_by("model__name", "version").values_list("model__name", "version"))
    print(
        f"mirror: {len(keys)} versions over {args.models} models, built in {time.perf_counter() - started:.1f} s; "
        f"{rule_count} Production rules; DATABASE_URL={args.database_url}",
        flush=True,
    )

    def fetch(name, number):
        return ModelVersion.objects.select_related("model", "run").get(model__name=name, version=number)

    rows, verdicts = {}, {"passed": 0, "failed": 0}
    timings, queries = [], [0]
    with counting_queries(queries):
        for name, number in keys:
            t0 = time.perf_counter()
            evaluation = evaluate(fetch(name, number), "Production")
            timings.append(time.perf_counter() - t0)
            verdicts["passed" if evaluation.passed else "failed"] += 1
    rows["a"] = summary("(a) fetch + evaluate 10 rules", timings, queries[0], len(keys))
    rows["a"]["verdicts"] = verdicts

    versions = list(ModelVersion.objects.select_related("model", "run").order_by("model__name", "version"))
    timings, queries = [], [0]
    with counting_queries(queries):
        for version in versions:
            t0 = time.perf_counter()
            version_content_digest(version)
            timings.append(time.perf_counter() - t0)
    rows["b"] = summary("(b) content digest", timings, queries[0], len(versions))

    step = max(1, len(versions) // args.sample)
    sample = versions[::step][: args.sample]
    timings, queries = [], [0]
    with counting_queries(queries):
        for version in sample:
            t0 = time.perf_counter()
            with transaction.atomic():
                services.check_run_create(version=version, stage="Production", actor="system:worker")
            timings.append(time.perf_counter() - t0)
    if CheckRun.objects.filter(status__in=(CheckRun.QUEUED, CheckRun.RUNNING)).exists():
        raise RuntimeError("check runs did not finish in-process")
    rows["c"] = summary("(c) whole check run (create + task: evaluate, store, audit)", timings, queries[0], len(sample))

    queries = [0]
    with counting_queries(queries):
        t0 = time.perf_counter()
        queued = services.check_runs_rerun_stale()
        seconds = time.perf_counter() - t0
    if queued:
        raise RuntimeError(f"after_sync re-queued {len(queued)} unchanged versions")
    rows["d"] = {
        "label": "(d) after_sync re-check scan, nothing changed",
        "checked_versions": len(sample),
        "seconds": seconds,
        "queries": queries[0],
    }
    print(
        f"  (d) after_sync over {len(sample)} checked versions, nothing changed: {seconds * 1000:.0f} ms, "
        f"{queries[0]} queries",
        flush=True,
    )
    quiet = SyncRun.objects.create(status=SyncRun.SUCCEEDED, counts={"mlflow_calls": 2})
    queries = [0]
    with counting_queries(queries):
        t0 = time.perf_counter()
        tasks.after_sync(quiet.pk)
        seconds = time.perf_counter() - t0
    rows["e"] = {
        "label": "(e) after_sync task, sync read no runs and updated no versions",
        "seconds": seconds,
        "queries": queries[0],
    }
    print(f"  (e) after_sync task after a sync that read no content: {seconds * 1000:.1f} ms, {queries[0]} queries")

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "checks_bench.json").write_text(
        json.dumps({"database_url": args.database_url, "rules": rule_count, "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
