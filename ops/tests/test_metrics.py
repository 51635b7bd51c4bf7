"""/metrics: who may read it, and that what it shows moves with what happens."""

import ipaddress
import os
import re
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from approvals.models import TransitionRequest
from notifications.models import Delivery, Subscription
from ops.tasks import heartbeat
from registry_portal.celery import app, queue_task
from tests.factories import make_sync

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in the exposition text (labels in any order), or None."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == {k: str(v) for k, v in labels.items()}:
            return float(match[3])
    return None


def test_metrics_do_not_exist_without_a_token_or_networks(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_the_token_opens_metrics(client, db, token):
    assert "portal_sync_lag_seconds" in scrape(client, **token)
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403


def test_an_allowed_network_opens_metrics(client, db, settings):

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert scrape(client, REMOTE_ADDR="10.20.30.40")
    assert scrape(client, REMOTE_ADDR="::1")
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-cidr", "METRICS_ALLOWED_NETWORKS must be comma-separated CIDRs"),
        ("LOG_FORMAT", "yaml", "LOG_FORMAT must be text or json"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/prometheus", "PROMETHEUS_MULTIPROC_DIR must be an existing"),
        ("READY_CHECK_TIMEOUT_SECONDS", "soon", "READY_CHECK_TIMEOUT_SECONDS must be an integer"),
    ],
)
def test_bad_settings_stop_start_up(variable, value, message):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'registry_portal.settings'); django.setup()",
        ],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_gauges_are_read_from_the_database_at_scrape_time(client, db, token, owner):
    def request(number, status):
        return TransitionRequest.objects.create(
            model_name="Churn",
            version_number=number,
            from_stage="Staging",
            to_stage="Production",
            justification="j",
            requested_by=owner,
            required_approvals=2,
            status=status,
        )

    before = scrape(client, **token)
    assert sample(before, "portal_transition_requests_open", state="pending") == 0
    assert sample(before, "portal_apply_failures") == 0
    assert sample(before, "portal_sync_lag_seconds") != sample(before, "portal_sync_lag_seconds")  # NaN: never

    for number, status in enumerate(("pending", "pending", "approved", "failed", "applied", "rejected"), start=1):
        request(number, status)
    subscription = Subscription.objects.create(channel=Subscription.EMAIL, user=owner)
    for event_id, status in enumerate(("pending", "failed", "dead", "dead", "delivered"), start=1):
        Delivery.objects.create(
            subscription=subscription, event_id=event_id, status=status, next_attempt_at=timezone.now()
        )
    make_sync(finished_at=timezone.now() - timezone.timedelta(seconds=42))

    text = scrape(client, **token)
    assert sample(text, "portal_transition_requests_open", state="pending") == 2
    assert sample(text, "portal_transition_requests_open", state="approved") == 1
    assert sample(text, "portal_transition_requests_open", state="applying") == 0
    assert sample(text, "portal_transition_requests_open", state="failed") == 1
    assert sample(text, "portal_transition_requests_open", state="applied") is None
    assert sample(text, "portal_apply_failures") == 1
    assert sample(text, "portal_notification_deliveries_backlog", status="pending") == 1
    assert sample(text, "portal_notification_deliveries_backlog", status="failed") == 1
    assert sample(text, "portal_notification_deliveries_backlog", status="dead") == 2
    assert 42 <= sample(text, "portal_sync_lag_seconds") < 60


def test_the_gauges_cost_a_few_queries(client, db, token, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        scrape(client, **token)


def test_request_latency_is_counted_by_view_and_status(client, db, token):
    labels = {"view": "ops:healthz", "method": "GET", "status": "200"}
    before = sample(scrape(client, **token), "portal_http_request_duration_seconds_count", **labels) or 0
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/")
    text = scrape(client, **token)
    assert sample(text, "portal_http_request_duration_seconds_count", **labels) == before + 2
    assert sample(text, "portal_http_request_duration_seconds_bucket", le="+Inf", **labels) == before + 2
    assert sample(text, "portal_http_request_duration_seconds_count", view="<unresolved>", method="GET", status="404")


@app.task(name="ops.tests.always_fails")
def always_fails():
    raise RuntimeError("boom")


@app.task(name="ops.tests.retries_once", bind=True, max_retries=1, default_retry_delay=0)
def retries_once(self):
    if self.request.retries == 0:
        raise self.retry(countdown=0)


def test_task_outcomes_are_counted_by_name_and_state(client, db, token):
    def count(task, state):
        return sample(scrape(client, **token), "portal_celery_tasks_total", task=task, state=state) or 0

    success, failure, retry = (
        count("ops.tasks.heartbeat", "success"),
        count("ops.tests.always_fails", "failure"),
        count("ops.tests.retries_once", "retry"),
    )
    heartbeat.apply()
    queue_task("ops.tasks.heartbeat")
    always_fails.apply(throw=False)
    retries_once.apply(throw=False)
    assert count("ops.tasks.heartbeat", "success") == success + 2
    assert count("ops.tests.always_fails", "failure") == failure + 1
    assert count("ops.tests.retries_once", "retry") == retry + 1
    assert count("ops.tests.retries_once", "success") >= 1


@pytest.mark.postgres
@pytest.mark.usefixtures("shared_memory_db_waits")
def test_a_worker_process_counts_reach_the_scrape_through_the_multiprocess_dir(
    tmp_path, settings, client, token, request, worker_env
):
    """The Celery worker is another process: with PROMETHEUS_MULTIPROC_DIR shared, a web scrape adds up its
    counters too (docs/operations.md)."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    worker_env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    worker = request.getfixturevalue("live_worker")
    settings.PROMETHEUS_MULTIPROC_DIR = str(directory)
    queue_task("ops.tasks.heartbeat")
    queue_task("ops.tasks.heartbeat")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = sample(
            scrape(client, **token), "portal_celery_tasks_total", task="ops.tasks.heartbeat", state="success"
        )
        if value == 2:
            break
        time.sleep(0.3)
    assert value == 2, value
    assert worker.handled().count("ops.tasks.heartbeat") == 2
    assert list(directory.glob("counter_*.db"))
