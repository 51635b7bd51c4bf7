"""Lineage of a version (SVG and JSON), and reverse lineage: dataset and commit pages, lineage search."""

import re

import pytest

from tests.factories import make_dataset, make_model, make_version, use_dataset

pytestmark = pytest.mark.django_db

COMMIT_A = "abcdef0123456789abcdef0123456789abcdef01"
COMMIT_B = "abcdff0123456789abcdef0123456789abcdef01"


@pytest.fixture
def world():
    """Two models; "train-v1" (digest aaaa1111) fed Churn v1 (Archived), v2 (Production) and Fraud v1;
    "train-v2" (digest bbbb2222) fed Churn v3 only. Churn v4 has no run."""
    v1_data = make_dataset("train-v1", "aaaa1111")
    v2_data = make_dataset("train-v2", "bbbb2222")
    eval_data = make_dataset("holdout", "cccc3333")
    churn = make_model("Churn", aliases={"champion": 2})
    fraud = make_model("Fraud")
    versions = {
        "churn1": make_version(churn, 1, stage="Archived", commit=COMMIT_A),
        "churn2": make_version(
            churn, 2, stage="Production", aliases=["champion"], commit=COMMIT_A, params={"depth": "3"}
        ),
        "churn3": make_version(churn, 3, stage="Staging", commit=COMMIT_B),
        "churn4": make_version(churn, 4, with_run=False),
        "fraud1": make_version(fraud, 1, stage="Production"),
    }
    for key in ("churn1", "churn2", "fraud1"):
        use_dataset(versions[key].run, v1_data)
    use_dataset(versions["churn2"].run, eval_data, context="evaluation")
    use_dataset(versions["churn3"].run, v2_data)
    return versions


def listed(html: str) -> list[tuple[str, str, str]]:
    """(model, version, stage) of each row of the versions table."""
    body = html.split('<div id="versions">', 1)[1]
    return re.findall(
        r'<td><a href="/models/[^/]+/">([^<]+)</a></td>\s*<th scope="row"><a href="[^"]+">v(\d+)</a></th>\s*'
        r'<td><span class="badge \w+">(\w+)</span>',
        body,
    )


# --- lineage of one version -------------------------------------------------------------------


def test_lineage_page_draws_every_node_as_a_link(client_in, world):
    html = client_in.get("/models/Churn/versions/2/lineage/").content.decode()
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    links = re.findall(r'<a href="([^"]+)" class="node (\w+)[^"]*"', svg)
    assert sorted(kind for _, kind in links) == ["alias", "commit", "dataset", "dataset", "run", "stage", "version"]
    hrefs = {kind: href for href, kind in links if kind != "dataset"}
    assert {href for href, kind in links if kind == "dataset"} == {"/datasets/aaaa1111/", "/datasets/cccc3333/"}
    assert hrefs["commit"] == f"/commits/{COMMIT_A}/"
    assert hrefs["version"] == "/models/Churn/versions/2/"
    assert hrefs["stage"] == hrefs["alias"] == "/models/Churn/#history"
    assert hrefs["run"] == "/models/Churn/versions/2/#code"  # no MLflow UI configured
    assert svg.count('class="edge"') == 6  # 2 datasets + commit → run → version → stage + alias
    assert 'class="node stage stage-production"' in svg and "@champion" in svg


def test_lineage_run_node_links_to_mlflow_when_configured(client_in, world, settings):
    settings.MLFLOW_UI_URL = "http://mlflow.local:5000"
    html = client_in.get("/models/Churn/versions/2/lineage/").content.decode()
    run_id = world["churn2"].run_id
    assert f'<a href="http://mlflow.local:5000/#/experiments/1/runs/{run_id}" class="node run"' in html


def test_lineage_json_with_accept_header(client_in, world):
    response = client_in.get("/models/Churn/versions/2/lineage/", HTTP_ACCEPT="application/json")
    assert response["Content-Type"] == "application/json"
    assert "Accept" in response["Vary"]
    data = response.json()
    assert (data["model"], data["version"], data["stage"], data["aliases"]) == ("Churn", 2, "Production", ["champion"])
    assert data["run"]["run_id"] == world["churn2"].run_id and data["run"]["mirrored"] is True
    assert data["run"]["git_commit"] == COMMIT_A and data["run"]["params"] == {"depth": "3"}
    assert {(d["name"], d["digest"], d["context"]) for d in data["datasets"]} == {
        ("train-v1", "aaaa1111", "training"),
        ("holdout", "cccc3333", "evaluation"),
    }
    nodes = {n["id"]: n for n in data["nodes"]}
    assert {(e["source"], e["target"]) for e in data["edges"]} == {
        ("dataset-0", "run"),
        ("dataset-1", "run"),
        ("commit", "run"),
        ("run", "version"),
        ("version", "stage"),
        ("version", "alias-champion"),
    }
    assert nodes["version"]["url"] == "/models/Churn/versions/2/"


def test_browsers_get_html_and_unknown_versions_get_a_json_404(client_in, world):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    html = client_in.get("/models/Churn/versions/2/lineage/", HTTP_ACCEPT=browser)
    assert html["Content-Type"].startswith("text/html")
    missing = client_in.get("/models/Churn/versions/99/lineage/", HTTP_ACCEPT="application/json")
    assert missing.status_code == 404 and missing.json() == {"error": "No version 99 of model 'Churn'."}
    assert client_in.get("/models/Churn/versions/99/lineage/").status_code == 404


def test_lineage_of_a_version_without_run_or_with_an_unmirrored_run(client_in, world):
    data = client_in.get("/models/Churn/versions/4/lineage/", HTTP_ACCEPT="application/json").json()
    assert data["run"] is None and data["datasets"] == []
    assert [n["kind"] for n in data["nodes"]] == ["version", "stage"]
    html = client_in.get("/models/Churn/versions/4/lineage/").content.decode()
    assert "registered without a run" in html

    orphan = make_version(world["churn1"].model, 5, with_run=False)
    orphan.run_id = "f" * 32  # MLflow knows this run; the mirror does not (yet)
    orphan.save()
    data = client_in.get("/models/Churn/versions/5/lineage/", HTTP_ACCEPT="application/json").json()
    assert data["run"] == {**data["run"], "run_id": "f" * 32, "mirrored": False}
    assert [n["detail"] for n in data["nodes"] if n["kind"] == "run"] == ["run not mirrored"]
    assert "is not mirrored" in client_in.get("/models/Churn/versions/5/lineage/").content.decode()


@pytest.mark.parametrize("count", [5, 50])
def test_lineage_query_count_does_not_grow(client_in, django_assert_num_queries, count):
    model = make_model("Wide", aliases={f"a{i}": 1 for i in range(count)})
    version = make_version(model, 1, aliases=[f"a{i}" for i in range(count)], commit=COMMIT_A)
    for i in range(count):
        use_dataset(version.run, make_dataset(f"d{i}", f"{i:08x}"))
    # session, user, version+model+run (+ its model's owners), datasets, audit nav link, Reviews nav badge, footer's last sync
    with django_assert_num_queries(8):
        response = client_in.get("/models/Wide/versions/1/lineage/")
    assert response.content.decode().count('class="node dataset"') == count
    with django_assert_num_queries(5):
        client_in.get("/models/Wide/versions/1/lineage/", HTTP_ACCEPT="application/json")


# --- reverse lineage --------------------------------------------------------------------------


def test_dataset_page_lists_every_version_trained_on_the_digest_and_only_those(client_in, world):
    html = client_in.get("/datasets/aaaa1111/").content.decode()
    assert listed(html) == [("Churn", "2", "Production"), ("Churn", "1", "Archived"), ("Fraud", "1", "Production")]
    assert "train-v1" in html and "/data/train-v1.csv" in html
    assert ">Production (2)</a>" in html and ">Archived (1)</a>" in html and ">Staging (0)</a>" in html
    assert listed(client_in.get("/datasets/bbbb2222/").content.decode()) == [("Churn", "3", "Staging")]
    evaluation = client_in.get("/datasets/cccc3333/").content.decode()
    assert listed(evaluation) == [("Churn", "2", "Production")] and "<td>evaluation</td>" in evaluation


def test_the_same_digest_under_another_name_is_the_same_data(client_in, world):
    renamed = make_dataset("train-v1-copy", "aaaa1111")
    other = make_version(make_model("Copy"), 1)
    use_dataset(other.run, renamed)
    html = client_in.get("/datasets/aaaa1111/").content.decode()
    assert ("Copy", "1", "None") in listed(html) and len(listed(html)) == 4
    assert "logged under 2 names" in html


def test_which_production_models_used_this_dataset(client_in, world):
    html = client_in.get("/datasets/aaaa1111/?stage=Production").content.decode()
    assert listed(html) == [("Churn", "2", "Production"), ("Fraud", "1", "Production")]
    assert 'aria-current="page">Production (2)' in html
    fragment = client_in.get("/datasets/aaaa1111/?stage=Production", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="versions")
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="versions">') and "<html" not in body and len(listed(body)) == 2


def test_dataset_page_bad_stage_and_unknown_digest(client_in, world):
    html = client_in.get("/datasets/aaaa1111/?stage=Deployed").content.decode()
    assert "Showing every stage" in html and len(listed(html)) == 3
    assert client_in.get("/datasets/nope0000/").status_code == 404


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("abcd", [("Churn", "3", "Staging"), ("Churn", "2", "Production"), ("Churn", "1", "Archived")]),
        ("ABCDE", [("Churn", "2", "Production"), ("Churn", "1", "Archived")]),
        (COMMIT_B, [("Churn", "3", "Staging")]),
    ],
)
def test_commit_page_matches_by_prefix(client_in, world, prefix, expected):
    html = client_in.get(f"/commits/{prefix}/").content.decode()
    assert listed(html) == expected


@pytest.mark.parametrize("prefix", ["abc", "zzzz1234", "0000"])
def test_commit_page_refuses_short_non_hex_and_unknown_prefixes(client_in, world, prefix):
    assert client_in.get(f"/commits/{prefix}/").status_code == 404


@pytest.mark.parametrize("count", [5, 60])
def test_reverse_lineage_query_count_does_not_grow(client_in, django_assert_num_queries, count):
    dataset = make_dataset("shared", "5ea4ed00")
    model = make_model("Many")
    for number in range(1, count + 1):
        version = make_version(model, number, stage="Production" if number == 1 else "None", commit=COMMIT_A)
        use_dataset(version.run, dataset)
    # session, user, datasets, stage counts, page count, page, contexts, audit nav link, Reviews nav badge,
    # footer's last sync
    with django_assert_num_queries(10):
        response = client_in.get("/datasets/5ea4ed00/")
    assert len(listed(response.content.decode())) == min(count, 50)
    # session, user, commits, stage counts, page count, page, audit nav link, Reviews nav badge, footer's last sync
    with django_assert_num_queries(9):
        client_in.get("/commits/abcdef01/")


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "datasets", "commits"),
    [
        ("train", ["train-v1", "train-v2"], []),
        ("TRAIN-V2", ["train-v2"], []),
        ("bbbb", ["train-v2"], []),
        ("abcdf", [], [COMMIT_B]),
        ("abcd", [], [COMMIT_A, COMMIT_B]),
        ("nothing", [], []),
    ],
)
def test_lineage_search(client_in, world, query, datasets, commits):
    html = client_in.get(f"/lineage/?q={query}").content.decode()
    results = html.split('<section id="results"', 1)[1]
    assert re.findall(r'<th scope="row"><a href="/datasets/\w+/">([^<]+)</a>', results) == datasets
    assert re.findall(r'<a href="/commits/(\w+)/"><code>', results) == commits


def test_lineage_search_explains_bad_input(client_in, world):
    html = client_in.get("/lineage/?q=a").content.decode()
    assert "Ensure this value has at least 2 characters" in html
    blank = client_in.get("/lineage/")
    assert blank.status_code == 200 and "errorlist" not in blank.content.decode()
    fragment = client_in.get("/lineage/?q=train", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results").content.decode()
    assert fragment.lstrip().startswith('<section id="results"') and "<html" not in fragment
