"""manage.py seed_demo as ``make demo`` runs it: what a newcomer reads, and what MLflow holds afterwards."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from registry.mlflow_client import RegistryClient

ROOT = Path(__file__).resolve().parents[2]
PORTAL_LINES = (
    r"trained [\w-]+ \((\w+Classifier|LogisticRegression)\)",
    r"registered \w+ v\d in stage \w+",
    r"Demo logins \(owner, reviewer1, reviewer2, lead, admin\) password: \S+",
    r"This password is printed once; `manage.py seed_demo --reset-passwords` sets a new one\.",
)


def manage(*args: str, var_dir: Path) -> subprocess.CompletedProcess:
    """``manage.py`` with the embedded defaults (SQLite files under ``var_dir``), as ``make demo`` runs it."""
    left_out = ("DATABASE_URL", "MLFLOW_TRACKING_URI", "MLFLOW_ARTIFACT_ROOT", "CELERY_BROKER_URL", "PYTHONWARNINGS")
    env = {k: v for k, v in os.environ.items() if k not in left_out}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "DEBUG": "true", "PORTAL_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.django_db
def test_it_prints_only_its_own_lines_registers_the_demo_versions_and_runs_again_idempotently(tmp_path, settings):
    migrated = manage("migrate", "--noinput", "--verbosity", "0", var_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    seeded = manage("seed_demo", var_dir=tmp_path)

    assert seeded.returncode == 0, seeded.stderr
    output = (seeded.stdout + seeded.stderr).splitlines()
    assert [line for line in output if "warning" in line.lower()] == []
    assert seeded.stderr == ""
    assert [line for line in output if not any(re.fullmatch(p, line) for p in PORTAL_LINES)] == []
    # What make demo runs next: the sync queues in-process tasks, which Celery and kombu must not narrate.
    synced = manage("sync_registry", var_dir=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert synced.stderr == ""
    assert re.fullmatch(r"sync #1 succeeded \(reconcile\): .*versions_created=5\n", synced.stdout)

    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = RegistryClient(uri)
    versions = client.search_versions()
    assert {(v.name, v.version): v.stage for v in versions} == {
        ("ChurnPredictor", 1): "Archived",
        ("ChurnPredictor", 2): "Production",
        ("ChurnPredictor", 3): "None",
        ("FraudDetector", 1): "None",
        ("FraudDetector", 2): "Staging",
    }
    assert client.get_aliases("ChurnPredictor") == {"champion": 2}
    assert client.get_aliases("FraudDetector") == {"challenger": 2}
    runs = client.search_runs([v.run_id for v in versions], list(client.experiments()))
    assert {(r.run_name, d.source_type, json.loads(d.source)["uri"], d.context) for r in runs for d in r.datasets} == {
        ("churn-v1-tree", "local", "/datasets/churn-2026-09.parquet", "training"),
        ("churn-v2-forest", "local", "/datasets/churn-2026-10.parquet", "training"),
        ("churn-v3-gbm", "local", "/datasets/churn-2026-11.parquet", "training"),
        ("fraud-v1-logreg", "local", "/datasets/fraud-2026-10.parquet", "training"),
        ("fraud-v2-forest", "local", "/datasets/fraud-2026-11.parquet", "training"),
    }

    settings.MLFLOW_TRACKING_URI = uri
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert again.getvalue().splitlines()[:5] == [
        "ChurnPredictor v1 already registered (churn-v1-tree)",
        "ChurnPredictor v2 already registered (churn-v2-forest)",
        "ChurnPredictor v3 already registered (churn-v3-gbm)",
        "FraudDetector v1 already registered (fraud-v1-logreg)",
        "FraudDetector v2 already registered (fraud-v2-forest)",
    ]
    assert len(RegistryClient(uri).search_versions()) == 5
