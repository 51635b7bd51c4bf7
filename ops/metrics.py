"""Prometheus metrics (prometheus-client): what the processes count, and what the database says at scrape time.

Counted where it happens: request latency by view and status (``RequestMetricsMiddleware``), task outcomes by task
and state (Celery's ``task_success``/``task_failure``/``task_retry`` signals, in whichever process runs the task).
Read at scrape time by ``PortalCollector`` (a few indexed counts): sync lag, open requests by state, apply
failures, the notification backlog, the worker heartbeat's age.

Several processes (gunicorn workers, Celery workers): with ``PROMETHEUS_MULTIPROC_DIR`` set in the environment of
every process before it starts, prometheus-client writes each process's counters to files there and a scrape of
any web worker adds up the directory (``MultiProcessCollector``); docs/operations.md says how to share it.
"""

from __future__ import annotations

import time

from celery.signals import task_failure, task_retry, task_success
from django.conf import settings
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from . import selectors

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, by view name, method and status code.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TASK_OUTCOMES = Counter(
    "portal_celery_tasks",
    "Celery tasks that finished, by task name and state (success, failure, retry).",
    ["task", "state"],
)


class RequestMetricsMiddleware:
    """Times every request; labelled by the resolved view's name (bounded), never by the raw path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # view_name: the URL's namespaced name, or the view's dotted path when it has none.
        view = match.view_name if match else "<unresolved>"
        REQUEST_LATENCY.labels(view=view, method=_method(request.method), status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _method(method: str) -> str:
    return method if method in _METHODS else "other"


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


@task_success.connect(weak=False)
def _count_success(sender=None, **kwargs):
    TASK_OUTCOMES.labels(task=_task_name(sender), state="success").inc()


@task_failure.connect(weak=False)
def _count_failure(sender=None, **kwargs):
    TASK_OUTCOMES.labels(task=_task_name(sender), state="failure").inc()


@task_retry.connect(weak=False)
def _count_retry(sender=None, request=None, **kwargs):
    # task_retry's sender is the task's request's task; ``request.task`` is its name.
    name = getattr(request, "task", None) or _task_name(sender)
    TASK_OUTCOMES.labels(task=name, state="retry").inc()


class PortalCollector(Collector):
    """Gauges computed from the database at each scrape; the same in every process, so never multiprocess."""

    def collect(self):
        synced = selectors.last_successful_sync_at()
        lag = GaugeMetricFamily(
            "portal_sync_lag_seconds",
            "Seconds since the last successful whole-registry sync (NaN: none yet).",
        )
        lag.add_metric([], (timezone.now() - synced).total_seconds() if synced else float("nan"))
        yield lag

        beat = selectors.heartbeat_at()
        heartbeat = GaugeMetricFamily(
            "portal_worker_heartbeat_age_seconds", "Seconds since a worker last ran the heartbeat task (NaN: never)."
        )
        heartbeat.add_metric([], (timezone.now() - beat).total_seconds() if beat else float("nan"))
        yield heartbeat

        open_requests = selectors.open_requests_by_state()
        by_state = GaugeMetricFamily(
            "portal_transition_requests_open", "Open transition requests by state.", labels=["state"]
        )
        for state, count in open_requests.items():
            by_state.add_metric([state], count)
        yield by_state
        yield GaugeMetricFamily(
            "portal_apply_failures",
            "Transition requests whose apply failed (state failed) and wait for an admin's retry.",
            value=open_requests.get("failed", 0),
        )

        backlog = GaugeMetricFamily(
            "portal_notification_deliveries_backlog",
            "Notification deliveries not delivered, by status (pending, failed: to retry, dead: given up).",
            labels=["status"],
        )
        for status, count in selectors.delivery_backlog().items():
            backlog.add_metric([status], count)
        yield backlog


def exposition() -> bytes:
    """The text a scrape gets: this process's (or, multiprocess, every process's) counters and the gauges."""
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(PortalCollector())
    return generate_latest(registry)


class _ProcessMetrics(Collector):
    """This process's own metrics (the default registry: ours, and the process/platform collectors)."""

    def collect(self):
        yield from REGISTRY.collect()
