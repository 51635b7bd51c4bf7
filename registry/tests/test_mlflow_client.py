"""registry/mlflow_client.py's boundary: what the portal hands MLflow's client, and what it gets back."""

import socket
import time

import pytest

from registry.mlflow_client import MlflowUnavailable, RegistryClient


@pytest.fixture
def silent_mlflow():
    """A URL on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda client: client.get_version("ChurnPredictor", 1), id="MlflowClient"),
        pytest.param(lambda client: client.search_versions(), id="plain-JSON reader"),
    ],
)
def test_a_settings_override_of_the_timeout_reaches_the_request(silent_mlflow, settings, monkeypatch, read):
    # The client hands MLflow its timeout through the environment, which subprocesses started by later tests
    # inherit (a live worker's settings read it): put it back afterwards.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.MLFLOW_HTTP_REQUEST_TIMEOUT))
    settings.MLFLOW_HTTP_REQUEST_TIMEOUT = 1
    client = RegistryClient(silent_mlflow)

    started = time.monotonic()
    with pytest.raises(MlflowUnavailable, match="timed out"):
        read(client)
    waited = time.monotonic() - started

    assert 0.9 < waited < 5  # the overridden 1 s, not the 30 s default
    assert client.calls == 1  # one attempt: MLflow's own retries stay off
