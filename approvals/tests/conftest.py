import pytest

from conftest import MlflowServer
from tests.factories import complete_sections, write_card

from .recovery import DroppingProxy


@pytest.fixture
def ready(mirror):
    """Churn v2 in Staging (v1 in Production at accuracy 0.91) with accuracy 0.93, ``GOOD_TAGS``, a dataset and
    a complete card: it passes every rule of the default Production policy once its checks run."""
    mirror.version(stage="Production", metrics={"accuracy": 0.91})
    version = mirror.version(stage="Staging", metrics={"accuracy": 0.93})
    write_card(version, complete_sections())
    return version


# --- the recovery harness (recovery.py): one stoppable `mlflow server` per module, a proxy before it ------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """This module's own `mlflow server` (the tests stop it); its port, so its URL, survives a restart."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-recovery")).start()
    yield server
    server.stop()


@pytest.fixture
def mlflow(server, settings):
    if server.process is None:  # a previous test stopped it and failed before starting it again
        server.start()
    settings.MLFLOW_TRACKING_URI = server.url
    return server


@pytest.fixture
def proxy(scene, settings):
    """The portal and the worker (request this before ``live_worker``) talk to MLflow through the proxy; the
    module's ``scene`` is set up first, straight against the server."""
    proxy = DroppingProxy(scene.server.url)
    settings.MLFLOW_TRACKING_URI = proxy.url
    yield proxy
    proxy.close()
