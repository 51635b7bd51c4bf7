"""Sync against a real ``mlflow server`` over HTTP, including the server going away mid-test."""

import pytest
from django.core.management import CommandError, call_command

from registry.models import ModelVersion, SyncRun
from registry.sync import sync_registry

from .mlflow_helpers import MlflowWorld

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_server(tmp_path, settings):
    from conftest import MlflowServer

    server = MlflowServer(tmp_path).start()
    settings.MLFLOW_TRACKING_URI = server.url
    yield server
    server.stop()


def test_sync_over_http_then_server_down_keeps_mirror(own_server):
    world = MlflowWorld(own_server.url, None)
    for i in range(3):
        world.create_version("Remote", metrics={"accuracy": 0.8 + i / 100}, stage="Staging" if i == 2 else "None")
    call_command("sync_registry")
    assert list(ModelVersion.objects.order_by("version").values_list("version", "stage")) == [
        (1, "None"),
        (2, "None"),
        (3, "Staging"),
    ]
    snapshot = list(ModelVersion.objects.order_by("pk").values())

    own_server.stop()
    with pytest.raises(CommandError, match="MLflow unavailable"):
        call_command("sync_registry")
    failed = SyncRun.objects.order_by("-id").first()
    assert failed.status == SyncRun.FAILED
    assert list(ModelVersion.objects.order_by("pk").values()) == snapshot

    own_server.start()
    assert sync_registry().status == SyncRun.SUCCEEDED
