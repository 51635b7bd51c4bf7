"""The plain-JSON registry reader (registry/mlflow_rest.py) against a real ``mlflow server``.

Every assertion compares it with what ``MlflowClient`` returns for the same request, normalised here
the way registry/mlflow_client.py normalises entities, so the two readers are interchangeable.
"""

import base64
import datetime as dt
import http.server
import json
import threading
import time
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.protos.model_registry_pb2 import ModelVersion as ModelVersionProto
from mlflow.protos.model_registry_pb2 import RegisteredModel as RegisteredModelProto
from mlflow.utils.proto_json_utils import parse_dict

from conftest import free_port
from registry import mlflow_rest
from registry.mlflow_rest import RestRequestError, RestUnavailable

SUFFIX = uuid.uuid4().hex[:6]  # the server is shared by the session: names of our own
LONG_VALUE = "v" * 100_000  # MLflow's limit for registry tag values (validation.py, 3.17.2)


# ---- MlflowClient's entities, normalised as registry/mlflow_client.py does -----------------
def _ms(ms):
    return None if ms is None else dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC)


def client_model(m) -> dict:
    return {
        "name": m.name,
        "description": m.description or "",
        "tags": dict(m.tags or {}),
        "aliases": {alias: int(version) for alias, version in (m.aliases or {}).items()},
        "created_at": _ms(m.creation_timestamp),
        "updated_at": _ms(m.last_updated_timestamp),
    }


def client_version(v) -> dict:
    return {
        "name": v.name,
        "version": int(v.version),
        "stage": v.current_stage or "None",
        "status": v.status or "",
        "status_message": v.status_message or "",
        "run_id": v.run_id or "",
        "source": v.source or "",
        "description": v.description or "",
        "tags": dict(v.tags or {}),
        "created_at": _ms(v.creation_timestamp),
        "updated_at": _ms(v.last_updated_timestamp),
    }


def client_pages(client, method, **kwargs):
    """[(rows, token)] of every page, as MlflowClient returns them."""
    normalise = client_model if method == "search_registered_models" else client_version
    out, token = [], None
    while True:
        page = getattr(client, method)(page_token=token, **kwargs)
        out.append(([normalise(e) for e in page], page.token or None))
        token = page.token
        if not token:
            return out


def rest_pages(url, search, **kwargs):
    return [(page.items, page.token) for page in mlflow_rest.pages(search, url, **kwargs)]


def quoted(name: str) -> str:
    """MLflow's filter quoting: a name holding ``'`` goes in double quotes (a backslash escape matches nothing)."""
    return f'"{name}"' if "'" in name else f"'{name}'"


# ---- the registry under test ---------------------------------------------------------------
NAMES = {
    "quote": f"O'Brien {SUFFIX}",
    "double": f'say "hi" {SUFFIX}',
    "percent": f"100% sure #1 ?&= {SUFFIX}",
    "unicode": f"модель-ü-模型-🚀 {SUFFIX}",
    "backslash": f"back\\slash {SUFFIX}",
    "spaces": f"  padded {SUFFIX}  ",
    "long": (f"long-{SUFFIX}-" + "x" * 256)[:256],
    "plain": f"plain-{SUFFIX}",
}


@pytest.fixture(scope="module")
def registry(mlflow_server):
    """Models with edge values, written through MlflowClient over HTTP."""
    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    experiment = client.create_experiment(f"rest-{SUFFIX}")
    for key, name in NAMES.items():
        tags = {"items": "tag named like a dict method", "owner": "ada"} if key != "plain" else None
        description = "" if key in ("plain", "spaces") else f"Model {key}: ünïcode, 'quotes', \"double\"\nsecond line"
        client.create_registered_model(name, tags=tags, description=description)
        for v in range(1, 4):
            if key == "plain" and v == 2:
                # registered from a path, no run at all
                client.create_model_version(name, "s3://portal-models/plain/2", description="")
                continue
            run = client.create_run(experiment)
            client.create_model_version(
                name,
                f"runs:/{run.info.run_id}/model",
                run_id=run.info.run_id,
                tags={"validation_status": "passed"} if v == 1 else None,
                description=f"version {v} of {key}" if v == 3 else None,
            )
        client.transition_model_version_stage(name, "1", "Production")
        client.transition_model_version_stage(name, "2", "Staging")
        client.set_registered_model_alias(name, "champion", "1")
        client.set_registered_model_alias(name, "items", "3")
        client.set_registered_model_alias(name, "2", "2")
    long_name = NAMES["long"]
    client.set_registered_model_tag(long_name, "card", LONG_VALUE)
    client.set_model_version_tag(long_name, "3", "card", LONG_VALUE)
    client.set_model_version_tag(long_name, "3", "empty", "")
    client.set_registered_model_alias(NAMES["unicode"], "чемпион", "3")
    client.delete_registered_model_alias(NAMES["plain"], "2")
    # A prompt is a registered model too; MlflowClient's lists leave it out, and so must the REST reader.
    client.register_prompt(f"prompt-{SUFFIX}", "Hello {{name}}", commit_message="first")
    client.update_model_version(NAMES["quote"], "2", description="changed last")  # bumps its timestamp
    return client


def test_models_match_mlflow_client_across_pages(registry, mlflow_server):
    rest = rest_pages(mlflow_server.url, mlflow_rest.search_registered_models, max_results=3)
    theirs = client_pages(registry, "search_registered_models", max_results=3)
    assert rest == theirs
    assert len(rest) >= 3  # really paginated
    mine = {m["name"]: m for page, _ in rest for m in page if SUFFIX in m["name"]}
    assert set(mine) == set(NAMES.values())  # no prompt
    long_model = mine[NAMES["long"]]
    assert len(long_model["name"]) == 256 and long_model["tags"]["card"] == LONG_VALUE
    assert mine[NAMES["quote"]]["tags"]["items"] == "tag named like a dict method"
    assert mine[NAMES["unicode"]]["aliases"] == {"champion": 1, "items": 3, "2": 2, "чемпион": 3}
    assert mine[NAMES["plain"]]["aliases"] == {"champion": 1, "items": 3}
    assert mine[NAMES["plain"]]["tags"] == {} and mine[NAMES["plain"]]["description"] == ""
    assert mine[NAMES["spaces"]]["name"] == NAMES["spaces"]  # leading/trailing spaces kept


def test_versions_match_mlflow_client_across_pages(registry, mlflow_server):
    rest = rest_pages(mlflow_server.url, mlflow_rest.search_model_versions, max_results=4)
    theirs = client_pages(registry, "search_model_versions", max_results=4)
    assert rest == theirs
    assert len(rest) >= 6
    mine = {(v["name"], v["version"]): v for page, _ in rest for v in page if SUFFIX in v["name"]}
    assert len(mine) == 3 * len(NAMES)  # no prompt version
    runless = mine[(NAMES["plain"], 2)]
    assert (
        runless["run_id"] == "" and runless["source"] == "s3://portal-models/plain/2" and runless["stage"] == "Staging"
    )
    assert mine[(NAMES["plain"], 3)]["stage"] == "None" and mine[(NAMES["plain"], 3)]["status"] == "READY"
    assert mine[(NAMES["long"], 3)]["tags"] == {"card": LONG_VALUE, "empty": ""}
    assert mine[(NAMES["quote"], 1)]["tags"] == {"validation_status": "passed"}
    assert mine[(NAMES["quote"], 2)]["description"] == "changed last"
    assert mine[(NAMES["quote"], 1)]["description"] == ""
    for row in mine.values():
        assert row["created_at"].tzinfo is dt.UTC and row["updated_at"] >= row["created_at"]


def test_order_by_last_updated_desc_matches(registry, mlflow_server):
    order = ["last_updated_timestamp DESC"]
    for search, method in (
        (mlflow_rest.search_model_versions, "search_model_versions"),
        (mlflow_rest.search_registered_models, "search_registered_models"),
    ):
        rest = rest_pages(mlflow_server.url, search, max_results=5, order_by=order)
        assert rest == client_pages(registry, method, max_results=5, order_by=order)
        stamps = [row["updated_at"] for page, _ in rest for row in page]
        assert stamps == sorted(stamps, reverse=True)
    newest = mlflow_rest.search_model_versions(mlflow_server.url, order_by=order, max_results=1).items
    assert newest[0]["name"] == NAMES["quote"] and newest[0]["version"] == 2  # the last write of the fixture


def test_repeated_order_by_is_sent_as_repeated_parameter(registry, mlflow_server):
    order = ["name DESC", "version_number ASC"]
    filter_string = f"name LIKE '%{SUFFIX}%'"
    rest = rest_pages(mlflow_server.url, mlflow_rest.search_model_versions, filter_string=filter_string, order_by=order)
    theirs = client_pages(registry, "search_model_versions", filter_string=filter_string, order_by=order)
    assert rest == theirs
    keys = [(row["name"], row["version"]) for page, _ in rest for row in page]
    assert keys == sorted(keys, key=lambda k: (k[0], -k[1]), reverse=True)


@pytest.mark.parametrize("key", sorted(NAMES))
def test_filter_by_name_with_mlflow_quoting(registry, mlflow_server, key):
    name = NAMES[key]
    filter_string = f"name = {quoted(name)}"
    models = mlflow_rest.search_registered_models(mlflow_server.url, filter_string=filter_string)
    assert [m["name"] for m in models.items] == [name]
    assert models.items == [client_model(m) for m in registry.search_registered_models(filter_string)]
    versions = mlflow_rest.search_model_versions(mlflow_server.url, filter_string=filter_string)
    assert sorted(v["version"] for v in versions.items) == [1, 2, 3]
    assert versions.items == [client_version(v) for v in registry.search_model_versions(filter_string)]
    assert versions.token is None


def test_obrien_in_double_quotes(registry, mlflow_server):
    page = mlflow_rest.search_model_versions(mlflow_server.url, filter_string=f'name = "O\'Brien {SUFFIX}"')
    assert {v["name"] for v in page.items} == {NAMES["quote"]}
    # a backslash escape inside single quotes matches nothing, in MLflow's client too
    escaped = f"name = 'O\\'Brien {SUFFIX}'"
    assert mlflow_rest.search_model_versions(mlflow_server.url, filter_string=escaped).items == []
    assert list(registry.search_model_versions(escaped)) == []


def test_rows_build_the_portal_dataclasses(registry, mlflow_server):
    from registry.mlflow_data import ModelData, VersionData

    model = mlflow_rest.search_registered_models(mlflow_server.url, max_results=1).items[0]
    assert ModelData(**model).name == model["name"]
    version = mlflow_rest.search_model_versions(mlflow_server.url, max_results=1).items[0]
    assert VersionData(**version).version == version["version"]


# ---- defaults for fields MLflow leaves out: as MLflow's own proto parsing gives them --------
MODEL_JSONS = [
    {"name": "m"},
    {"name": "m", "description": "", "tags": [], "aliases": []},
    {"name": "m", "tags": [{"key": "k"}, {"key": "items", "value": "x"}, {"key": "items", "value": "y"}]},
    {"name": "m", "aliases": [{"alias": "a", "version": "7"}], "creation_timestamp": 1, "last_updated_timestamp": 2},
    {"name": "m", "creation_timestamp": "1735689600123"},  # int64 as a string is accepted too
    {"name": "m", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "false"}, {"key": "k", "value": "v"}]},
]
VERSION_JSONS = [
    {"name": "m", "version": "1"},
    {"name": "m", "version": "2", "current_stage": "", "description": "", "run_id": "", "status": "READY"},
    {"name": "m", "version": "3", "tags": [{"key": "k"}], "status_message": "", "source": "s", "aliases": ["a"]},
    {"name": "m", "version": "4", "status": "FAILED_REGISTRATION", "status_message": "boom", "run_id": "r"},
    {"name": "m", "version": "5", "creation_timestamp": 1735689600123, "last_updated_timestamp": "1735689600999"},
]


@pytest.mark.parametrize("body", MODEL_JSONS)
def test_model_defaults_match_mlflow_parsing(body):
    proto = RegisteredModelProto()
    parse_dict(body, proto)
    assert mlflow_rest.model_row(body) == client_model(RegisteredModel.from_proto(proto))


@pytest.mark.parametrize("body", VERSION_JSONS)
def test_version_defaults_match_mlflow_parsing(body):
    proto = ModelVersionProto()
    parse_dict(body, proto)
    assert mlflow_rest.version_row(body) == client_version(ModelVersion.from_proto(proto))


def test_prompts_left_out_like_mlflow_client(registry, mlflow_server):
    prompt = f"prompt-{SUFFIX}"
    for filter_string in (f"name = '{prompt}'", f"name LIKE 'prompt-{SUFFIX}%'"):
        assert mlflow_rest.search_registered_models(mlflow_server.url, filter_string=filter_string).items == []
        assert list(registry.search_registered_models(filter_string)) == []
        assert mlflow_rest.search_model_versions(mlflow_server.url, filter_string=filter_string).items == []
        assert list(registry.search_model_versions(filter_string)) == []
    assert mlflow_rest.without_prompts(None) == "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert mlflow_rest.without_prompts("name = 'a'") == "name = 'a' AND tag.`mlflow.prompt.is_prompt` != 'true'"
    asking = "tag.`mlflow.prompt.is_prompt` = 'true'"
    assert mlflow_rest.without_prompts(asking) == asking
    # it exists: asked for by its tag, both readers return it
    both = f"name = '{prompt}' AND {asking}"
    found = mlflow_rest.search_registered_models(mlflow_server.url, filter_string=both).items
    assert [m["name"] for m in found] == [prompt]
    assert found == [client_model(m) for m in registry.search_registered_models(both)]


def test_empty_response_is_an_empty_last_page(mlflow_server):
    page = mlflow_rest.search_registered_models(mlflow_server.url, filter_string=f"name = 'nothing-{SUFFIX}'")
    assert page == mlflow_rest.Page([], None)


# ---- errors -------------------------------------------------------------------------------
def test_mlflow_refusals_are_request_errors(mlflow_server):
    with pytest.raises(RestRequestError) as bad_filter:
        mlflow_rest.search_model_versions(mlflow_server.url, filter_string="stage = 'Production'")
    assert bad_filter.value.status == 400 and bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(RestRequestError, match="INVALID_PARAMETER_VALUE"):
        mlflow_rest.search_registered_models(mlflow_server.url, max_results=1001)


def test_connection_refused_is_unavailable():
    with pytest.raises(RestUnavailable, match="could not connect"):
        mlflow_rest.search_model_versions(f"http://127.0.0.1:{free_port()}", timeout=2)


class _Fake(http.server.BaseHTTPRequestHandler):
    """Answers with what the test put in ``server.answer``; records request paths and headers."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.seen.append((self.path, dict(self.headers)))
        status, body, delay = self.server.answer
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def fake():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    server.seen, server.answer = [], (200, "{}", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def _error(code, message):
    return json.dumps({"error_code": code, "message": message})


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, _error("INTERNAL_ERROR", "db is gone"), RestUnavailable),
        (503, "<html>Service Unavailable</html>", RestUnavailable),
        (502, "", RestUnavailable),
        (429, _error("REQUEST_LIMIT_EXCEEDED", "slow down"), RestUnavailable),
        (200, "<html>a login page</html>", RestUnavailable),
        (400, _error("INVALID_PARAMETER_VALUE", "bad filter"), RestRequestError),
        (401, "Unauthorized", RestRequestError),
        (403, _error("PERMISSION_DENIED", "no READ on model"), RestRequestError),
        (404, _error("ENDPOINT_NOT_FOUND", "no such endpoint"), RestRequestError),
    ],
)
def test_http_failures_map_onto_two_errors(fake, status, body, expected):
    fake.answer = (status, body, 0)
    with pytest.raises(expected) as raised:
        mlflow_rest.search_model_versions(fake.url, timeout=5)
    assert raised.value.status == status
    if body.startswith("{"):
        assert raised.value.error_code == json.loads(body)["error_code"]
        assert json.loads(body)["message"] in str(raised.value)
    assert len(fake.seen) == 1  # one attempt, no retries


def test_timeout_is_unavailable_after_one_attempt(fake):
    fake.answer = (200, "{}", 1.5)
    started = time.monotonic()
    with pytest.raises(RestUnavailable, match="timed out"):
        mlflow_rest.search_registered_models(fake.url, timeout=0.3)
    assert time.monotonic() - started < 1.4
    assert len(fake.seen) == 1


def test_timeout_defaults_to_the_setting(fake, settings, monkeypatch):
    settings.MLFLOW_HTTP_REQUEST_TIMEOUT = 7
    used = {}
    real_get = mlflow_rest._session().get

    def spy(url, **kwargs):
        used.update(kwargs)
        return real_get(url, **kwargs)

    monkeypatch.setattr(mlflow_rest._session(), "get", spy)
    mlflow_rest.search_registered_models(fake.url)
    assert used["timeout"] == 7.0


def test_query_parameters(fake):
    fake.answer = (200, json.dumps({"model_versions": [], "next_page_token": "abc"}), 0)
    page = mlflow_rest.search_model_versions(
        fake.url + "/prefix/",
        filter_string='name = "O\'Brien #1 100%"',
        order_by=["last_updated_timestamp DESC", "name ASC"],
        max_results=200_000,
        page_token="tok=en/+",
    )
    assert page == mlflow_rest.Page([], "abc")
    path = fake.seen[0][0]
    assert path.startswith("/prefix/api/2.0/mlflow/model-versions/search?")
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(path).query) == {
        "max_results": ["200000"],
        "filter": ['name = "O\'Brien #1 100%"'],
        "order_by": ["last_updated_timestamp DESC", "name ASC"],
        "page_token": ["tok=en/+"],
    }


def test_auth_headers_like_mlflow(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials of the machine
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    mlflow_rest.search_registered_models(fake.url)
    assert "Authorization" not in fake.seen[-1][1]

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token")
    mlflow_rest.search_registered_models(fake.url)
    assert fake.seen[-1][1]["Authorization"] == "Bearer s3cret-token"

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pä:ss")
    mlflow_rest.search_registered_models(fake.url)  # basic wins over the token, as in MLflow's http_request
    assert fake.seen[-1][1]["Authorization"] == "Basic " + base64.b64encode("ada:pä:ss".encode()).decode()

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow" / "credentials").write_text(
        "[mlflow]\nmlflow_tracking_username = bob\nmlflow_tracking_password = pw\n"
    )
    mlflow_rest.search_registered_models(fake.url)
    assert fake.seen[-1][1]["Authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()


def test_tls_settings(monkeypatch):
    for var in ("MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH"):
        monkeypatch.delenv(var, raising=False)
    assert mlflow_rest._tls() == (True, None)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", "/etc/ca.pem")
    monkeypatch.setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", "/etc/client.pem")
    assert mlflow_rest._tls() == ("/etc/ca.pem", "/etc/client.pem")
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    assert mlflow_rest._tls() == (False, "/etc/client.pem")


def test_supported(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_AUTH", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_AWS_SIGV4", raising=False)
    assert mlflow_rest.supported("http://mlflow:5000") and mlflow_rest.supported("HTTPS://mlflow.example/x")
    assert not mlflow_rest.supported("sqlite:///var/mlflow.db") and not mlflow_rest.supported("databricks")
    monkeypatch.setenv("MLFLOW_TRACKING_AUTH", "my-plugin")
    assert not mlflow_rest.supported("http://mlflow:5000")


def test_module_does_not_import_mlflow():
    import subprocess
    import sys

    code = "import sys, registry.mlflow_rest; sys.exit(1 if 'mlflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
