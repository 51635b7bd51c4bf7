"""Every page answers 200 for every value MLflow 3.17.2 accepts, and shows it exactly.

See "Edge values" in the MLflow notes: keys named like dict methods, commits that are not hashes,
digests that fit no URL, 15,000-column schemas, 100,000-character tags, failed registrations, deleted
and gc'd runs, LoggedModels without runs, stale models, partial syncs, renames, 256-character names.
"""

import datetime as dt
import json
import re
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils.html import escape

from audit.services import Target, record
from registry.models import Run, SyncRun
from tests.factories import (
    T0,
    make_dataset,
    make_logged_model,
    make_model,
    make_sync,
    make_version,
    rename,
    use_dataset,
)

pytestmark = pytest.mark.django_db

DICT_METHOD_NAMES = ("items", "keys", "values", "get")


def svg_of(html: str) -> str:
    return html.split("<svg", 1)[1].split("</svg>", 1)[0]


def version_row(model_page: str, name: str, number: int) -> str:
    """The row of version ``number`` in a model page's versions table."""
    pattern = rf'<tr[^>]*>\s*<th scope="row"><a href="/models/{name}/versions/{number}/">.*?</tr>'
    return re.search(pattern, model_page, re.S).group(0)


def dataset_page_links(html: str) -> list[str]:
    """Links to dataset pages (not to the full-schema view, which goes by primary key)."""
    return [href for href in re.findall(r'href="(/datasets/[^"]*)"', html) if not href.endswith("/schema/")]


def lineage_json(client, url: str) -> dict:
    return client.get(url, HTTP_ACCEPT="application/json").json()


# --- keys named like dict methods -------------------------------------------------------------


def test_model_tag_named_items_renders(client_in):
    model = make_model("Churn", tags={name: f"{name}-value" for name in DICT_METHOD_NAMES})
    version = make_version(model, 1)
    version.tags = {name: f"version-{name}" for name in DICT_METHOD_NAMES}
    version.save()
    model_page = client_in.get("/models/Churn/")
    version_page = client_in.get("/models/Churn/versions/1/")
    assert model_page.status_code == version_page.status_code == 200
    for name in DICT_METHOD_NAMES:
        assert f"<b>{name}</b>={name}-value" in model_page.content.decode()
        assert f"<b>{name}</b>=version-{name}" in version_page.content.decode()


def test_alias_named_items_on_model_list(client_in):
    model = make_model("Churn", aliases={"items": 1, "keys": 2})
    make_version(model, 1, aliases=["items"])
    make_version(model, 2, aliases=["keys"])
    html = client_in.get("/").content.decode()
    assert (
        '<a class="badge alias" href="/models/Churn/versions/1/" title="alias items → version 1">@items v1</a>' in html
    )
    assert "@keys v2" in html
    assert '<span class="badge alias">@items</span> → <a href="/models/Churn/versions/1/">v1</a>' in (
        client_in.get("/models/Churn/").content.decode()
    )


def test_param_named_items_on_lineage(client_in):
    params = {name: f"p-{name}" for name in DICT_METHOD_NAMES}
    make_version(make_model("Churn"), 1, params=params)
    html = client_in.get("/models/Churn/versions/1/lineage/").content.decode()
    for name in DICT_METHOD_NAMES:
        assert f'<th scope="row"><code>{name}</code></th><td><code>p-{name}</code></td>' in html
    assert lineage_json(client_in, "/models/Churn/versions/1/lineage/")["run"]["params"] == params


def test_event_data_and_sync_counts_named_items_render(client, admin_user):
    record(
        actor="system:sync",
        action="registry.model_updated",
        target=Target(type="model", id="Churn", model_name="Churn"),
        data={name: f"data-{name}" for name in DICT_METHOD_NAMES},
    )
    client.force_login(admin_user)
    log = client.get(reverse("audit:log")).content.decode()
    for name in DICT_METHOD_NAMES:
        assert f'<span class="tag">{name}=data-{name}</span>' in log
    sync_run = make_sync(SyncRun.SUCCEEDED)
    sync_run.counts = {"items": 3, "models": 1}
    sync_run.save()
    html = client.get(f"/sync/{sync_run.pk}/").content.decode()
    assert '<tr><th scope="row">items</th><td class="num">3</td></tr>' in html


# --- values that fit no link ------------------------------------------------------------------


def test_non_hex_commit_shown_as_text_on_version_and_lineage_pages(client_in):
    model = make_model("Churn")
    dirty = make_version(model, 1, commit="1a2b3c4d-dirty")
    use_dataset(dirty.run, make_dataset())
    assert dirty.run.git_commit == "" and dirty.run.commit == "1a2b3c4d-dirty"

    version_page = client_in.get("/models/Churn/versions/1/").content.decode()
    code = version_page.split('id="code"', 1)[1].split("</section>", 1)[0]
    assert "<code" in code and ">1a2b3c4d-dirty</code>" in code and "/commits/" not in code

    lineage = client_in.get("/models/Churn/versions/1/lineage/").content.decode()
    svg = svg_of(lineage)
    assert '<g class="node commit unlinked">' in svg and "commit 1a2b3c4d-d" in svg
    assert "/commits/" not in lineage
    data = lineage_json(client_in, "/models/Churn/versions/1/lineage/")
    assert data["run"]["git_commit"] == "1a2b3c4d-dirty" and data["run"]["commit_url"] is None
    assert [n["url"] for n in data["nodes"] if n["kind"] == "commit"] == [None]

    dataset_page = client_in.get("/datasets/d1g3st01/")
    assert dataset_page.status_code == 200 and ">1a2b3c4d-dirty</code>" in dataset_page.content.decode()
    assert client_in.get("/lineage/?q=1a2b3c4d").status_code == 200

    make_version(model, 2, commit="abcdef12")
    clean = lineage_json(client_in, "/models/Churn/versions/2/lineage/")
    assert clean["run"]["git_commit"] == "abcdef12" and clean["run"]["commit_url"] == "/commits/abcdef12/"


@pytest.mark.parametrize("digest", ["ab/cd", ""])
def test_digest_with_slash_shown_as_text(client_in, digest):
    version = make_version(make_model("Churn"), 1)
    use_dataset(version.run, make_dataset("odd-data", digest))
    version_page = client_in.get("/models/Churn/versions/1/")
    assert version_page.status_code == 200
    html = version_page.content.decode()
    assert '<th scope="row">odd-data</th>' in html
    assert dataset_page_links(html) == []
    if digest:
        assert f'<code title="no dataset page for this digest">{digest}</code>' in html

    lineage = client_in.get("/models/Churn/versions/1/lineage/")
    assert lineage.status_code == 200 and '<g class="node dataset unlinked">' in svg_of(lineage.content.decode())
    data = lineage_json(client_in, "/models/Churn/versions/1/lineage/")
    assert [d["url"] for d in data["datasets"]] == [None]

    search = client_in.get("/lineage/?q=odd-data")
    assert search.status_code == 200
    results = search.content.decode().split('id="results"', 1)[1]
    assert '<th scope="row">odd-data</th>' in results and dataset_page_links(results) == []


# --- huge values ------------------------------------------------------------------------------


def test_15000_column_schema_page_stays_small(client_in):
    columns = [{"type": "double", "name": f"feature_{i:05d}", "required": True} for i in range(15_000)]
    version = make_version(make_model("Wide"), 1)
    dataset = make_dataset("wide-data", "w1d3d1g3", schema=json.dumps({"mlflow_colspec": columns}))
    use_dataset(version.run, dataset)
    for url in ["/models/Wide/versions/1/", "/datasets/w1d3d1g3/"]:
        response = client_in.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert len(response.content) < 200_000, url
        assert "15000 columns" in html and "feature_00049" in html and "feature_00050" not in html, url
        assert f'href="/datasets/{dataset.pk}/schema/"' in html, url
    schema = client_in.get(f"/datasets/{dataset.pk}/schema/")
    assert schema["Content-Type"] == "application/json"
    assert schema.json()["schema"]["mlflow_colspec"] == columns


def test_100000_char_tag_value_is_truncated_with_the_whole_one_click_away(client_in):
    value = "x" * 99_990 + "THE-END"
    make_version(make_model("Churn", tags={"card": value}), 1)
    html = client_in.get("/models/Churn/").content.decode()
    assert f"<summary>{'x' * 300}… " in html and "(99,997 characters)" in html
    assert html.count("THE-END") == 1  # inside the <details> only


# --- status and lifecycle ---------------------------------------------------------------------


def test_failed_registration_status_shown(client_in):
    model = make_model("Churn")
    make_version(model, 1, status="FAILED_REGISTRATION", status_message="artifact upload failed")
    make_version(model, 2)
    version_page = client_in.get("/models/Churn/versions/1/").content.decode()
    assert '<span class="badge bad">FAILED_REGISTRATION</span>' in version_page
    assert "artifact upload failed" in version_page
    model_page = client_in.get("/models/Churn/").content.decode()
    v1_row, v2_row = (version_row(model_page, "Churn", number) for number in (1, 2))
    assert "FAILED_REGISTRATION" in v1_row and "artifact upload failed" in v1_row
    assert "FAILED_REGISTRATION" not in v2_row
    data = lineage_json(client_in, "/models/Churn/versions/1/lineage/")
    assert (data["status"], data["status_message"]) == ("FAILED_REGISTRATION", "artifact upload failed")
    version_node = next(n for n in data["nodes"] if n["kind"] == "version")
    assert version_node["detail"] == "FAILED_REGISTRATION: artifact upload failed"
    assert "FAILED_REGISTRATION" in client_in.get("/models/Churn/versions/1/lineage/").content.decode()


@pytest.mark.parametrize(
    ("fields", "note"),
    [
        ({"lifecycle_stage": Run.DELETED}, "run deleted in MLflow"),
        ({"experiment_lifecycle_stage": Run.DELETED}, "experiment deleted"),
        ({"gone": True}, "run no longer in MLflow"),
    ],
)
def test_deleted_run_is_flagged(client_in, fields, note):
    make_version(make_model("Churn"), 1, **fields)
    assert note in client_in.get("/models/Churn/versions/1/").content.decode()
    lineage = client_in.get("/models/Churn/versions/1/lineage/").content.decode()
    assert note in lineage and note in svg_of(lineage)
    data = lineage_json(client_in, "/models/Churn/versions/1/lineage/")
    assert [n["detail"] for n in data["nodes"] if n["kind"] == "run"] == [note]


def test_live_run_is_not_flagged(client_in):
    make_version(make_model("Churn"), 1)
    html = client_in.get("/models/Churn/versions/1/").content.decode()
    assert "deleted" not in html and "no longer in MLflow" not in html


def test_logged_model_metrics_shown_without_run(client_in):
    model = make_model("Churn")
    make_version(model, 1, stage="Production", metrics={"accuracy": 0.5})
    logged = make_logged_model(
        metrics={"accuracy": 0.9},
        params={"depth": "7"},
        metric_datasets={"accuracy": {"name": "holdout", "digest": "h0ld0ut1"}},
    )
    make_version(model, 2, with_run=False, logged_model=logged)
    html = client_in.get("/models/Churn/versions/2/").content.decode()
    accuracy = re.search(r'<tr>\s*<th scope="row">accuracy .*?</tr>', html, re.S).group(0)
    assert ">0.9</td>" in accuracy and ">0.5</td>" in accuracy and "better" in accuracy
    assert "<code>depth</code>" in html and "<code>7</code>" in html
    assert f"<code>{logged.model_id}</code>" in html and "logged outside any run" in html
    assert '<a href="/datasets/h0ld0ut1/">holdout</a>' in html
    model_page = client_in.get("/models/Churn/").content.decode()
    assert '<td class="num">0.9</td>' in version_row(model_page, "Churn", 2)


def test_logged_model_metrics_overlay_the_runs(client_in):
    logged = make_logged_model(metrics={"accuracy": 0.95})
    make_version(make_model("Churn"), 1, metrics={"accuracy": 0.5, "rmse": 0.3}, logged_model=logged)
    model_page = client_in.get("/models/Churn/").content.decode()
    row = version_row(model_page, "Churn", 1)
    assert '<td class="num">0.95</td>' in row and '<td class="num">0.3</td>' in row


# --- staleness and partial syncs --------------------------------------------------------------


def test_stale_model_banner(client_in):
    stale_since = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.UTC)
    make_model("Churn", sync_error="MLflow answered 500 for this model", stale_since=stale_since)
    make_model("Fraud")
    banner = 'Mirror of this model is stale since <time datetime="2025-03-04T05:06:00+00:00">2025-03-04 05:06</time>: MLflow answered 500 for this model'
    model_list = client_in.get("/").content.decode()
    assert model_list.count(banner) == 1 and "banner-warn" in model_list
    assert banner in client_in.get("/models/Churn/").content.decode()
    assert "is stale" not in client_in.get("/models/Fraud/").content.decode()


def test_partial_sync_named_in_footer(client_in):
    make_model("Churn")
    sync_run = make_sync(
        SyncRun.PARTIAL, finished_at=T0, failures={"Fraud": "RESOURCE_DOES_NOT_EXIST: gone while reading"}
    )
    html = client_in.get("/").content.decode()
    footer = html.split("<footer>", 1)[1]
    assert "partial" in footer and "1 model failed" in footer
    assert "<b>Fraud</b>: RESOURCE_DOES_NOT_EXIST: gone while reading" in footer
    sync_page = client_in.get(f"/sync/{sync_run.pk}/").content.decode()
    assert '<a href="/models/Fraud/">Fraud</a></th><td>RESOURCE_DOES_NOT_EXIST: gone while reading</td>' in sync_page


def test_partial_sync_counts_as_last_sync_for_the_models_it_wrote(client_in):
    make_sync(SyncRun.SUCCEEDED, finished_at=T0)
    later = T0 + dt.timedelta(hours=1)
    make_sync(SyncRun.PARTIAL, finished_at=later, failures={"Fraud": "boom"})
    make_model("Churn")
    make_model("Fraud")
    html = client_in.get("/").content.decode()
    churn_row, fraud_row = re.findall(r"<tr>\s*<td><a href=\"/models/.*?</tr>", html, re.S)
    assert f'datetime="{later.isoformat()}"' in churn_row
    assert f'datetime="{T0.isoformat()}"' in fraud_row


# --- renames ----------------------------------------------------------------------------------


def test_old_model_name_redirects_after_rename(client_in):
    model = make_model("Churn v2")
    make_version(model, 1)
    rename("Churn", "Churn mid", model)
    rename("Churn mid", "Churn v2", model)
    new = quote("Churn v2")
    for old_url, new_url in [
        ("/models/Churn/", f"/models/{new}/"),
        ("/models/Churn/?sort=version", f"/models/{new}/?sort=version"),
        ("/models/Churn/versions/1/", f"/models/{new}/versions/1/"),
        ("/models/Churn%20mid/versions/1/lineage/", f"/models/{new}/versions/1/lineage/"),
    ]:
        response = client_in.get(old_url)
        assert response.status_code in (301, 302) and response["Location"] == new_url, old_url
        assert client_in.get(response["Location"]).status_code == 200
    assert client_in.get("/models/Churn/versions/9/").status_code in (301, 302)  # then the new name's 404


def test_rename_loops_and_reused_names_do_not_redirect(client_in):
    rename("A", "B")
    rename("B", "A")
    assert client_in.get("/models/A/").status_code == 404
    make_model("Churn")
    make_model("Churn v2")
    rename("Churn", "Churn v2")
    assert client_in.get("/models/Churn/").status_code == 200  # a model of the old name exists again


# --- names ------------------------------------------------------------------------------------


def test_256_char_name_with_quotes_pages_render(client_in):
    stem = ' O\'Brien "quoted" 100% #1? a&b \\ é.v1 '
    name = stem + "x" * (256 - len(stem) - 1) + " "
    assert len(name) == 256
    model = make_model(name, aliases={"champion": 1})
    version = make_version(model, 1, stage="Production", aliases=["champion"], commit="abcdef12")
    use_dataset(version.run, make_dataset())
    base = f"/models/{quote(name, safe='')}/"
    for url in [
        "/",
        f"/?q={quote(name)}",
        base,
        f"{base}versions/1/",
        f"{base}versions/1/lineage/",
        "/datasets/d1g3st01/",
        "/commits/abcdef12/",
    ]:
        response = client_in.get(url)
        assert response.status_code == 200, url
        assert escape(name) in response.content.decode(), url
    assert f'href="{escape(reverse("registry:model_detail", args=[name]))}"' in client_in.get("/").content.decode()
    assert lineage_json(client_in, f"{base}versions/1/lineage/")["model"] == name
