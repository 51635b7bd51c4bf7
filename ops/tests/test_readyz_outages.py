"""/readyz of a real portal process (gunicorn) while PostgreSQL, Redis or MLflow goes away and comes back.

Each dependency is reached through a ``tests.proxy.TcpProxy`` this test starts: stopping the proxy is the
outage (the shared PostgreSQL and Redis keep running for everyone else), starting it again the recovery.
"""

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.utils import timezone

from conftest import database_url, free_port
from ops.models import Heartbeat
from tests.factories import make_sync
from tests.proxy import TcpProxy

pytestmark = pytest.mark.postgres
TIMEOUT = 2  # READY_CHECK_TIMEOUT_SECONDS of the portal under test


class Portal:
    def __init__(self, url: str, log):
        self.url = url
        self.log = log

    def readyz(self) -> tuple[int, dict, float]:
        import json

        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=30) as response:  # noqa: S310 - loopback
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, json.loads(body), time.monotonic() - started


@pytest.fixture
def proxies(transactional_db, mlflow_server, broker_url):
    settings_dict = connection.settings_dict
    redis = urlsplit(broker_url)
    found = {
        "database": TcpProxy(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)).start(),
        "broker": TcpProxy(redis.hostname, redis.port or 6379).start(),
        "mlflow": TcpProxy("127.0.0.1", mlflow_server.port).start(),
    }
    yield found
    for proxy in found.values():
        proxy.stop()


@pytest.fixture
def portal(proxies, broker_url, tmp_path):
    """gunicorn serving the portal, every dependency through its proxy; the mirror synced, a worker heard from."""
    make_sync(finished_at=timezone.now())
    Heartbeat.objects.create(name="worker", beat_at=timezone.now())
    settings_dict = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": proxies["database"].port}
    redis = urlsplit(broker_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings_dict),
        "CELERY_BROKER_URL": f"redis://{proxies['broker'].address}{redis.path}",
        "MLFLOW_TRACKING_URI": f"http://{proxies['mlflow'].address}",
        "READY_CHECK_TIMEOUT_SECONDS": str(TIMEOUT),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log = tmp_path / "gunicorn.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "registry_portal.wsgi:application", "-b", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "4", "--timeout", "60"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer: {log.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield Portal(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def assert_ready(portal):
    status, body, _ = portal.readyz()
    assert status == 200, body
    assert body["failing"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == dict.fromkeys(
        ("database", "broker", "mlflow", "sync", "heartbeat"), "ok"
    )


# The sync and heartbeat checks read the database too: without it they fail with it.
NAMED = {"database": {"database", "sync", "heartbeat"}, "broker": {"broker"}, "mlflow": {"mlflow"}}


@pytest.mark.parametrize("dependency", ["database", "broker", "mlflow"])
def test_readyz_turns_503_when_a_dependency_stops_or_hangs_and_200_when_it_is_back(portal, proxies, dependency):
    assert_ready(portal)

    proxies[dependency].stop()  # connections dropped, new ones refused
    status, body, elapsed = portal.readyz()
    assert status == 503, body
    assert set(body["failing"]) == NAMED[dependency]
    assert elapsed < TIMEOUT + 2
    proxies[dependency].start()
    assert_ready(portal)

    # Connections accepted and never answered: each check's time limit decides, not the dependency.
    proxies[dependency].blackhole()
    status, body, elapsed = portal.readyz()
    assert status == 503, body
    assert dependency in body["failing"]
    assert elapsed < TIMEOUT + 2
    proxies[dependency].start()
    assert_ready(portal)
