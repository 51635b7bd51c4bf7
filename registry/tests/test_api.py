"""API v1 of the registry: each endpoint's answer, its 401/404/400/422 paths, NaN metrics as valid JSON."""

import json
import math
import re

import pytest
from django.test import Client

from registry import api_extras
from registry.models import SyncCooldown, SyncRun
from tests.factories import T0, make_dataset, make_model, make_run, make_version, rename

API = "/api/v1"


@pytest.fixture
def api(outsider):
    """Any signed-in user may read the registry: the outsider's browser session."""
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def churn(db):
    model = make_model("Churn", tags={"team": "growth"}, aliases={"champion": 1})
    data = make_dataset("churn-data", "d1g3st01")
    make_version(model, 1, stage="Production", aliases=["champion"], metrics={"accuracy": 0.9}, commit="abc123")
    make_version(
        model,
        2,
        stage="Staging",
        metrics={"accuracy": 0.93, "loss": math.nan, "gain": math.inf, "drop": -math.inf},
        params={"depth": "6"},
        commit="def456",
        datasets=[data],
    )
    make_model("Fraud", owner="someone-else")
    return model


def strict_json(response):
    """The body parsed by a parser that, like browsers' and most languages', refuses NaN and Infinity."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(response.content, parse_constant=refuse)


def test_models_lists_with_filters_and_page_numbers(api, churn, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):  # session, user, count, page, the page's owners
        body = strict_json(api.get(f"{API}/models"))
    assert body["count"] == 2 and [m["name"] for m in body["items"]] == ["Churn", "Fraud"]
    first = body["items"][0]
    assert (first["latest_version"], first["production_version"], first["staging_version"]) == (2, 1, 2)
    assert first["version_count"] == 2 and first["aliases"] == {"champion": 1}
    names = lambda **query: [m["name"] for m in api.get(f"{API}/models", query).json()["items"]]  # noqa: E731
    assert names(stage="Production") == ["Churn"]
    assert names(tag="team=growth") == ["Churn"] and names(tag="team=other") == []
    assert (
        names(q="fra") == ["Fraud"]
        and names(owner="someone-else") == ["Fraud"]
        and names(alias="champion") == ["Churn"]
    )
    paged = api.get(f"{API}/models", {"page": 2, "page_size": 1}).json()
    assert paged["count"] == 2 and [m["name"] for m in paged["items"]] == ["Fraud"]
    assert api.get(f"{API}/models", {"page": 99}).json()["items"] == []


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"stage": "Prod"}, 422, "stage"),
        ({"page": 0}, 422, "page"),
        ({"q": "x" * 256}, 422, "q"),
        ({"q": "a\x00b"}, 422, "q"),
        ({"tag": "=growth"}, 400, "tag"),
    ],
)
def test_models_refuses_bad_filters_naming_the_field(api, churn, query, status, field):
    response = api.get(f"{API}/models", query)
    body = response.json()
    assert (
        response.status_code == status and field in body["detail"] and body["code"] in ("validation_error", "invalid")
    )
    assert "errors" in body


def test_a_page_number_too_large_for_the_database_is_a_422(api, churn):
    response = api.get(f"{API}/models", {"page": 10**20})
    assert response.status_code == 422 and "page" in response.json()["detail"]


def test_models_need_credentials(client, churn):
    response = client.get(f"{API}/models")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_model_detail_and_its_404s(api, churn):
    body = api.get(f"{API}/models/Churn").json()
    assert body["name"] == "Churn" and body["production_version"] == 1
    # The portal's owners, and MLflow's tag (a suggestion) apart from them.
    assert body["owners"] == [{"user": "olga-owner", "group": None}] and body["owner_tag"] == ""
    assert "last_synced_at" in body
    missing = api.get(f"{API}/models/Nope")
    assert missing.status_code == 404 and missing.json() == {
        "detail": "No such model in the mirror.",
        "code": "not_found",
    }
    rename("OldChurn", "Churn", churn)
    renamed = api.get(f"{API}/models/OldChurn")
    assert renamed.status_code == 404 and renamed.json()["code"] == "model_renamed"
    assert renamed.json()["new_name"] == "Churn"


def test_version_answers_stage_run_metrics_datasets_and_commit_as_valid_json(api, churn):
    response = api.get(f"{API}/models/Churn/versions/2")
    body = strict_json(response)
    assert (body["model"], body["version"], body["stage"], body["status"]) == ("Churn", 2, "Staging", "READY")
    assert body["metrics"] == {"accuracy": 0.93, "loss": "NaN", "gain": "Infinity", "drop": "-Infinity"}
    assert body["run"]["metrics"] == body["metrics"] and body["run"]["mirrored"] is True
    assert body["params"] == {"depth": "6"} and body["commit"] == "def456"
    assert body["datasets"] == [
        {
            "name": "churn-data",
            "digest": "d1g3st01",
            "context": "training",
            "source_type": "local",
            "source": "/data/churn-data.csv",
        }
    ]
    assert isinstance(body["extras"], dict)


def test_a_version_whose_run_is_not_mirrored_says_so(api, churn):
    version = make_version(churn, 3, with_run=False)
    version.run_id = "run-not-mirrored"
    version.save()
    body = api.get(f"{API}/models/Churn/versions/3").json()
    assert body["run"]["mirrored"] is False and body["metrics"] == {} and body["commit"] is None


def test_other_apps_add_to_the_version_through_extras(api, churn):
    api_extras.register("test.seen", lambda user, version: {"by": user.username, "version": version.version})
    try:
        body = api.get(f"{API}/models/Churn/versions/1").json()
    finally:
        api_extras.unregister("test.seen")
    assert body["extras"]["test.seen"] == {"by": "otto-outsider", "version": 1}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("Churn/versions/9", 404),
        ("Nope/versions/1", 404),
        ("Churn/versions/abc", 422),
        ("Churn/versions/0", 422),
        (f"Churn/versions/{10**30}", 422),
    ],
)
def test_version_paths_that_do_not_resolve(api, churn, path, status):
    response = api.get(f"{API}/models/{path}")
    assert response.status_code == status and set(response.json()) >= {"detail", "code"}


def test_lineage_has_nodes_and_edges(api, churn):
    body = strict_json(api.get(f"{API}/models/Churn/versions/2/lineage"))
    kinds = {node["kind"] for node in body["nodes"]}
    assert {"dataset", "run", "version"} <= kinds and body["edges"]
    ids = {node["id"] for node in body["nodes"]}
    assert all(edge["source"] in ids and edge["target"] in ids for edge in body["edges"])
    assert api.get(f"{API}/models/Churn/versions/9/lineage").status_code == 404


def test_dataset_versions(api, churn):
    run = make_run(datasets=[make_dataset("churn-data", "d1g3st01")], commit="0a1b2c3d")
    make_version(make_model("Other"), 1, run=run)
    body = api.get(f"{API}/datasets/d1g3st01/versions").json()
    assert body["count"] == 2 and body["num_pages"] == 1 and body["stage_counts"] == {"Staging": 1, "None": 1}
    assert [(v["model"], v["version"], v["contexts"]) for v in body["items"]] == [
        ("Churn", 2, ["training"]),
        ("Other", 1, ["training"]),
    ]
    assert [v["model"] for v in api.get(f"{API}/datasets/d1g3st01/versions", {"stage": "Staging"}).json()["items"]] == [
        "Churn"
    ]
    assert api.get(f"{API}/datasets/nope/versions").status_code == 404
    assert api.get(f"{API}/datasets/d1g3st01/versions", {"stage": "x"}).status_code == 422


def test_sync_starts_once_and_reports_its_status(api, client, reviewer, db):
    assert api.post(f"{API}/sync").status_code == 403  # the outsider: reviewers, ML leads and admins sync
    client.force_login(reviewer)
    started = client.post(f"{API}/sync")
    assert started.status_code == 202
    sync_id = started.json()["sync_run_id"]
    again = client.post(f"{API}/sync")  # inside the minute: refused, with when to ask again
    assert again.status_code == 429 and again.json()["code"] == "too_soon"
    assert 1 <= again.json()["retry_after"] <= 60 and again["Retry-After"] == str(again.json()["retry_after"])
    assert f"try again in {again.json()['retry_after']} s" in again.json()["detail"]
    SyncCooldown.objects.update(requested_at=T0)  # the minute has passed
    assert client.post(f"{API}/sync").json()["sync_run_id"] == sync_id  # one already running is answered
    body = api.get(f"{API}/sync/{sync_id}").json()
    assert (body["id"], body["status"], body["mode"], body["is_done"]) == (sync_id, SyncRun.RUNNING, "reconcile", False)
    assert body["trigger"] == "user:rita-reviewer"
    assert api.get(f"{API}/sync/999999").status_code == 404
    assert api.get(f"{API}/sync/{10**30}").status_code == 422


def test_sync_needs_credentials(client, db):
    assert client.post(f"{API}/sync").status_code == 401
    assert not SyncRun.objects.exists()


def test_reads_never_ask_mlflow(api, churn, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # nothing listens: any MLflow call would fail
    for path in ("/models", "/models/Churn", "/models/Churn/versions/2", "/models/Churn/versions/2/lineage"):
        assert api.get(f"{API}{path}").status_code == 200, path


def test_openapi_schema_loads_and_docs_are_served_locally(client, db):
    schema = client.get(f"{API}/openapi.json").json()
    assert schema["info"] == {
        "title": "Registry Portal API",
        "version": "1",
        "description": schema["info"]["description"],
    }
    assert {"/api/v1/models", "/api/v1/models/{name}/versions/{version}", "/api/v1/sync", "/api/v1/audit"} <= set(
        schema["paths"]
    )
    assert {"BearerToken", "SessionAuth"} <= set(schema["components"]["securitySchemes"])
    page = client.get(f"{API}/docs").content.decode()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page)
    assert urls and all(url.startswith("/static/") for url in urls), urls


def test_an_unknown_api_url_is_a_json_404(api):
    response = api.get(f"{API}/nothing/here")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
