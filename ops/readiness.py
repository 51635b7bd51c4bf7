"""``/readyz``: one check per dependency, all run at once, each in a thread the request waits for at most
``READY_CHECK_TIMEOUT_SECONDS``: a hung dependency makes the answer 503 quickly, never a hung probe.

A check returns a detail (it passed), raises ``NotReady`` (it failed, with a reason safe to show), or raises
anything else (it failed: only the exception's class is shown, the message may hold a URL; it is logged).
``Skipped`` means the check does not apply to this deployment (no broker: tasks run in-process).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.utils import timezone

from registry.mlflow_client import RegistryClient
from registry_portal.celery import app

from . import selectors

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"


class NotReady(Exception):
    """The check ran and the answer is no; the message is shown in the probe's body."""


class Skipped(Exception):
    """The check does not apply here; the message says why."""


@dataclass
class Result:
    status: str
    detail: str
    seconds: float

    def as_json(self) -> dict:
        return {"status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


def in_process() -> bool:
    return bool(app.conf.task_always_eager)


def check_database() -> str:
    selectors.database_ping()
    return "SELECT 1 answered"


def check_broker() -> str:
    if in_process():
        raise Skipped("in-process: no broker, tasks run in the web process")
    timeout = settings.READY_CHECK_TIMEOUT_SECONDS
    with app.connection_for_write(
        connect_timeout=timeout, transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout}
    ) as connection:
        # kombu's Redis channel pings the server when it opens; one attempt, no retry loop.
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        connection.default_channel  # noqa: B018 - opening the channel is the ping
    return f"{app.conf.broker_url.split('://', 1)[0]} broker answered"


def check_mlflow() -> str:
    RegistryClient(timeout=settings.READY_CHECK_TIMEOUT_SECONDS).ping()
    return "registry search answered"


def _age(at) -> float:
    return (timezone.now() - at).total_seconds()


def _recent(at, *, limit: int, what: str, setting: str, missing: str) -> str:
    """Ready when ``at`` (the last ``what``) is at most ``limit`` seconds old; ``NotReady`` naming ``setting`` if not."""
    if at is None:
        raise NotReady(missing)
    age = _age(at)
    if age > limit:
        raise NotReady(f"{what} {age:.0f} s ago, over the {limit} s limit ({setting})")
    return f"{what} {age:.0f} s ago"


def check_sync() -> str:
    return _recent(
        selectors.last_successful_sync_at(),
        limit=settings.READY_MAX_SYNC_AGE_SECONDS,
        what="last successful sync",
        setting="READY_MAX_SYNC_AGE_SECONDS",
        missing="no whole-registry sync has succeeded yet",
    )


def check_heartbeat() -> str:
    if in_process():
        raise Skipped("not applicable: tasks run in-process, there is no worker")
    return _recent(
        selectors.heartbeat_at(),
        limit=settings.HEARTBEAT_MAX_AGE_SECONDS,
        what="last worker heartbeat",
        setting="HEARTBEAT_MAX_AGE_SECONDS",
        missing="no worker heartbeat recorded yet",
    )


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "mlflow": check_mlflow,
    "sync": check_sync,
    "heartbeat": check_heartbeat,
}


def run_one(name: str, check: Callable[[], str]) -> Result:
    started = time.monotonic()
    try:
        detail = check()
    except Skipped as exc:
        return Result(SKIPPED, str(exc), time.monotonic() - started)
    except NotReady as exc:
        return Result(FAIL, str(exc), time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - any error of a dependency means "not ready"
        logger.warning("readiness check %s failed: %s: %s", name, exc.__class__.__name__, exc)
        return Result(FAIL, f"{exc.__class__.__name__}", time.monotonic() - started)
    return Result(OK, detail, time.monotonic() - started)


def run_checks(checks: dict[str, Callable[[], str]] | None = None) -> dict[str, Result]:
    """Every check at once, each in a daemon thread; one still running at the deadline is a failure (its thread
    is left to finish or fail on its own socket timeout, and closes its database connection)."""
    checks = CHECKS if checks is None else checks
    timeout = settings.READY_CHECK_TIMEOUT_SECONDS
    results: dict[str, Result] = {}

    def run(name, check):
        try:
            results[name] = run_one(name, check)
        finally:
            connections.close_all()

    # Each thread in a copy of this context: its log records carry the probe's request id.
    threads = {
        name: threading.Thread(
            target=contextvars.copy_context().run, args=(run, name, check), name=f"readyz-{name}", daemon=True
        )
        for name, check in checks.items()
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads.values():
        thread.join(max(deadline - time.monotonic(), 0))
    done = dict(results)  # a late thread may still write into ``results``
    return {name: done.get(name) or Result(FAIL, f"no answer within {timeout} s", float(timeout)) for name in checks}
