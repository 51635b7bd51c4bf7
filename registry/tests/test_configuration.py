"""Start-up configuration: bad values stop start-up naming the variable; the deployment files parse."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    environment.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "registry_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysqlx://nope"),
        ("SYNC_INTERVAL_SECONDS", "soon"),
        ("SYNC_INTERVAL_SECONDS", "0"),
        ("APPLY_LEASE_SECONDS", "60"),  # under 3 × the 30 s MLflow HTTP timeout
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "never"),
        ("MLFLOW_TRACKING_URI", "ftp://example"),
        ("DEBUG", "maybe"),
        ("CELERY_BROKER_URL", "localhost:6379"),
        ("CONN_MAX_AGE", "forever"),
        ("CONN_MAX_AGE", "-1"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(variable, value):
    result = start_django(**{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_log_level_names_the_levels_it_accepts_in_any_case():
    refused = start_django(LOG_LEVEL="verbose")
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'verbose'" in refused.stderr
    accepted = start_django(LOG_LEVEL=" warning ", CONN_MAX_AGE="600")
    assert accepted.returncode == 0, accepted.stderr


def test_defaults_are_the_embedded_setup(tmp_path):
    result = start_django(PORTAL_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_postgres_url_is_accepted():
    result = start_django(DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_empty_broker_runs_tasks_eagerly_and_beat_expires_under_the_period(settings):
    from registry_portal.celery import app

    app.loader.import_default_modules()  # what a worker does at start-up: autodiscover tasks

    fast = settings.CELERY_BEAT_SCHEDULE["sync-registry-fast"]
    reconcile = settings.CELERY_BEAT_SCHEDULE["sync-registry-reconcile"]
    for entry in (fast, reconcile):
        assert entry["task"] == "registry.tasks.sync_registry"
        assert entry["task"] in app.tasks
        assert entry["options"]["expires"] < entry["schedule"]
    assert (fast["schedule"], fast["kwargs"]["mode"]) == (settings.SYNC_INTERVAL_SECONDS, "fast")
    assert (reconcile["schedule"], reconcile["kwargs"]["mode"]) == (settings.RECONCILE_INTERVAL_SECONDS, "reconcile")
    if not os.environ.get("CELERY_BROKER_URL"):
        assert settings.CELERY_TASK_ALWAYS_EAGER


def test_docker_compose_is_valid_yaml_with_the_whole_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"postgres", "redis", "mlflow", "web", "worker", "beat"}
    assert "postgresql" in " ".join(compose["services"]["mlflow"]["command"])
    assert compose["services"]["web"]["build"] == "."
    assert (ROOT / "Dockerfile").read_text().startswith("FROM python:3.11")
