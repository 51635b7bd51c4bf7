"""Request ids: on every response, and on the log records of the tasks a request queues (in-process or through
a real worker), as text or JSON."""

import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
from django_guid.log_filters import CorrelationId

from registry.models import SyncRun
from tests.proxy import TcpProxy


class Records(logging.Handler):
    """What the portal's console handler sees: records with the ``request_id`` filter of settings.LOGGING."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.addFilter(CorrelationId(correlation_id_field="request_id"))
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def of(self, logger: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.name == logger or r.name.startswith(f"{logger}.")]


@pytest.fixture
def records():
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
def mlflow_gone(settings):
    """MLflow unreachable, so the sync task logs ``sync failed`` (a record made inside the task)."""
    proxy = TcpProxy("127.0.0.1", 9).start()
    proxy.stop()
    settings.MLFLOW_TRACKING_URI = f"http://{proxy.address}"
    return settings.MLFLOW_TRACKING_URI


def test_every_response_carries_a_request_id(client, db):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32
    assert client.get("/healthz")["X-Request-ID"] != response["X-Request-ID"]


def test_an_incoming_request_id_is_kept_only_when_it_is_a_uuid(client, db):
    given = str(uuid.uuid4())
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    for bad in ("not-a-uuid", "x" * 500, "1; DROP TABLE audit", "<script>"):
        answered = client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert answered != bad
        assert uuid.UUID(answered)


def test_an_in_process_task_logs_with_the_id_of_the_request_that_queued_it(
    client, admin_user, records, mlflow_gone, transactional_db
):
    client.force_login(admin_user)
    given = str(uuid.uuid4())
    response = client.post("/sync/", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 302
    assert SyncRun.objects.get().status == SyncRun.FAILED
    in_task = records.of("registry.sync")
    assert in_task, [r.name for r in records.records]
    assert {r.request_id for r in in_task} == {given}
    # After the task, the request still has its id (django-guid's task_postrun had cleared it).
    assert response["X-Request-ID"] == given


@pytest.fixture
def worker_env(mlflow_gone):
    return {"MLFLOW_TRACKING_URI": mlflow_gone, "LOG_FORMAT": "json"}


@pytest.mark.usefixtures("shared_memory_db_waits")
def test_a_queued_task_logs_with_the_id_of_the_request_that_queued_it(live_worker, records, client, django_user_model):
    # ``records`` after ``live_worker``: a starting worker configures logging afresh (settings.LOGGING).
    admin = django_user_model.objects.create_superuser("ada-admin", email="ada@example.com")
    client.force_login(admin)
    given = str(uuid.uuid4())
    response = client.post("/sync/", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 302 and response["X-Request-ID"] == given
    live_worker.wait(lambda: "registry.tasks.sync_registry" in live_worker.handled(), timeout=60)
    assert SyncRun.objects.get().status == SyncRun.FAILED
    if live_worker.log is None:  # a worker thread of this process (SQLite in memory)
        in_task = [(r.name, r.request_id) for r in records.of("registry.sync")]
    else:  # a worker process: its JSON log lines
        lines = [json.loads(line) for line in live_worker.log.read_text().splitlines() if line.startswith("{")]
        in_task = [(line["logger"], line["request_id"]) for line in lines if line["logger"].startswith("registry.sync")]
        # django-guid's tracing ids: the task's own id, another per task.
        assert all(line.get("celery_current_id") for line in lines if line["logger"].startswith("registry.sync"))
    assert in_task and {request_id for _, request_id in in_task} == {given}


def _env(**variables) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("LOG_FORMAT", "DEBUG")}
    return {**env, "DJANGO_SETTINGS_MODULE": "registry_portal.settings", **variables}


def test_json_logs_carry_the_request_id():
    """JSON is the default with DEBUG off (production); text with DEBUG on (the demo)."""
    code = (
        "import django, logging; django.setup(); from django_guid import set_guid; "
        "set_guid('0123456789abcdef0123456789abcdef'); logging.getLogger('portal.test').warning('hello %s', 'there')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there"
    assert line["level"] == "WARNING" and line["logger"] == "portal.test"
    assert line["request_id"] == "0123456789abcdef0123456789abcdef"
    assert "time" in line


def test_text_logs_carry_the_request_id():
    code = (
        "import django, logging; django.setup(); from django_guid import set_guid; "
        "set_guid('feedface'); logging.getLogger('portal.test').warning('hello')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(DEBUG="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stderr.strip().splitlines()[-1] == "WARNING portal.test [feedface] hello"
