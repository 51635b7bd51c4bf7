import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Target, anonymous_actor, canonical_json, record, verify_chain

from .conftest import append, version_event

pytestmark = pytest.mark.django_db

URL = reverse("audit:log")


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture
def dated_events(monkeypatch, lead):
    """Events on three days, by three actors, for two models."""
    from audit.services import record_many

    days = {
        datetime(2026, 3, 1, 9, tzinfo=UTC): [version_event("churn", 1), version_event("fraud", 1)],
        datetime(2026, 3, 2, 23, 59, tzinfo=UTC): [version_event("churn", 2, "registry.stage_changed", lead)],
        datetime(2026, 3, 3, 0, 0, tzinfo=UTC): [version_event("churn", 2, "review.approved", "system:worker")],
    }
    for moment, events in days.items():
        monkeypatch.setattr(timezone, "now", lambda moment=moment: moment)
        record_many(events)
    monkeypatch.undo()


def seqs(response) -> list[int]:
    return [int(seq) for seq in re.findall(r'<tr id="event-(\d+)">', response.content.decode())]


def test_it_needs_a_signed_in_user(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_is_forbidden_to_users_outside_ml_leads(client, outsider):
    append(2)
    client.force_login(outsider)

    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv"}).status_code == 403


@pytest.mark.parametrize(("persona", "shown"), [("outsider", False), ("lead", True), ("admin_user", True)])
def test_the_nav_links_the_log_only_for_leads_and_admins(rf, request, persona, shown):
    page = rf.get("/")
    page.user = request.getfixturevalue(persona)

    assert (f'<a href="{URL}">Audit log</a>' in render_to_string("base.html", request=page)) is shown


@pytest.mark.parametrize("persona", ["lead", "admin_user"])
def test_leads_and_admins_see_the_whole_log_newest_first(client, request, persona):
    append(3)
    client.force_login(request.getfixturevalue(persona))

    response = client.get(URL)

    assert response.status_code == 200
    # force_login itself recorded an auth.login event: #4.
    assert seqs(response) == [4, 3, 2, 1]
    assert f'href="{URL}"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"model": "churn"}, [4, 3, 1]),
        ({"model": "churn", "version": "2"}, [4, 3]),
        ({"actor": "system:worker"}, [4]),
        ({"actor": "lena-lead"}, [5, 3]),
        ({"action": "registry.version_created"}, [2, 1]),
        ({"date_from": "2026-03-02", "date_to": "2026-03-02"}, [3]),
        ({"date_from": "2026-03-02"}, [5, 4, 3]),
        ({"date_to": "2026-03-01"}, [2, 1]),
        ({"model": "nobody"}, []),
    ],
)
def test_it_filters(client, lead, dated_events, query, expected):
    client.force_login(lead)  # event #5, today

    response = client.get(URL, query)

    assert response.status_code == 200
    assert seqs(response) == expected


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"version": "two", "model": "churn"}, "Enter a whole number."),
        ({"version": "2"}, "Choose a model to filter by version."),
        ({"action": "registry.hacked"}, "Select a valid choice."),
        ({"date_from": "2026-13-45"}, "Enter a valid date."),
        ({"date_from": "2026-03-03", "date_to": "2026-03-01"}, "The end date is before the start date."),
        ({"actor": "x" * 151}, "Ensure this value has at most 150 characters"),
    ],
)
def test_bad_filters_are_form_errors_not_crashes(lead_client, query, error):
    append(2)

    response = lead_client.get(URL, query)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert seqs(response) == []


def test_the_htmx_branch_swaps_only_the_results(lead_client):
    append(2)

    response = lead_client.get(URL, {"model": "churn"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results">')
    assert "<html" not in body and "<form" not in body
    assert seqs(response) == [3, 2]
    assert "?model=churn&amp;format=csv" in body


def test_bad_filters_show_in_the_htmx_results(lead_client):
    response = lead_client.get(URL, {"date_from": "yesterday"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "From: Enter a valid date." in response.content.decode()


def test_it_paginates_and_keeps_the_filter_in_page_links(lead_client):
    append(60)

    first = lead_client.get(URL, {"model": "churn"})
    second = lead_client.get(URL, {"model": "churn", "page": 2})

    # #1 is the lead's sign-in.
    assert seqs(first) == list(range(61, 11, -1))
    assert seqs(second) == list(range(11, 1, -1))
    assert "?model=churn&amp;page=2" in first.content.decode()


@pytest.mark.parametrize("size", [3, 40])
def test_the_query_count_does_not_grow_with_the_page(client, lead, django_assert_num_queries, size):
    append(size)
    client.force_login(lead)

    # session, user, ml-leads membership (shared with the nav link), count, page, the footer's last sync,
    # the Reviews nav badge
    with django_assert_num_queries(7):
        response = client.get(URL, {"model": "churn"})

    assert len(seqs(response)) == size


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_it_exports_the_filtered_view_as_csv_in_chain_order(dated_events, lead_client):
    response = lead_client.get(URL, {"model": "churn", "page": 3, "format": "csv"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert [row["seq"] for row in rows] == ["1", "3", "4"]
    assert rows[1]["actor"] == "lena-lead"
    assert rows[1]["created_at"] == "2026-03-02T23:59:00+00:00"
    assert rows[0]["version"] == "1" and rows[0]["data"] == "{}"
    stored = AuditEvent.objects.get(seq=3)
    assert (rows[1]["prev_hash"], rows[1]["hash"]) == (stored.prev_hash, stored.hash)


def test_it_exports_json_lines_that_rebuild_each_hash(lead_client):
    append(3, run_id="abc")

    response = lead_client.get(URL, {"format": "jsonl", "action": "registry.version_created"})

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = [json.loads(line) for line in streamed(response).splitlines()]
    assert [line["seq"] for line in lines] == [2, 3, 4]
    assert lines[0]["data"] == {"run_id": "abc"}
    assert lines[0]["target_id"] == "churn/1"
    for line in lines:
        prev_hash, stored_hash = line.pop("prev_hash"), line.pop("hash")
        assert hashlib.sha256((prev_hash + canonical_json(line)).encode()).hexdigest() == stored_hash


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(lead_client):
    record(
        actor=anonymous_actor("=HYPERLINK(evil)"),
        action="auth.login_failed",
        target=Target(type="user", id="=HYPERLINK(evil)"),
        data={},
    )

    response = lead_client.get(URL, {"format": "csv", "action": "auth.login_failed"})
    rows = list(csv.DictReader(io.StringIO(streamed(response))))

    assert rows[0]["target_id"] == "'=HYPERLINK(evil)"
    assert rows[0]["actor"] == "anonymous:=HYPERLINK(evil)"
    assert verify_chain().intact


@pytest.mark.parametrize("query", [{"format": "xlsx"}, {"format": "csv", "date_from": "soon"}])
def test_an_export_with_bad_input_is_a_400_naming_the_problem(lead_client, query):
    response = lead_client.get(URL, query)

    assert response.status_code == 400
    assert "the filter is invalid" in response.content.decode()
