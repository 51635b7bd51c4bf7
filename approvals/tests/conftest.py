"""Personas and the mirror builder.

Rule tests build mirror rows directly (what a sync would have written), so each rule is tested on
exactly the facts it reads; the staleness and worker tests go through a real MLflow store and sync.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_success
from django.contrib.auth.models import Group, User
from django.db import connection

from .helpers import Mirror


@pytest.fixture
def owner(db):
    return User.objects.create_user("olga-owner")


@pytest.fixture
def reviewer(db):
    user = User.objects.create_user("rita-reviewer")
    user.groups.add(Group.objects.get_or_create(name="reviewers")[0])
    return user


@pytest.fixture
def mirror(db):
    return Mirror()


class LiveWorker:
    def __init__(self, log=None):
        self.log = log
        self.in_thread: list[str] = []

    def wait(self, done, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.2)
        raise AssertionError(f"the worker did not finish within {timeout}s")

    def handled(self) -> list[str]:
        """Names of the tasks this worker ran: proof they went through the broker, not eagerly."""
        if self.log is None:
            return list(self.in_thread)
        return re.findall(r"Task ([\w.]+)\[[-\w]+\] succeeded", self.log.read_text())

    def record(self, sender=None, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            self.in_thread.append(sender.name)


@pytest.fixture
def live_worker(broker_url, transactional_db, tmp_path):
    """A real Celery worker consuming a queue of its own on the Redis broker, sharing the test database.

    PostgreSQL (CI) or a SQLite file: ``celery worker`` in a subprocess, pointed at the test database by
    DATABASE_URL. SQLite in memory (the local default) cannot be opened by another process, so there the
    worker runs in a thread of this process: still a real worker, taking the message from Redis.
    Tasks queued by the code under test go to this worker's queue (a fresh name, so another worker on the
    same broker never takes them).
    """
    from registry_portal.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
    reset_producers(app)
    try:
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            worker = LiveWorker()
            task_success.connect(worker.record)
            try:
                with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], loglevel="WARNING"):
                    yield worker
            finally:
                task_success.disconnect(worker.record)
        else:
            worker = LiveWorker(tmp_path / "worker.log")
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "registry_portal",
                    "worker",
                    "--pool=solo",
                    "-Q",
                    queue,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "INFO",
                ],
                env={
                    **os.environ,
                    "CELERY_BROKER_URL": broker_url,
                    "DATABASE_URL": database_url(connection.settings_dict),
                },
                stdout=worker.log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                yield worker
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
    finally:
        app.conf.update(saved)
        reset_producers(app)


def reset_producers(app):
    """Forget pooled broker connections, as Celery does after a fork, so the next publish uses the new broker."""
    app._pool = None
    app.amqp._producer_pool = None


def database_url(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict["USER"] or "")
    password = f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{settings_dict['NAME']}"
