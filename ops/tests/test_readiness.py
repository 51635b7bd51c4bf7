"""/healthz and /readyz in the test process: each check's verdict, its time limit, what the body shows."""

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from ops import readiness
from ops.models import Heartbeat
from ops.tasks import heartbeat
from registry.models import SyncRun
from registry_portal.celery import app
from tests.factories import make_sync
from tests.proxy import TcpProxy

pytestmark = pytest.mark.usefixtures("shared_memory_db_waits")


@pytest.fixture
def with_broker(monkeypatch, broker_url):
    """Tasks go through a broker (as in production): the broker and heartbeat checks apply."""
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "broker_url", broker_url)


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_is_200_when_every_check_passes(client, mlflow_store, transactional_db):
    make_sync(finished_at=timezone.now())
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "mlflow", "sync", "heartbeat"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["mlflow"]["status"] == "ok"
    # In-process (no broker): nothing to ping, no worker to hear from.
    assert body["checks"]["broker"] == {**body["checks"]["broker"], "status": "skipped"}
    assert "in-process" in body["checks"]["broker"]["detail"]
    assert body["checks"]["heartbeat"]["status"] == "skipped"


def test_readyz_is_503_naming_a_stale_sync(client, mlflow_store, transactional_db, settings):
    settings.READY_MAX_SYNC_AGE_SECONDS = 120
    make_sync(finished_at=timezone.now() - dt.timedelta(seconds=121))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["sync"]
    assert "over the 120 s limit" in body["checks"]["sync"]["detail"]


def test_the_sync_check_flips_with_time(transactional_db, settings):
    settings.READY_MAX_SYNC_AGE_SECONDS = 60
    with pytest.raises(readiness.NotReady, match="no whole-registry sync"):
        readiness.check_sync()
    now = timezone.now()
    make_sync(finished_at=now - dt.timedelta(seconds=59))
    assert readiness.check_sync().startswith("last successful sync")
    SyncRun.objects.update(finished_at=now - dt.timedelta(seconds=61))
    with pytest.raises(readiness.NotReady, match="over the 60 s limit"):
        readiness.check_sync()
    # A failed sync or a one-model sync does not count; a newer partial one does (one broken model).
    make_sync(SyncRun.FAILED, finished_at=now)
    make_sync(finished_at=now, model_name="Churn")
    with pytest.raises(readiness.NotReady):
        readiness.check_sync()
    make_sync(SyncRun.PARTIAL, finished_at=now, failures={"Broken": "boom"})
    assert readiness.check_sync()


def test_the_heartbeat_check_flips_with_time(transactional_db, settings, with_broker):
    settings.HEARTBEAT_MAX_AGE_SECONDS = 90
    with pytest.raises(readiness.NotReady, match="no worker heartbeat"):
        readiness.check_heartbeat()
    heartbeat.apply()
    assert readiness.check_heartbeat().startswith("last worker heartbeat 0 s ago")
    Heartbeat.objects.update(beat_at=timezone.now() - dt.timedelta(seconds=91))
    with pytest.raises(readiness.NotReady, match="over the 90 s limit"):
        readiness.check_heartbeat()
    heartbeat.apply()
    assert Heartbeat.objects.count() == 1
    assert readiness.check_heartbeat()


def test_the_heartbeat_is_not_applicable_in_process(transactional_db):
    assert app.conf.task_always_eager
    with pytest.raises(readiness.Skipped, match="not applicable"):
        readiness.check_heartbeat()


def test_the_heartbeat_is_beat_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]
    assert entry["task"] == heartbeat.name == "ops.tasks.heartbeat"
    assert entry["schedule"] == settings.HEARTBEAT_INTERVAL_SECONDS
    assert entry["schedule"] < settings.HEARTBEAT_MAX_AGE_SECONDS


def test_the_broker_check_pings_redis(transactional_db, with_broker):
    assert readiness.check_broker().startswith("redis broker answered")


def test_the_broker_check_fails_quickly_when_redis_is_gone(transactional_db, monkeypatch, settings):
    settings.READY_CHECK_TIMEOUT_SECONDS = 2
    proxy = TcpProxy("127.0.0.1", 6379).start()
    proxy.stop()
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "broker_url", f"redis://:s3cret@{proxy.address}/14")
    started = time.monotonic()
    result = readiness.run_checks({"broker": readiness.check_broker})["broker"]
    assert result.status == readiness.FAIL
    assert time.monotonic() - started < 3
    assert "s3cret" not in result.detail


def test_the_mlflow_check_fails_when_mlflow_is_unreachable(settings):
    proxy = TcpProxy("127.0.0.1", 9).start()
    proxy.stop()
    settings.MLFLOW_TRACKING_URI = f"http://{proxy.address}"
    result = readiness.run_one("mlflow", readiness.check_mlflow)
    assert result.status == readiness.FAIL
    assert result.detail == "MlflowUnavailable"


def test_a_hung_check_answers_503_within_its_time_limit(client, settings, mlflow_store, transactional_db):
    """A dependency that accepts the connection and never answers (a blackhole) must not hang the probe."""
    settings.READY_CHECK_TIMEOUT_SECONDS = 1
    make_sync(finished_at=timezone.now())
    proxy = TcpProxy("127.0.0.1", 9).start()
    proxy.blackhole()
    settings.MLFLOW_TRACKING_URI = f"http://{proxy.address}"
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert response.status_code == 503
    assert response.json()["failing"] == ["mlflow"]
    # The check's deadline and the client's own socket timeout are the same second: whichever fires first names it.
    assert response.json()["checks"]["mlflow"]["detail"] in ("no answer within 1 s", "MlflowUnavailable")
    assert elapsed < 2.5


def test_a_failing_check_shows_its_error_class_not_its_message(settings):
    def leaky():
        raise ConnectionError("could not reach postgres://portal:hunter2@db/portal")

    result = readiness.run_checks({"database": leaky})["database"]
    assert result.status == readiness.FAIL
    assert result.detail == "ConnectionError"
    assert "hunter2" not in json.dumps(result.as_json())


def test_probes_need_no_login_and_take_no_post(client, db):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


def test_probes_are_not_redirected_to_https(client, transactional_db, settings, mlflow_store):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/metrics").status_code == 404
    assert client.get("/admin/").status_code == 301
