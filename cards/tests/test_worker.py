"""Publishing through Redis and a real Celery worker: retries with backoff, then failed with the reason."""

import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from cards import tasks
from cards.models import CardPublication
from cards.services import card_publication_retry, card_revision_create
from registry.models import ModelVersion
from registry.sync import sync_registry
from tests.factories import make_owner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threaded_worker(broker_url, transactional_db):
    """A worker thread taking tasks from a queue of its own on Redis; it shares this process's settings,
    so a test can point it at a dead MLflow and shorten its retries."""
    from registry_portal.celery import app

    queue = f"cards-test-{uuid.uuid4().hex[:12]}"
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
    app._pool = None  # forget pooled connections to the previous broker
    app.amqp._producer_pool = None
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], loglevel="WARNING"):
            yield
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None


def wait_for(done, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"not done within {timeout}s")


def test_the_worker_retries_then_fails_with_the_reason_then_publishes_on_request(
    mlflow_store, owner, settings, monkeypatch, threaded_worker
):
    world = mlflow_store
    world.client.create_registered_model("Churn", tags={"owner": owner.username})
    world.create_version("Churn", metrics={"accuracy": 0.8})
    sync_registry()
    make_owner("Churn", owner)
    version = ModelVersion.objects.select_related("model", "run").get(model__name="Churn")
    monkeypatch.setattr(tasks.publish_revision, "max_retries", 1)
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"

    revision = card_revision_create(
        actor=owner, version=version, changes={"limitations": "None known."}, base_revision_id=None, summary="s"
    )

    def status():
        return CardPublication.objects.get(revision=revision)

    wait_for(lambda: status().status == CardPublication.FAILED)
    assert status().error.startswith("MLflow unavailable after 2 attempts: API request to http://127.0.0.1:9")
    assert status().attempts == 2

    settings.MLFLOW_TRACKING_URI = world.uri
    card_publication_retry(actor=owner, version=version, revision=revision)

    wait_for(lambda: status().status == CardPublication.PUBLISHED)
    assert world.client.get_model_version("Churn", "1").tags["model_card.revision"] == "1"
