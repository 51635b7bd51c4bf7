"""``POST /hooks/mlflow`` and ``manage.py mlflow_webhook``: signed deliveries built here against a real MLflow
store, then real deliveries from a real ``mlflow server`` to the portal on ``live_server``."""

import datetime as dt
import json
import time
import uuid
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from registry.models import ModelVersion, SyncRun, WebhookDelivery
from registry.sync import sync_registry
from registry.webhooks import MODEL_EVENTS
from registry_portal.signing import webhook_signature as signature

from .mlflow_helpers import MlflowWorld

SECRET = "webhook-test-secret"  # noqa: S105 - test value


def deliver(client, payload, *, secret=SECRET, delivery_id=None, timestamp=None, body=None, signed=None):
    """POST one delivery the way MLflow sends it (mlflow/webhooks/delivery.py), signed unless told otherwise."""
    body = json.dumps(payload).encode() if body is None else body
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    headers = {
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": signed if signed is not None else signature(secret, delivery_id, timestamp, body),
    }
    return client.post("/hooks/mlflow", data=body, content_type="application/json", headers=headers)


def tag_set(name, version, key="reviewed_by", value="qa"):
    return {
        "entity": "model_version_tag",
        "action": "set",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "data": {"name": name, "version": str(version), "key": key, "value": value},
    }


def test_it_knows_every_model_registry_event_of_this_mlflow():
    """A new model event in an MLflow upgrade would be accepted and ignored: this makes it a decision."""
    from mlflow.entities.webhook import VALID_ENTITY_ACTIONS

    events = {f"{e.value}.{a.value}" for e, actions in VALID_ENTITY_ACTIONS.items() for a in actions}
    assert {e for e in events if e.startswith(("registered_model.", "model_version"))} == set(MODEL_EVENTS)


class TestEndpoint:
    pytestmark = pytest.mark.django_db

    @pytest.fixture(autouse=True)
    def secret(self, settings):
        settings.MLFLOW_WEBHOOK_SECRET = SECRET

    @pytest.fixture
    def tagged(self, mlflow_store):
        """A version mirrored before MLflow got a tag on it: only a sync can bring the tag in."""
        version = mlflow_store.create_version("Churn")
        sync_registry()
        mlflow_store.client.set_model_version_tag("Churn", str(version), "reviewed_by", "qa")
        return version

    def test_a_signed_delivery_syncs_that_one_model(self, client, tagged, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(client, tag_set("Churn", tagged))

        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        synced = SyncRun.objects.get(model_name="Churn")
        assert (synced.trigger, synced.status) == ("webhook", SyncRun.SUCCEEDED)
        assert ModelVersion.objects.get(model__name="Churn", version=tagged).tags == {"reviewed_by": "qa"}
        delivery = WebhookDelivery.objects.get()
        assert (delivery.entity, delivery.action, delivery.model_name) == ("model_version_tag", "set", "Churn")

    @pytest.mark.parametrize(
        "signed",
        [
            "",
            "v1,AAAA",
            signature("another-secret", "d", "1", b"{}"),
        ],
        ids=["missing", "garbage", "other-secret"],
    )
    def test_a_bad_signature_is_refused_and_queues_nothing(self, client, signed, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = deliver(client, tag_set("Churn", 1), signed=signed)

        assert response.status_code == 401
        assert "error" in response.json()
        assert queued == []
        assert not WebhookDelivery.objects.exists()

    def test_a_body_changed_after_signing_is_refused(self, client):
        delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
        signed = signature(SECRET, delivery_id, timestamp, json.dumps(tag_set("Churn", 1)).encode())
        tampered = json.dumps(tag_set("Payroll", 1)).encode()

        response = deliver(client, None, body=tampered, delivery_id=delivery_id, timestamp=timestamp, signed=signed)

        assert response.status_code == 401

    def test_a_replayed_delivery_syncs_once(self, client, tagged, django_capture_on_commit_callbacks):
        delivery_id = str(uuid.uuid4())
        timestamp = int(time.time())
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                deliver(client, tag_set("Churn", tagged), delivery_id=delivery_id, timestamp=timestamp).status_code
                == 202
            )
        assert SyncRun.objects.filter(model_name="Churn").count() == 1

        with django_capture_on_commit_callbacks(execute=True) as replay:
            response = deliver(client, tag_set("Churn", tagged), delivery_id=delivery_id, timestamp=timestamp)

        assert response.status_code == 200
        assert response.json()["status"] == "duplicate"
        assert replay == []
        assert SyncRun.objects.filter(model_name="Churn").count() == 1
        assert WebhookDelivery.objects.count() == 1

    @pytest.mark.parametrize("skew", [-301, 301], ids=["stale", "future"])
    def test_a_timestamp_outside_five_minutes_is_refused(self, client, skew, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = deliver(client, tag_set("Churn", 1), timestamp=int(time.time()) + skew)

        assert response.status_code == 401
        assert "tolerance" in response.json()["error"]
        assert queued == []
        assert not WebhookDelivery.objects.exists()

    def test_an_unknown_event_is_accepted_and_queues_nothing(self, client, django_capture_on_commit_callbacks):
        payload = {"entity": "prompt", "action": "created", "timestamp": "", "data": {"name": "summarise"}}
        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = deliver(client, payload)

        assert response.status_code == 202
        assert response.json()["status"] == "ignored"
        assert queued == []
        assert not SyncRun.objects.exists()

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", json.dumps({"entity": "x", "data": []}).encode()])
    def test_a_signed_body_that_is_not_a_payload_is_a_bad_request(self, client, body):
        response = deliver(client, None, body=body)

        assert response.status_code == 400
        assert not WebhookDelivery.objects.exists()

    def test_a_model_event_without_a_name_is_a_bad_request(self, client):
        response = deliver(client, {"entity": "model_version", "action": "created", "data": {"version": "1"}})

        assert response.status_code == 400

    def test_without_a_secret_there_is_no_endpoint(self, client, settings):
        settings.MLFLOW_WEBHOOK_SECRET = ""

        assert deliver(client, tag_set("Churn", 1), secret="").status_code == 404
        assert client.get("/hooks/mlflow").status_code == 404
        assert not WebhookDelivery.objects.exists()

    def test_it_only_takes_post(self, client):
        assert client.get("/hooks/mlflow").status_code == 405

    def test_deliveries_older_than_a_day_are_pruned(self, client):
        old = WebhookDelivery.objects.create(delivery_id="old", entity="prompt", action="created")
        WebhookDelivery.objects.filter(pk=old.pk).update(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        recent = WebhookDelivery.objects.create(delivery_id="recent", entity="prompt", action="created")

        deliver(client, {"entity": "prompt", "action": "created", "data": {"name": "p"}})

        assert not WebhookDelivery.objects.filter(pk=old.pk).exists()
        assert WebhookDelivery.objects.filter(pk=recent.pk).exists()


# ---- against a real ``mlflow server`` -------------------------------------------------------------------
@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory):
    """A server that can deliver: a shared Fernet key for the stored secrets, http and 127.0.0.1 allowed."""
    from conftest import MlflowServer

    server = MlflowServer(
        tmp_path_factory.mktemp("mlflow-webhooks"),
        env={
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        },
    ).start()
    yield server
    server.stop()


@pytest.fixture
def on_server(webhook_server, settings):
    settings.MLFLOW_TRACKING_URI = webhook_server.url
    settings.MLFLOW_WEBHOOK_SECRET = SECRET
    return MlflowWorld(webhook_server.url, None)


def command(*args) -> str:
    out = StringIO()
    call_command("mlflow_webhook", *args, stdout=out)
    return out.getvalue()


def named(world, name):
    return [w for w in world.client.list_webhooks() if w.name == name]


def test_register_is_idempotent_list_shows_and_delete_removes(on_server):
    name = f"portal-{uuid.uuid4().hex[:8]}"
    assert "created" in command("register", "http://127.0.0.1:9/hooks/mlflow", "--name", name)
    assert "updated" in command("register", "http://127.0.0.1:9/hooks/mlflow", "--name", name)
    command("register", "http://127.0.0.1:8/hooks/mlflow", "--name", name, "--events", "model_version_tag.set")

    (webhook,) = named(on_server, name)
    assert webhook.url == "http://127.0.0.1:8/hooks/mlflow"
    assert [str(e) for e in webhook.events] == ["model_version_tag.set"]
    listed = command("list")
    assert webhook.webhook_id in listed and "http://127.0.0.1:8/hooks/mlflow" in listed

    command("delete", "--name", name)
    assert named(on_server, name) == []
    assert "nothing to delete" in command("delete", "--name", name)


def test_register_refuses_without_a_secret(on_server, settings):
    from django.core.management import CommandError

    settings.MLFLOW_WEBHOOK_SECRET = ""

    with pytest.raises(CommandError, match="MLFLOW_WEBHOOK_SECRET"):
        command("register", "http://127.0.0.1:9/hooks/mlflow")


def test_delete_by_id_and_by_url(on_server):
    first, second = f"portal-{uuid.uuid4().hex[:8]}", f"portal-{uuid.uuid4().hex[:8]}"
    command("register", "http://127.0.0.1:7/hooks/mlflow", "--name", first)
    command("register", "http://127.0.0.1:6/hooks/mlflow", "--name", second)
    (webhook,) = named(on_server, first)

    command("delete", "--id", webhook.webhook_id)
    command("delete", "http://127.0.0.1:6/hooks/mlflow")

    assert named(on_server, first) == named(on_server, second) == []


def test_a_tag_set_in_mlflow_reaches_the_version_page_by_webhook(on_server, live_server, transactional_db, client_in):
    name = f"Webhooked-{uuid.uuid4().hex[:8]}"
    version = on_server.create_version(name)
    # Registered after the model exists: MLflow caches each event's webhooks for 60 s, and only the tag event
    # must find this one (see docs/webhooks.md).
    command("register", f"{live_server.url}/hooks/mlflow")
    try:
        assert sync_registry().status == SyncRun.SUCCEEDED
        page = f"/models/{name}/versions/{version}/"
        assert b"<b>reviewed_by</b>" not in client_in.get(page).content

        on_server.client.set_model_version_tag(name, str(version), "reviewed_by", "qa")

        deadline = time.monotonic() + 20
        while b"<b>reviewed_by</b>=qa" not in client_in.get(page).content:
            assert time.monotonic() < deadline, "the webhook did not bring the tag within 20 s"
            time.sleep(0.5)
        delivery = WebhookDelivery.objects.get(entity="model_version_tag")
        assert (delivery.action, delivery.model_name) == ("set", name)
        assert list(SyncRun.objects.filter(model_name=name).values_list("trigger", flat=True)) == ["webhook"]
    finally:
        command("delete")
