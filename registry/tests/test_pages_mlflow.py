"""The review pages over a mirror synced from a real MLflow store, as MLflow users would fill it."""

import re

import pytest

from registry.models import Dataset, ModelVersion
from registry.sync import sync_registry
from tests.factories import make_owner

from .mlflow_helpers import frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(mlflow_store):
    """Churn v1 goes to Production, then v2 replaces it (archiving v1); v3 waits in Staging."""
    world = mlflow_store
    world.client.create_registered_model(
        "Churn", tags={"owner": "alice", "team": "risk"}, description="Predicts <churn>."
    )
    common = {"tags": {"mlflow.source.git.commit": "c0ffee1234"}, "dataset": ("churn-data", frame())}
    v1 = world.create_version("Churn", metrics={"accuracy": 0.80, "log_loss": 0.50}, params={"depth": "3"}, **common)
    v2 = world.create_version("Churn", metrics={"accuracy": 0.84, "log_loss": 0.45}, params={"depth": "4"}, **common)
    v3 = world.create_version(
        "Churn",
        metrics={"accuracy": 0.83, "log_loss": 0.40},
        params={"depth": "6"},
        tags={"mlflow.source.git.commit": "beef5678"},
        dataset=("churn-data", frame(seed=1)),
    )
    world.transition("Churn", v1, "Production")
    assert sync_registry().status == "succeeded"
    world.transition("Churn", v2, "Production", archive=True)
    world.client.set_registered_model_alias("Churn", "champion", str(v2))
    world.transition("Churn", v3, "Staging")
    assert sync_registry().status == "succeeded"
    return world, v1, v2, v3


def test_pages_render_what_mlflow_holds(client_in, synced):
    world, v1, v2, v3 = synced
    # MLflow's tag names alice: the list shows it as a suggestion, and owns nothing by it.
    assert "No models match" in client_in.get("/?owner=alice").content.decode()
    make_owner("Churn", "alice")
    listing = client_in.get("/?owner=alice").content.decode()
    assert f'class="badge production" href="/models/Churn/versions/{v2}/"' in listing
    assert f'class="badge staging" href="/models/Churn/versions/{v3}/"' in listing

    model_page = client_in.get("/models/Churn/?sort=metric:log_loss").content.decode()
    assert "Owners <strong>alice</strong>" in model_page and 'id="owner-suggestion"' not in model_page
    assert "Predicts &lt;churn&gt;." in model_page
    order = re.findall(r">v(\d+)</a></th>", model_page.split('id="versions"', 1)[1])
    assert order == [str(v3), str(v2), str(v1)]  # lowest log_loss first
    history = model_page.split('id="history"', 1)[1]
    bars = re.findall(
        r'<a class="bar (\w+)[^"]*" data-left="[^"]*" data-width="[^"]*" data-row="\d+"\s+href="/models/Churn/versions/(\d)/"',
        history,
    )
    assert bars == [("production", str(v1)), ("production", str(v2)), ("staging", str(v3)), ("alias", str(v2))]

    review = client_in.get(f"/models/Churn/versions/{v3}/").content.decode()
    assert f'Compared with the current Production version, <a href="/models/Churn/versions/{v2}/">' in review
    accuracy = re.search(r'<th scope="row">accuracy .*?</tr>', review, flags=re.S).group(0)
    assert "−0.01" in accuracy and 'class="delta worse"' in accuracy
    log_loss = re.search(r'<th scope="row">log_loss .*?</tr>', review, flags=re.S).group(0)
    assert "−0.05" in log_loss and 'class="delta better"' in log_loss  # lower log_loss is better
    assert '<a href="/commits/beef5678/"><code>beef5678</code></a>' in review


def test_lineage_and_reverse_lineage_follow_mlflow_datasets(client_in, synced):
    world, v1, v2, v3 = synced
    first_digest = ModelVersion.objects.get(version=v1).run.inputs.get().dataset.digest
    assert Dataset.objects.count() == 2  # v3 trained on different rows: another digest

    data = client_in.get(f"/models/Churn/versions/{v2}/lineage/", HTTP_ACCEPT="application/json").json()
    assert [(d["name"], d["digest"], d["context"]) for d in data["datasets"]] == [
        ("churn-data", first_digest, "training")
    ]
    assert data["run"]["git_commit"] == "c0ffee1234" and data["aliases"] == ["champion"]

    page = client_in.get(f"/datasets/{first_digest}/").content.decode()
    rows = re.findall(r'href="/models/Churn/versions/(\d+)/">v\d+</a></th>\s*<td><span class="badge \w+">(\w+)', page)
    assert rows == [(str(v2), "Production"), (str(v1), "Archived")]
    commit = client_in.get("/commits/c0ffee/").content.decode()
    assert f"/models/Churn/versions/{v1}/" in commit and f"/models/Churn/versions/{v3}/" not in commit
