"""Model list, model page and version review page, over mirror rows built with the ORM."""

import datetime as dt
import re
from urllib.parse import quote

import pytest
from django.urls import reverse

from registry.models import SyncCooldown, SyncRun
from tests.factories import OWNER, T0, make_dataset, make_model, make_version, stage_change, use_dataset

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
XSS_NAME = "<script>alert('name')"  # MLflow refuses "/" and ":" in model names


def rows(html: str, table_marker: str = "<tbody>") -> list[str]:
    body = html.split(table_marker, 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, flags=re.S)


@pytest.fixture
def churn():
    """Churn: v1 Archived, v2 Production (@champion), v3 Staging, v4 None, with metrics and params."""
    model = make_model("Churn", description="Predicts churn.", tags={"team": "risk"}, aliases={"champion": 2})
    v1 = make_version(model, 1, stage="Archived", metrics={"accuracy": 0.70, "rmse": 0.50}, params={"depth": "2"})
    v2 = make_version(
        model,
        2,
        stage="Production",
        aliases=["champion"],
        metrics={"accuracy": 0.80, "rmse": 0.40, "only_prod": 1.0},
        params={"depth": "3", "lr": "0.1", "gone": "x"},
    )
    v3 = make_version(
        model,
        3,
        stage="Staging",
        metrics={"accuracy": 0.85, "rmse": 0.45, "only_new": 2.0},
        params={"depth": "5", "lr": "0.1", "added": "y"},
        commit="abcdef1234567890",
    )
    v4 = make_version(model, 4, with_run=False)
    return model, [v1, v2, v3, v4]


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/models/Churn/",
        "/models/Churn/versions/2/",
        "/models/Churn/versions/2/lineage/",
        "/lineage/?q=churn",
        "/datasets/d1g3st01/",
        "/commits/abcdef12/",
    ],
)
def test_every_page_needs_login(client, churn, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "url", ["/models/Nope/", "/models/Churn/versions/99/", "/models/Nope/versions/1/", "/sync/999/"]
)
def test_unknown_things_are_404(client_in, churn, url):
    assert client_in.get(url).status_code == 404


# --- model list -------------------------------------------------------------------------------


def test_model_list_shows_stage_versions_and_counts(client_in, churn):
    make_model("Fraud", owner="bob")
    html = client_in.get("/").content.decode()
    churn_row, fraud_row = rows(html)
    assert "Churn" in churn_row and "Fraud" in fraud_row
    assert 'class="badge production" href="/models/Churn/versions/2/"' in churn_row
    assert 'class="badge staging" href="/models/Churn/versions/3/"' in churn_row
    assert ">v4<" in churn_row  # latest
    assert '<td class="num">4</td>' in churn_row  # versions
    assert "@champion v2" in churn_row
    assert "never" in churn_row  # no sync has covered it yet


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=chu", ["Churn"]),
        ("stage=Production", ["Churn"]),
        ("stage=Archived", ["Churn"]),
        ("alias=champion", ["Churn"]),
        ("tag=team", ["Churn", "Fraud"]),
        ("tag=team=risk", ["Churn"]),
        ("tag=team%3Dfraud-ops", ["Fraud"]),
        ("owner=bob", ["Fraud"]),
        ("owner=bob&stage=Production", []),
        ("", ["Churn", "Fraud", "Idle"]),
    ],
)
def test_model_list_filters(client_in, churn, query, expected):
    fraud = make_model("Fraud", owner="bob", tags={"team": "fraud-ops"})
    make_version(fraud, 1, stage="Staging")
    make_model("Idle", owner="carol")
    html = client_in.get(f"/?{query}").content.decode()
    names = re.findall(r'<a href="/models/([^/]+)/"><strong>', html)
    assert names == expected


def test_model_list_reports_bad_filters_and_still_lists(client_in, churn):
    response = client_in.get("/?stage=Deployed&tag==x")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html and "filter ignored" in html
    assert "Write the tag as key or key=value." in html
    assert "/models/Churn/" in html


def test_model_list_htmx_returns_the_results_fragment(client_in, churn):
    response = client_in.get("/?q=chu", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html and "/models/Churn/" in html
    full = client_in.get("/?q=chu").content.decode()
    assert "<html" in full and 'id="results"' in full


def test_model_list_paginates_with_real_links(client_in):
    for i in range(55):
        make_model(f"m{i:02d}")
    first = client_in.get("/?q=m").content.decode()
    assert "Page 1 of 2" in first
    assert 'href="?q=m&amp;page=2"' in first and 'hx-get="?q=m&amp;page=2"' in first
    second = client_in.get("/?q=m&page=2").content.decode()
    assert len(rows(second)) == 5


def test_model_list_last_sync_per_model(client_in, churn):
    whole = SyncRun.objects.create(status=SyncRun.SUCCEEDED, finished_at=T0)
    SyncRun.objects.create(status=SyncRun.SUCCEEDED, model_name="Churn", finished_at=T0 + dt.timedelta(days=1))
    SyncRun.objects.create(status=SyncRun.FAILED, finished_at=T0 + dt.timedelta(days=2))
    make_model("Fraud")
    churn_row, fraud_row = rows(client_in.get("/").content.decode())
    assert 'datetime="2025-01-02T00:00:00+00:00"' in churn_row  # its own sync is newer than the whole one
    assert f'datetime="{whole.finished_at.isoformat()}"' in fraud_row


@pytest.mark.parametrize("models", [5, 60])
def test_model_list_query_count_does_not_grow(client_in, django_assert_num_queries, models):
    for i in range(models):
        model = make_model(f"m{i:02d}", owner=f"o{i % 3}", aliases={"champion": 1})
        make_version(model, 1, stage="Production", with_run=False)
        make_version(model, 2, stage="Staging", with_run=False)
    # session, user, count, page, last sync per model, audit nav link, owners, running sync, footer's last sync;
    # approvals: Reviews nav badge, unapproved-change banner (shared with the row markers), open request counts;
    # the page's models' owners (one prefetch), the "Sync now" question (the user's groups); expired-waiver badges
    with django_assert_num_queries(16):  # + risk tiers
        response = client_in.get("/")
    assert response.status_code == 200
    with django_assert_num_queries(10):  # + the page's owners, + expired-waiver badges, + risk tiers
        client_in.get("/?q=m", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")


# --- sync now ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sync_now_without_js_runs_the_sync_and_redirects_with_a_message(client_in, reviewer, mlflow_store):
    mlflow_store.create_version("FromMlflow", metrics={"accuracy": 0.9})
    response = client_in.post("/sync/", follow=True)  # no broker: the task runs in-process once committed
    sync_run = SyncRun.objects.get()
    assert sync_run.status == SyncRun.SUCCEEDED, sync_run.error
    assert sync_run.trigger == f"user:{reviewer.username}"
    assert response.redirect_chain == [("/", 302)]
    html = response.content.decode()
    assert f"Sync #{sync_run.pk} succeeded." in html
    assert "/models/FromMlflow/" in html


def test_sync_now_with_htmx_polls_until_done(client_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_in.post("/sync/", HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1  # queued only once the SyncRun is committed
    sync_run = SyncRun.objects.get()
    html = response.content.decode()
    assert f'hx-get="/sync/{sync_run.pk}/"' in html and 'hx-trigger="every 1s"' in html
    assert "<html" not in html

    polling = client_in.get(f"/sync/{sync_run.pk}/", HTTP_HX_REQUEST="true")
    assert polling.status_code == 200 and 'hx-trigger="every 1s"' in polling.content.decode()

    SyncRun.objects.filter(pk=sync_run.pk).update(status=SyncRun.FAILED, error="MLflow unavailable")
    done = client_in.get(f"/sync/{sync_run.pk}/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx stops polling
    assert done["HX-Trigger"] == '{"synced": null}' or "synced" in done["HX-Trigger"]
    body = done.content.decode()
    assert "MLflow unavailable" in body and "every 1s" not in body

    page = client_in.get(f"/sync/{sync_run.pk}/")
    assert page.status_code == 200 and "<html" in page.content.decode()


def test_a_second_click_while_syncing_reuses_the_running_sync(client_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client_in.post("/sync/", HTTP_HX_REQUEST="true")
        too_soon = client_in.post("/sync/", HTTP_HX_REQUEST="true")  # inside the minute: 429, "try again"
        assert too_soon.status_code == 429 and "try again in" in too_soon.content.decode()
        SyncCooldown.objects.update(requested_at=T0)  # a minute later, the first sync still running
        client_in.post("/sync/", HTTP_HX_REQUEST="true")
    assert SyncRun.objects.count() == 1
    assert len(callbacks) == 1
    SyncRun.objects.update(started_at=T0)  # older than the task time limit: its worker is gone
    SyncCooldown.objects.update(requested_at=T0)
    with django_capture_on_commit_callbacks(execute=False):
        client_in.post("/sync/", HTTP_HX_REQUEST="true")
    assert SyncRun.objects.count() == 2


def test_a_running_fast_pass_does_not_stand_in_for_sync_now(client_in, django_capture_on_commit_callbacks):
    SyncRun.objects.create(mode=SyncRun.FAST, trigger="beat")  # running: sees no deletions or tag changes
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client_in.post("/sync/", HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1
    assert SyncRun.objects.filter(mode=SyncRun.RECONCILE, status=SyncRun.RUNNING).count() == 1


def _forget_broker_connections(app):
    # Drop, do not close: a closed pool stays referenced by producers and fails later tests.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Celery pointed at a port nothing listens on, as when Redis is down; restored afterwards."""
    from registry_portal.celery import app

    keys = ("task_always_eager", "broker_url", "task_publish_retry")
    saved = {key: app.conf[key] for key in keys}
    _forget_broker_connections(app)  # a pool made for the in-memory broker would still accept the task
    app.conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:1/0", task_publish_retry=False)
    yield
    app.conf.update(saved)
    _forget_broker_connections(app)


@pytest.mark.django_db(transaction=True)
def test_sync_now_with_the_broker_down_fails_the_sync_run_with_the_reason(client_in, broker_down):
    response = client_in.post("/sync/", follow=True)
    sync_run = SyncRun.objects.get()
    assert sync_run.status == SyncRun.FAILED and sync_run.finished_at is not None
    assert sync_run.error.startswith("Could not queue the sync:")
    assert f"Sync #{sync_run.pk} failed. Could not queue the sync" in response.content.decode()
    # Not left "running": the next click (a minute later) starts a new sync instead of waiting on this one.
    SyncCooldown.objects.update(requested_at=T0)
    client_in.post("/sync/")
    assert SyncRun.objects.count() == 2


def test_sync_now_only_accepts_post(client_in):
    assert client_in.get("/sync/").status_code == 405
    assert SyncRun.objects.count() == 0


# --- model page -------------------------------------------------------------------------------


def test_model_page_shows_model_versions_chart_and_history(client_in, churn):
    model, versions = churn
    stage_change("Churn", 1, "", "Production", at=T0 + dt.timedelta(days=1))
    stage_change("Churn", 2, "None", "Production", at=T0 + dt.timedelta(days=3))
    stage_change("Churn", 1, "Production", "Archived", at=T0 + dt.timedelta(days=3))
    stage_change("Churn", 3, "None", "Staging", at=T0 + dt.timedelta(days=4))
    html = client_in.get("/models/Churn/").content.decode()
    assert "Predicts churn." in html and "<b>team</b>=risk" in html and OWNER in html
    assert "In Production: <a" in html
    version_rows = rows(html.split('id="versions"', 1)[1])
    assert [re.search(r">v(\d+)</a></th>", r).group(1) for r in version_rows] == ["4", "3", "2", "1"]
    assert "{# " not in html  # no template comment reaches the page
    chart = html.split('<figure class="chart">', 1)[1].split("</figure>", 1)[0]
    assert chart.count("<circle") == 3  # v4 has no run, so no accuracy
    assert 'class="point production"' in chart
    history = html.split('id="history"', 1)[1]
    bars = re.findall(
        r'<a class="bar (\w+)[^"]*" data-left="[^"]*" data-width="[^"]*" data-row="\d+"\s+href="/models/Churn/versions/(\d)/"',
        history,
    )
    assert bars == [("production", "1"), ("production", "2"), ("staging", "3")]
    table = history.split("<tbody>", 1)[1]
    assert re.search(r"v1</a></td>\s*<td><time[^>]*>2025-01-02 00:00</time></td>\s*<td><time[^>]*>2025-01-04", table)


def test_every_page_takes_the_newest_of_two_production_versions(client_in, churn):
    """Transitions made outside the portal without archiving leave two versions in Production: the list, the
    model page's headline and the version page all take the newest (``ModelVersion.objects.in_stage``)."""
    model, versions = churn
    make_version(model, 5, stage="Production", metrics={"accuracy": 0.9})

    churn_row = rows(client_in.get("/").content.decode())[0]
    assert '<a class="badge production" href="/models/Churn/versions/5/">v5</a>' in churn_row
    assert (
        'In Production: <a href="/models/Churn/versions/5/">v5</a>' in client_in.get("/models/Churn/").content.decode()
    )
    assert (
        'Production version, <a href="/models/Churn/versions/5/">'
        in client_in.get("/models/Churn/versions/3/").content.decode()
    )
    # the older one is compared with the newest, and the newest with nothing
    assert (
        'Production version, <a href="/models/Churn/versions/5/">'
        in client_in.get("/models/Churn/versions/2/").content.decode()
    )
    assert "This version is in Production" in client_in.get("/models/Churn/versions/5/").content.decode()


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("metric:accuracy", ["3", "2", "1", "4"]),  # best first; v4 has no metric: last
        ("-metric:accuracy", ["1", "2", "3", "4"]),
        ("metric:rmse", ["2", "3", "1", "4"]),  # lower is better
        ("version", ["1", "2", "3", "4"]),
        ("stage", ["2", "3", "4", "1"]),
    ],
)
def test_model_page_sorts_versions(client_in, churn, sort, order):
    html = client_in.get(f"/models/Churn/?sort={sort}").content.decode()
    version_rows = rows(html.split('id="versions"', 1)[1])
    assert [re.search(r">v(\d+)</a></th>", r).group(1) for r in version_rows] == order


def test_model_page_rejects_a_bad_sort_with_a_message(client_in, churn):
    response = client_in.get("/models/Churn/?sort=drop table")
    assert response.status_code == 200
    html = response.content.decode()
    assert "showing newest first" in html
    assert [re.search(r">v(\d+)</a></th>", r).group(1) for r in rows(html.split('id="versions"', 1)[1])] == [
        "4",
        "3",
        "2",
        "1",
    ]


def test_model_page_htmx_fragments(client_in, churn):
    versions = client_in.get("/models/Churn/?sort=metric:rmse", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="versions")
    html = versions.content.decode()
    assert html.lstrip().startswith('<div id="versions">') and "<html" not in html and "<svg" not in html
    chart = client_in.get("/models/Churn/?chart=rmse", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="chart")
    html = chart.content.decode()
    assert html.lstrip().startswith('<div id="chart">') and "<svg" in html and "<html" not in html
    assert "rmse by version of Churn" in html
    assert client_in.get("/models/Churn/?chart=nothing").content.decode().count("No version has a value for nothing")


@pytest.mark.parametrize("count", [5, 60])
def test_model_page_query_count_does_not_grow(client_in, django_assert_num_queries, count):
    model = make_model("Big", aliases={"champion": 1})
    for number in range(1, count + 1):
        make_version(
            model,
            number,
            stage="Production" if number == 1 else "None",
            metrics={"accuracy": number / 100, "loss": 1 - number / 100},
        )
        stage_change("Big", number, "", "Staging", at=T0 + dt.timedelta(hours=number))
    # session, user, model, versions with runs, audit nav link, card statuses, stage changes, footer's last sync;
    # approvals: Reviews nav badge, unapproved-change banner, open requests (section and table share it)
    # + the model's owners (prefetch), the "Sync now" question, the risk tier panel (its row, the "set" question)
    with django_assert_num_queries(15):
        response = client_in.get("/models/Big/?sort=metric:accuracy")
    assert response.status_code == 200
    with django_assert_num_queries(7):  # + the model's owners
        client_in.get("/models/Big/?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="versions")


# --- version review page ----------------------------------------------------------------------


def metric_row(html: str, name: str) -> str:
    return re.search(rf"<tr>\s*<th scope=\"row\">{name} .*?</tr>", html, flags=re.S).group(0)


def test_version_page_deltas_against_production(client_in, churn):
    html = client_in.get("/models/Churn/versions/3/").content.decode()
    assert "Compared with the current Production version" in html
    accuracy = metric_row(html, "accuracy")
    assert "0.85" in accuracy and "0.8<" in accuracy and "+0.05" in accuracy and "+6.2%" in accuracy
    assert 'class="delta better"' in accuracy and "▲ better" in accuracy
    rmse = metric_row(html, "rmse")
    assert "+0.05" in rmse and 'class="delta worse"' in rmse  # lower is better
    assert "not in Production" in metric_row(html, "only_new")
    assert "missing here" in metric_row(html, "only_prod")


def test_version_page_params_diff(client_in, churn):
    html = client_in.get("/models/Churn/versions/3/").content.decode()
    params = html.split('id="params-title"', 1)[1].split("</table>", 1)[0]
    found = re.findall(r'<tr(?: class="diff-(\w+)")?>\s*<th scope="row"><code>(\w+)</code>', params)
    assert found == [("changed", "depth"), ("added", "added"), ("removed", "gone"), ("", "lr")]


def test_version_page_without_production_version(client_in):
    model = make_model("Solo")
    make_version(model, 1, metrics={"accuracy": 0.9}, params={"depth": "3"})
    html = client_in.get("/models/Solo/versions/1/").content.decode()
    assert "No version of Solo is in Production" in html
    assert "0.9" in metric_row(html, "accuracy") and "delta" not in metric_row(html, "accuracy")


def test_the_production_version_is_not_compared_with_itself(client_in, churn):
    html = client_in.get("/models/Churn/versions/2/").content.decode()
    assert "This version is in Production" in html
    assert "delta" not in metric_row(html, "accuracy")


def test_version_without_run(client_in, churn):
    html = client_in.get("/models/Churn/versions/4/").content.decode()
    assert "No run recorded" in html and "No metrics recorded." in html


def test_version_page_datasets_code_and_tags(client_in, churn):
    _, versions = churn
    v3 = versions[2]
    dataset = make_dataset("churn-data", "d1g3st01")
    use_dataset(v3.run, dataset)
    v3.run.tags |= {"dataset_version": "v7", "mlflow.source.type": "LOCAL"}
    v3.run.save()
    html = client_in.get("/models/Churn/versions/3/").content.decode()
    assert '<a href="/datasets/d1g3st01/">churn-data</a>' in html
    assert "/data/churn-data.csv" in html and "training" in html and "1 column" in html
    assert '<a href="/commits/abcdef1234567890/"><code>abcdef1234567890</code></a>' in html
    assert "<b>dataset_version</b>=v7" in html and "LOCAL" in html
    assert 'href="/models/Churn/versions/3/lineage/"' in html


def test_version_page_links_to_mlflow_only_when_configured(client_in, churn, settings):
    settings.MLFLOW_UI_URL = ""
    assert "Open in MLflow" not in client_in.get("/models/Churn/versions/3/").content.decode()
    settings.MLFLOW_UI_URL = "https://mlflow.example.org/"
    html = client_in.get("/models/Churn/versions/3/").content.decode()
    assert 'href="https://mlflow.example.org/#/models/Churn/versions/3"' in html
    run_id = churn[1][2].run_id
    assert f'href="https://mlflow.example.org/#/experiments/1/runs/{run_id}"' in html


@pytest.mark.parametrize("count", [5, 50])
def test_version_page_query_count_does_not_grow(client_in, django_assert_num_queries, count):
    model = make_model("Wide")
    metrics = {f"m{i}": i / 10 for i in range(count)}
    params = {f"p{i}": str(i) for i in range(count)}
    make_version(model, 1, stage="Production", metrics=metrics, params=params)
    v2 = make_version(model, 2, metrics=metrics, params=params)
    for i in range(count):
        use_dataset(v2.run, make_dataset(f"d{i}", f"digest{i:04d}"))
        stage_change("Wide", 2, "", "Staging" if i % 2 else "None", at=T0 + dt.timedelta(hours=i))
    # session, user, version+model+run, production+run, datasets, history, audit nav link,
    # the checks panel (2), the card panel (4), footer's last sync, Reviews nav badge, open request panel
    # + the version's and the panels' model owners (one prefetch each: ownership questions then cost none)
    # + the governance panel: waivers, recertification; + the findings panel: its findings, may the viewer open one
    with django_assert_num_queries(22):
        response = client_in.get("/models/Wide/versions/2/")
    assert response.status_code == 200


# --- XSS --------------------------------------------------------------------------------------


def test_names_descriptions_tags_and_metric_names_are_escaped_everywhere(client_in):
    model = make_model(XSS_NAME, description=XSS, tags={XSS: XSS}, owner=XSS, aliases={"champion": 1})
    make_version(model, 1, stage="Production", metrics={XSS: 0.5, "accuracy": 0.1}, params={XSS: XSS}, tags={XSS: XSS})
    v2 = make_version(model, 2, metrics={XSS: 0.7, "accuracy": 0.2}, params={XSS: XSS}, commit="abcd1234")
    use_dataset(v2.run, make_dataset(XSS, "xssdigest", source=XSS, schema=XSS), context=XSS)
    stage_change(XSS_NAME, 1, "", "Production", at=T0)
    base = f"/models/{quote(XSS_NAME, safe='')}/"
    pages = [
        "/",
        f"/?q={quote('<script')}",
        base,
        f"{base}?chart={quote(XSS)}",
        f"{base}?sort=metric:{quote(XSS)}",
        f"{base}versions/2/",
        f"{base}versions/2/lineage/",
        "/datasets/xssdigest/",
        "/commits/abcd1234/",
        f"/lineage/?q={quote('<script')}",
    ]
    escaped_name = "&lt;script&gt;alert(&#x27;name&#x27;)"
    for url in pages:
        response = client_in.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert" not in html, url
        assert escaped_name in html or "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    for url in [base, f"{base}versions/2/"]:
        html = client_in.get(url).content.decode()
        assert escaped_name in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    chart = client_in.get(f"{base}?chart={quote(XSS)}").content.decode()
    svg = chart.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert f"&lt;script&gt;alert(1)&lt;/script&gt; by version of {escaped_name}" in svg
    lineage = client_in.get(f"{base}versions/2/lineage/").content.decode()
    graph = lineage.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in graph and escaped_name in graph
