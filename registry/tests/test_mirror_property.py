"""Property: every value, name and entity MLflow 3.17 accepts is mirrored exactly, and every page of it answers 200.

Each example is a registry drawn from what MLflow accepts (``mlflow_registries.registries``), written
with the real client into a fresh SQLite store, synced, compared field by field with what MLflow answers
(``mirror_compare.mirror_differences``), and browsed. ``MIRROR_PROPERTY_EXAMPLES`` sets the example count
(default 12: under a minute for the three tests here when they pass); raise it locally to search harder.
When a test fails, hypothesis shrinks the example for up to five minutes: its "Falsifying example" is the report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mlflow
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from mlflow import MlflowClient

from registry.models import ModelVersion, RegisteredModel, SyncRun
from registry.sync import sync_registry

from .mirror_compare import mirror_differences
from .mlflow_registries import KITCHEN_SINK, ModelSpec, RegistryWriter, registries
from .test_sync import writes

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("MIRROR_PROPERTY_EXAMPLES", "12"))
property_settings = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@contextmanager
def global_tracking_uri(uri: str):
    """MLflow's process-wide tracking URI is ``uri`` in the block, then what it was (as mlflow_client does)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite store: each example copies it (creating one costs ~2 s)."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return path


class ExampleStore:
    """A fresh MLflow store for one example, and the portal pointed at it; the mirror rolled back after."""

    def __init__(self, template: Path):
        self.root = Path(tempfile.mkdtemp(prefix="mirror-property-"))
        shutil.copy(template, self.root / "mlflow.db")
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self._stack = ExitStack()

    def __enter__(self):
        self._stack.callback(shutil.rmtree, self.root, ignore_errors=True)
        self._stack.enter_context(override_settings(MLFLOW_TRACKING_URI=self.uri))
        # MLflow's SQL registry looks up the LoggedModel of a ``models:/m-…`` source through the *global*
        # tracking URI (``MlflowClient()`` in ``create_model_version``); unset, it would open ./mlflow.db.
        self._stack.enter_context(global_tracking_uri(self.uri))
        self._stack.enter_context(transaction.atomic())
        self._stack.callback(transaction.set_rollback, True)
        return self

    def __exit__(self, *exc_info):
        return self._stack.__exit__(*exc_info)


def assert_mirrored(client: MlflowClient, sync_run: SyncRun) -> None:
    assert sync_run.status == SyncRun.SUCCEEDED, (sync_run.error, sync_run.failures)
    differences = mirror_differences(client)
    assert differences == [], "\n".join(differences)


def assert_pages_answer(browser, registry: list[ModelSpec]) -> None:
    for spec in registry:
        model = RegisteredModel.objects.get(name=spec.name)
        response = browser.get(model.get_absolute_url())
        assert response.status_code == 200, (spec.name, model.get_absolute_url())
        for version in ModelVersion.objects.filter(model=model).select_related("model"):
            url = version.get_absolute_url()
            lineage = reverse("registry:version_lineage", args=[model.name, version.version])
            for page, accept in ((url, "text/html"), (lineage, "text/html"), (lineage, "application/json")):
                response = browser.get(page, HTTP_ACCEPT=accept)
                assert response.status_code == 200, (spec.name, version.version, page, accept)


def assert_mirrored_and_browsable(template: Path, registry: list[ModelSpec], browser) -> None:
    with ExampleStore(template) as store:
        RegistryWriter(store.client, store.root).write(registry)
        assert_mirrored(store.client, sync_registry())
        assert_pages_answer(browser, registry)


def test_a_registry_of_every_edge_value_is_mirrored_exactly_and_browsable(empty_store, client_in):
    assert_mirrored_and_browsable(empty_store, KITCHEN_SINK, client_in)


@property_settings
@given(registry=registries())
def test_every_accepted_registry_is_mirrored_exactly_and_browsable(registry, empty_store, client_in):
    assert_mirrored_and_browsable(empty_store, registry, client_in)


@property_settings
@given(registry=registries())
def test_a_second_sync_of_the_same_registry_writes_nothing(registry, empty_store):
    with ExampleStore(empty_store) as store:
        RegistryWriter(store.client, store.root).write(registry)
        sync_registry()
        with CaptureQueriesContext(connection) as queries:
            sync_run = sync_registry()
        assert writes(queries.captured_queries) == []
        assert_mirrored(store.client, sync_run)


def test_every_edge_value_is_mirrored_exactly_over_http_by_reconcile_and_fast_pass(tmp_path, client_in):
    """The same registry served by a real ``mlflow server``: the lists come through the plain-JSON reader
    (registry/mlflow_rest.py), runs and LoggedModels through MlflowClient; reconcile then a fast pass agree."""
    from conftest import MlflowServer

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with global_tracking_uri(uri):
        RegistryWriter(MlflowClient(tracking_uri=uri, registry_uri=uri), tmp_path).write(KITCHEN_SINK)
    server = MlflowServer(tmp_path).start()
    try:
        remote = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        with override_settings(MLFLOW_TRACKING_URI=server.url):
            assert_mirrored(remote, sync_registry(mode=SyncRun.RECONCILE))
            assert_pages_answer(client_in, KITCHEN_SINK)
            first = KITCHEN_SINK[0].name
            remote.update_registered_model(first, description="changed over http")
            fast = sync_registry(mode=SyncRun.FAST)
            assert_mirrored(remote, fast)
            assert RegisteredModel.objects.get(name=first).description == "changed over http"
    finally:
        server.stop()
