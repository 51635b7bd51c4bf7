"""The seam other apps add to registry pages through (``registry.panels``), tested with a panel and a column
of no app; and the approvals and cards panels as the pages assemble them."""

import copy
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from registry import panels
from registry.panels import Column, Panel
from tests.factories import make_model, make_version

pytestmark = pytest.mark.django_db

TEMPLATES_DIR = Path(django_settings.BASE_DIR) / "templates" / "registry"
DUMMY_PANEL = '<p class="dummy-panel">{{ greeting }} <input name="csrfmiddlewaretoken" value="{{ csrf_token }}"></p>'
DUMMY_CELL = '<span class="dummy-cell">{{ value }} of {{ row.pk }}</span>'


@pytest.fixture
def dummy_templates(tmp_path, settings):
    """``dummy/panel.html`` and ``dummy/cell.html`` on the template path, for this test only."""
    (tmp_path / "dummy").mkdir()
    (tmp_path / "dummy" / "panel.html").write_text(DUMMY_PANEL)
    (tmp_path / "dummy" / "cell.html").write_text(DUMMY_CELL)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates


@pytest.fixture
def register():
    """``register(item)`` for this test only: whatever it registered is unregistered after."""
    names = []

    def add(item):
        names.append(item.name)
        panels.register(item)

    yield add
    for name in names:
        panels.unregister(name)


@pytest.fixture
def churn():
    model = make_model("Churn")
    for number in (1, 2, 3):
        make_version(model, number, stage="Production" if number == 2 else "None", metrics={"accuracy": number / 10})
    return model


PAGES = {
    "model_list": ("/", ["top"]),
    "model": ("/models/Churn/", ["top", "aside", "end"]),
    "version": ("/models/Churn/versions/2/", ["top", "after_tags", "end"]),
}


@pytest.mark.parametrize("page", PAGES)
def test_a_registered_panel_shows_in_each_slot_of_its_page_until_unregistered(
    client_in, reviewer, churn, dummy_templates, register, page
):
    url, slots = PAGES[page]
    seen = []

    def greeting_in(slot):
        def selector(objects):
            seen.append(objects)
            return {"greeting": f"hello {objects.user.get_username()} in {slot}"}

        return selector

    for slot in slots:
        register(Panel(f"dummy.{slot}", page, slot, greeting_in(slot), "dummy/panel.html"))

    html = client_in.get(url).content.decode()

    assert re.findall(rf'<p class="dummy-panel">hello {reviewer.username} in (\w+)', html) == slots  # in page order
    tokens = re.findall(r'<p class="dummy-panel">[^<]*<input name="csrfmiddlewaretoken" value="(\w*)">', html)
    assert len(tokens) == len(slots) and all(tokens)  # the page's csrf_token reaches the partial
    assert {o.page for o in seen} == {page}
    assert all(o.model == (churn if page != "model_list" else None) for o in seen)
    assert all((o.version.version if o.version else None) == (2 if page == "version" else None) for o in seen)
    for slot in slots:
        panels.unregister(f"dummy.{slot}")
    assert "dummy-panel" not in client_in.get(url).content.decode()


def test_panels_of_a_slot_come_in_their_order(client_in, churn, dummy_templates, register):
    for name, order in (("late", 5), ("early", -5)):
        register(
            Panel(f"dummy.{name}", "model", "end", lambda o, name=name: {"greeting": name}, "dummy/panel.html", order)
        )

    html = client_in.get("/models/Churn/").content.decode()

    assert re.findall(r'<p class="dummy-panel">(\w+)', html) == ["early", "late"]


@pytest.mark.parametrize(("page", "url", "rows"), [("model_list", "/", 1), ("model", "/models/Churn/", 3)])
def test_a_registered_column_fills_every_row_from_one_selector_call(
    client_in, churn, dummy_templates, register, page, url, rows
):
    calls = []

    def values(objects, page_rows):
        calls.append(list(page_rows))
        return {row.pk: f"value{row.pk}" for row in page_rows}

    register(Column("dummy.column", page, "Dummy heading", values, "dummy/cell.html"))

    html = client_in.get(url).content.decode()

    assert len(calls) == 1 and len(calls[0]) == rows
    assert '<th scope="col">Dummy heading</th>' in html
    for row in calls[0]:
        assert f'<td><span class="dummy-cell">value{row.pk} of {row.pk}</span></td>' in html


def test_a_table_without_rows_spans_the_added_columns(client_in, dummy_templates, register):
    register(Column("dummy.column", "model_list", "Dummy", lambda objects, rows: {}, "dummy/cell.html"))
    html = client_in.get("/?q=nothing-matches").content.decode()
    columns = len(re.findall(r'<th scope="col"', html.split("<thead>", 1)[1].split("</thead>", 1)[0]))
    assert f'<td colspan="{columns}" class="empty">' in html


def test_fragments_run_only_the_selectors_they_render(client_in, churn, dummy_templates, register):
    ran = []
    register(Panel("dummy.panel", "model", "top", lambda o: ran.append("panel") or {}, "dummy/panel.html"))
    register(Column("dummy.column", "model", "Dummy", lambda o, rows: ran.append("column") or {}, "dummy/cell.html"))

    client_in.get("/models/Churn/?chart=accuracy", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="chart")
    assert ran == []
    client_in.get("/models/Churn/?page=1", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="versions")
    assert ran == ["column"]


def test_a_selector_result_shared_through_the_page_is_computed_once(client_in, churn, dummy_templates, register):
    computed = []

    def shared(objects):
        return objects.once("dummy.shared", lambda: computed.append(1) or "shared")

    register(Panel("dummy.panel", "model", "top", lambda o: {"greeting": shared(o)}, "dummy/panel.html"))
    register(
        Column("dummy.column", "model", "Dummy", lambda o, rows: {r.pk: shared(o) for r in rows}, "dummy/cell.html")
    )

    html = client_in.get("/models/Churn/").content.decode()

    assert computed == [1]
    assert html.count("shared") == 1 + 3


def test_a_panel_for_a_slot_the_page_lacks_is_refused():
    with pytest.raises(ValueError, match="no slot 'sidebar' on page 'version'"):
        Panel("dummy.panel", "version", "sidebar", dict, "dummy/panel.html")
    with pytest.raises(ValueError, match="page 'version' has no table"):
        Column("dummy.column", "version", "Dummy", dict, "dummy/cell.html")


def test_every_slot_is_rendered_by_its_page_template():
    templates = {"model_list": "model_list.html", "model": "model_detail.html", "version": "version_detail.html"}
    for page, slots in panels.SLOTS.items():
        text = (TEMPLATES_DIR / templates[page]).read_text()
        assert re.findall(r"\{% for panel in panels\.(\w+) %\}", text) == list(slots)
    for page in panels.TABLES:
        assert "{% render_cell column" in (TEMPLATES_DIR / templates[page]).read_text()


def test_registry_templates_load_no_tag_library_of_another_app():
    """registry never imports approvals or cards: its templates do not load their tag libraries either."""
    ours = {"registry_tags", "partials", "humanize", "l10n", "static"}
    for path in TEMPLATES_DIR.glob("*.html"):
        for load in re.findall(r"\{% load (.+?) %\}", path.read_text()):
            libraries = set(load.split(" from ")[-1].split()) if " from " in load else set(load.split())
            assert libraries <= ours, (path.name, load)


# --- the approvals and cards panels, as the pages assemble them ----------------------------------


def test_the_version_page_computes_the_content_digest_once(client, owner, monkeypatch):
    """Every panel of the version page in its richest state (a check run, an open request, a saved card):
    the version's content digest is computed once (it costs two queries)."""
    from approvals import digest
    from approvals.models import CheckRun, TransitionRequest
    from cards.models import CardRevision, ModelCard

    model = make_model("Churn", owner=owner.username)
    make_version(model, 1, stage="Production", metrics={"accuracy": 0.8})
    version = make_version(model, 2, stage="Staging", metrics={"accuracy": 0.9})
    card = ModelCard.objects.create(model_name="Churn", version=2, model_version=version)
    CardRevision.objects.create(card=card, number=1, author=owner.username, summary="first", sections={})
    TransitionRequest.objects.create(
        version=version,
        model_name="Churn",
        version_number=2,
        from_stage="Staging",
        to_stage="Production",
        justification="better",
        requested_by=owner,
        required_approvals=2,
    )
    CheckRun.objects.create(
        version=version,
        model_name="Churn",
        version_number=2,
        stage="Production",
        content_digest="an older digest",
        status=CheckRun.PASSED,
        requested_by=owner.username,
        finished_at=timezone.now(),
    )
    computed = []
    digest_of = digest.digest_of
    monkeypatch.setattr(digest, "digest_of", lambda content: computed.append(1) or digest_of(content))
    client.force_login(owner)

    html = client.get("/models/Churn/versions/2/").content.decode()

    assert 'id="request-panel"' in html and 'id="checks"' in html and 'id="model-card"' in html
    assert "Stale: the run data" in html  # the checks panel compared the digest
    assert computed == [1]
