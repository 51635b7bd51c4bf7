"""Shared fixtures: real MLflow stores (a SQLite file in a temp dir, or a real ``mlflow server``)."""

import functools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore", category=FutureWarning)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 in its own process group; can be stopped and restarted."""

    def __init__(self, root: Path, env: dict | None = None):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = root / "mlflow.db"
        self.artifacts = root / "artifacts"
        self.extra_env = env or {}
        self.process = None

    def start(self, timeout: float = 90):
        # The GenAI job runner spends tens of CPU seconds importing mlflow at start; the portal needs none of it.
        env = {
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **self.extra_env,
        }
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.db}",
                "--artifacts-destination",
                str(self.artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.root / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {timeout}s")

    def requests_to(self, path: str) -> int:
        """How many requests for ``path`` this server has answered: MLflow's own count, from its access log."""
        log = self.root / "server.log"
        return log.read_text(errors="replace").count(f" {path} HTTP/") if log.exists() else 0

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(autouse=True)
def static_files_without_manifest(settings):
    """Pages render without ``collectstatic``: production's manifest storage needs its output."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# --- personas: the people every permission is about ------------------------------------------------


def member(username: str, *groups: str, **fields):
    """A user in ``groups``, with an email address (notifications go to it); for a test that needs one more.
    ``fields``: other columns of the user (``is_staff``, ``is_active``)."""
    from django.contrib.auth.models import Group, User

    # A factory may have made the user already, as a model's owner (tests.factories.person).
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username, email=f"{username}@example.com", **fields)
    elif fields:
        User.objects.filter(pk=user.pk).update(**fields)
        user.refresh_from_db()
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def owner(db):
    """Owner of the models the factories build (a portal ``ModelOwner``, not MLflow's tag), in no group."""
    return member("olga-owner")


@pytest.fixture
def reviewer_a(db):
    from registry_portal.roles import REVIEWERS

    return member("rita-reviewer", REVIEWERS)


@pytest.fixture
def reviewer(reviewer_a):
    """Reviewer A, for the many tests that need one reviewer."""
    return reviewer_a


@pytest.fixture
def reviewer_b(db):
    from registry_portal.roles import REVIEWERS

    return member("rob-reviewer", REVIEWERS)


@pytest.fixture
def lead(db):
    """An ML lead: reads every audit event, may run checks; not a reviewer."""
    from registry_portal.roles import ML_LEADS

    return member("lena-lead", ML_LEADS)


@pytest.fixture
def outsider(db):
    """A signed-in user in no group and owner of nothing."""
    return member("otto-outsider")


@pytest.fixture
def staff(db):
    """Staff only: opens Django admin, but is no admin of the portal (``roles.is_admin``) and in no group."""
    return member("sam-staff", is_staff=True)


@pytest.fixture
def admin_user(django_user_model):
    """A superuser: the portal's admin (``roles.is_admin``); not a reviewer."""
    return django_user_model.objects.create_superuser("ada-admin", email="ada-admin@example.com")


@pytest.fixture
def people(owner, reviewer_a, reviewer_b, lead, outsider, admin_user, staff):
    """Every persona by name, and "anonymous" (signed out), for tests that go through them all."""
    from django.contrib.auth.models import AnonymousUser

    return {
        "anonymous": AnonymousUser(),
        "outsider": outsider,
        "owner": owner,
        "reviewer_a": reviewer_a,
        "reviewer_b": reviewer_b,
        "lead": lead,
        "admin": admin_user,
        "staff": staff,
    }


@pytest.fixture
def api(client, people):
    """``api(persona, method, path, json=None, **query)``: a call to ``/api/v1<path>`` with that persona's
    bearer token (one per persona, made on first use; "anonymous" sends none)."""
    from accounts.services import api_token_create

    secrets = {}

    def call(persona, method, path, json=None, **query):
        headers = {}
        if persona != "anonymous":
            if persona not in secrets:
                user = people[persona]
                secrets[persona] = api_token_create(actor=user, user=user, name="test")[1]
            headers["HTTP_AUTHORIZATION"] = f"Bearer {secrets[persona]}"
        url = f"/api/v1{path}"
        if method == "get":
            return client.get(url, query, **headers)
        return getattr(client, method)(url, json or {}, content_type="application/json", **headers)

    return call


# --- the mirror: rows as sync writes them (builders in tests/factories.py) --------------------------


@pytest.fixture
def mirror(db):
    from tests.factories import Mirror

    return Mirror()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture
def mlflow_store(tmp_path, settings):
    """A fresh MLflow SQLite store in a temp dir, used by the portal for this test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_TRACKING_URI = uri
    settings.MLFLOW_ARTIFACT_ROOT = (tmp_path / "artifacts").as_uri()
    from registry.tests.mlflow_helpers import MlflowWorld

    return MlflowWorld(uri, settings.MLFLOW_ARTIFACT_ROOT)


@pytest.fixture
def mlflow_remote(mlflow_server, settings):
    """The portal pointed at the session's real ``mlflow server``."""
    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    from registry.tests.mlflow_helpers import MlflowWorld

    return MlflowWorld(mlflow_server.url, None)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on the local SQLite default, and fail loudly if CI lacks PostgreSQL."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI"):
        if any(item.get_closest_marker("postgres") for item in items):
            raise pytest.UsageError(
                "CI must run on PostgreSQL (DATABASE_URL), but the database is " + connection.vendor
            )
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def broker_url():
    """The Redis broker for tests that run a real Celery worker (CI sets PORTAL_TEST_BROKER_URL)."""
    url = os.environ.get("PORTAL_TEST_BROKER_URL", "")
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError("CI must set PORTAL_TEST_BROKER_URL")
        import redis

        try:
            redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
        except redis.RedisError:
            pytest.skip("no Redis on 127.0.0.1:6379 (CI always has one)")
        url = "redis://127.0.0.1:6379/15"
    return url


class LiveWorker:
    def __init__(self, log=None, command=None, env=None):
        self.log = log
        self.command = command
        self.env = env
        self.process = None
        self.in_thread: list[str] = []

    def start(self):
        """Start the worker subprocess (again, after ``kill``: same queue, same log)."""
        if self.command is None:
            raise RuntimeError("this worker runs in a thread of the test process: it cannot be started or killed")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def kill(self):
        """SIGKILL the worker's process group: no warm shutdown, the messages it holds stay unacknowledged."""
        if self.command is None:
            raise RuntimeError("this worker runs in a thread of the test process: it cannot be started or killed")
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

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
def worker_env():
    """Extra environment for the ``live_worker`` subprocess; override it in a test module (short APPLY_* settings,
    another MLFLOW_TRACKING_URI). It wins over what the fixture sets."""
    return {}


@pytest.fixture
def live_worker(broker_url, transactional_db, tmp_path, worker_env):
    """A real Celery worker consuming a queue of its own on the Redis broker, sharing the test database.

    PostgreSQL (CI) or a SQLite file: ``celery worker`` in a subprocess, pointed at the test database by
    DATABASE_URL and at the MLflow store this test uses by MLFLOW_TRACKING_URI (so request
    ``mlflow_remote``/``mlflow_store`` before this fixture). SQLite in memory (the local default) cannot be
    opened by another process, so there the worker runs in a thread of this process: still a real worker,
    taking the message from Redis. Tasks queued by the code under test go to this worker's queue (a fresh
    name, so another worker on the same broker never takes them). ``worker_env`` adds to the subprocess's
    environment; ``kill()`` (SIGKILL) and ``start()`` restart the subprocess on the same queue.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_success
    from django.conf import settings
    from django.db import connection

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
            worker = LiveWorker(
                tmp_path / "worker.log",
                # Not ``celery -A registry_portal worker``: tasks the worker queues itself (after_sync after a
                # sync, an apply's retry) must go to this queue too, so its default queue is set first.
                command=[
                    sys.executable,
                    "-c",
                    "import sys; from registry_portal.celery import app; "
                    "app.conf.task_default_queue = sys.argv[1]; app.worker_main(sys.argv[2:])",
                    queue,
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
                    "MLFLOW_TRACKING_URI": settings.MLFLOW_TRACKING_URI,
                    "MLFLOW_ARTIFACT_ROOT": settings.MLFLOW_ARTIFACT_ROOT,
                    **worker_env,
                },
            )
            worker.start()
            try:
                yield worker
            finally:
                worker.stop()
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


def _retry_when_locked(method, timeout: float = 20):
    """``method``, retried while SQLite answers "database table is locked".

    In-memory SQLite (the local default) is shared between the test, a live server and a worker thread
    through SQLite's shared cache, whose table locks fail at once instead of waiting for the busy timeout a
    database file has; retrying is what the busy timeout would do. PostgreSQL (CI) needs none of this.
    """
    import sqlite3

    @functools.wraps(method)
    def retrying(*args, **kwargs):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return method(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    return retrying


@pytest.fixture
def shared_memory_db_waits(transactional_db, monkeypatch):
    """Tests where another thread (a worker, a live server) shares the in-memory SQLite database wait for
    its table locks, as a database file's busy timeout would; nothing on PostgreSQL."""
    from django.db import connection
    from django.db.backends.sqlite3 import base

    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        return
    for owner, name in (
        (base.SQLiteCursorWrapper, "execute"),
        (base.SQLiteCursorWrapper, "executemany"),
        (base.DatabaseWrapper, "_start_transaction_under_autocommit"),
        (base.DatabaseWrapper, "_commit"),
    ):
        monkeypatch.setattr(owner, name, _retry_when_locked(getattr(owner, name)))
