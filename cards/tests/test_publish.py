"""Publishing card revisions to a real MLflow store (a SQLite file in a temp dir)."""

import time
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from audit.models import AuditEvent
from cards import tasks
from cards.models import CardPublication
from cards.services import card_publish
from registry.models import ModelVersion
from registry.sync import sync_registry
from registry.tests.mlflow_helpers import frame
from tests.factories import card_save, make_owner, version_of

pytestmark = pytest.mark.django_db

DOWN = "http://127.0.0.1:9"

FULL_CARD = {
    "intended_use": "Retention offers for existing customers.",
    "factors": "Region.",
    "training_data": "Twelve months of account history.",
    "evaluation_data": "A held-out month.",
    "performance_metrics": "Accuracy at threshold 0.5.",
    "fairness_bias": "Accuracy gap between regions under 0.1.",
    "limitations": "Not for new customers.",
    "ethical_considerations": "Offers must not discriminate.",
    "caveats_recommendations": "Retrain quarterly.",
}


@pytest.fixture
def churn(mlflow_store, owner):
    world = mlflow_store
    world.client.create_registered_model("Churn", tags={"owner": owner.username, "license": "apache-2.0"})
    run_id = world.create_run(
        metrics={"accuracy": 0.81, "accuracy_region_north": 0.78, "accuracy_region_south": 0.84},
        params={"max_depth": "3", "model_type": "sklearn.ensemble.RandomForestClassifier"},
        tags={"mlflow.source.git.commit": "abc123"},
        dataset=("churn-data", frame()),
    )
    number = world.create_version("Churn", run_id)
    assert sync_registry().status == "succeeded"
    make_owner("Churn", owner)
    return world, version_of("Churn", number)


def read_card_artifact(world, run_id, tmp_path) -> str:
    path = world.client.download_artifacts(run_id, "model_card/model_card.md", str(tmp_path / "download"))
    return Path(path).read_text()


def test_publishing_logs_the_card_on_the_run_and_tags_the_version(
    churn, owner, tmp_path, django_capture_on_commit_callbacks
):
    world, version = churn
    revision = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)

    publication = CardPublication.objects.get(revision=revision)
    assert publication.status == CardPublication.PUBLISHED, publication.error
    assert publication.published_at is not None
    tags = world.client.get_model_version("Churn", str(version.version)).tags
    assert tags["model_card.revision"] == "1"
    assert tags["model_card.complete"] == "true"

    text = read_card_artifact(world, version.run_id, tmp_path)
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "apache-2.0"
    assert meta["datasets"] == ["churn-data"]
    result = meta["model-index"][0]["results"][0]
    assert {"name": "accuracy", "type": "accuracy", "value": 0.81} in result["metrics"]
    assert {"name": "accuracy_region_north", "type": "accuracy", "value": 0.78} in result["metrics"]
    assert result["dataset"]["name"] == "churn-data"
    assert "# Model Card: Churn v1" in body
    assert "Retention offers for existing customers." in body
    assert "| region\\_north | 0\\.78 |" in body
    assert "abc123" in body
    event = AuditEvent.objects.get(action="card.published")
    assert (event.actor, event.model_name, event.version, event.data["revision"]) == ("system:worker", "Churn", 1, 1)


def test_a_new_revision_replaces_the_artifact_and_tags(churn, owner, tmp_path, django_capture_on_commit_callbacks):
    world, version = churn
    card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)
    card_save(owner, version, {"limitations": "TODO"}, capture=django_capture_on_commit_callbacks)

    tags = world.client.get_model_version("Churn", str(version.version)).tags
    assert (tags["model_card.revision"], tags["model_card.complete"]) == ("2", "false")
    text = read_card_artifact(world, version.run_id, tmp_path)
    assert "TODO" in text and "Not for new customers." not in text


def test_republishing_the_same_revision_is_a_no_op(churn, owner, settings, django_capture_on_commit_callbacks):
    world, version = churn
    revision = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)
    settings.MLFLOW_TRACKING_URI = DOWN  # any MLflow call would now fail

    tasks.publish_revision.delay(revision.pk)
    publication = card_publish(revision=revision)

    assert publication.status == CardPublication.PUBLISHED
    assert publication.attempts == 1
    assert AuditEvent.objects.filter(action="card.published").count() == 1


def test_mlflow_down_fails_with_the_reason_then_a_retry_succeeds(
    churn, owner, client, settings, django_capture_on_commit_callbacks
):
    world, version = churn
    settings.MLFLOW_TRACKING_URI = DOWN

    started = time.monotonic()
    revision = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)
    elapsed = time.monotonic() - started

    publication = CardPublication.objects.get(revision=revision)
    assert publication.status == CardPublication.FAILED
    assert publication.error.startswith("MLflow unavailable after 1 attempt: API request to http://127.0.0.1:9")
    assert "model_card.revision" not in world.client.get_model_version("Churn", "1").tags
    assert not AuditEvent.objects.filter(action="card.published").exists()
    assert elapsed < 20  # in-process: no retries blocking the request
    client.force_login(owner)
    page = client.get(reverse("cards:card_detail", args=["Churn", 1])).content.decode()
    assert "failed: MLflow unavailable after 1 attempt" in page
    assert "Publish again" in page

    settings.MLFLOW_TRACKING_URI = world.uri
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("cards:publish_again", args=["Churn", 1]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "pending" in response.content.decode()
    assert 'hx-trigger="every 2s"' in response.content.decode()  # the fragment polls while pending
    status = client.get(reverse("cards:publication_status", args=["Churn", 1]), HTTP_HX_REQUEST="true")
    assert status.status_code == 286  # published: htmx stops polling
    assert "published" in status.content.decode()
    publication.refresh_from_db()
    assert (publication.status, publication.error, publication.attempts) == (CardPublication.PUBLISHED, "", 2)
    assert world.client.get_model_version("Churn", "1").tags["model_card.revision"] == "1"


def test_a_version_without_a_run_gets_tags_only(mlflow_store, owner, django_capture_on_commit_callbacks):
    world = mlflow_store
    world.client.create_registered_model("Runless", tags={"owner": owner.username})
    world.client.create_model_version("Runless", "s3://bucket/model")
    sync_registry()
    make_owner("Runless", owner)
    version = ModelVersion.objects.select_related("model", "run").get(model__name="Runless")

    revision = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)

    publication = CardPublication.objects.get(revision=revision)
    assert publication.status == CardPublication.PUBLISHED, publication.error
    assert publication.note == "tags only: the version has no run to attach model_card.md to"
    assert world.client.get_model_version("Runless", "1").tags["model_card.revision"] == "1"


def test_an_older_revision_never_overwrites_a_newer_one(churn, owner, django_capture_on_commit_callbacks):
    world, version = churn
    first = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)
    CardPublication.objects.filter(revision=first).update(status=CardPublication.FAILED, error="x")
    card_save(owner, version, {"limitations": "Second thoughts."}, capture=django_capture_on_commit_callbacks)

    publication = card_publish(revision=first)

    assert publication.status == CardPublication.SUPERSEDED
    assert world.client.get_model_version("Churn", "1").tags["model_card.revision"] == "2"


def test_a_revision_of_a_deleted_version_fails_with_the_reason(churn, owner, django_capture_on_commit_callbacks):
    world, version = churn
    revision = card_save(owner, version, FULL_CARD, capture=django_capture_on_commit_callbacks)
    CardPublication.objects.filter(revision=revision).update(status=CardPublication.PENDING)
    world.client.delete_model_version("Churn", "1")
    sync_registry()

    publication = card_publish(revision=revision)

    assert publication.status == CardPublication.FAILED
    assert publication.error == "the model version is no longer in the registry"
    revision.card.refresh_from_db()
    assert revision.card.model_version is None  # the card and its history outlive the mirror row
