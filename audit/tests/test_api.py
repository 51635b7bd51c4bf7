"""API v1 of the audit log: who reads it (as the page), its filters and their errors, the chain verifier."""

import pytest
from django.db import connection
from django.test import Client

from accounts.services import api_token_create
from audit.services import PendingEvent, Target, record_many

API = "/api/v1"


@pytest.fixture
def events(owner):
    def event(model, version, action, actor="system:sync"):
        target = Target(type="model_version", id=f"{model}/{version}", model_name=model, version=version)
        return PendingEvent(actor, action, target, {"score": float("nan")})

    return record_many(
        [
            event("churn", 1, "registry.version_created"),
            event("churn", 2, "registry.version_created"),
            event("churn", 2, "request.created", actor=owner),
            event("fraud", 1, "registry.version_created"),
        ]
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_leads_read_the_log_newest_first_with_filters(lead, events):
    client = signed_in(lead)
    body = client.get(f"{API}/audit").json()
    # The lead's sign-in is the fifth event.
    assert body["count"] == 5 and [e["seq"] for e in body["items"]] == [5, 4, 3, 2, 1]
    assert body["items"][0]["action"] == "auth.login"
    assert body["items"][1]["data"] == {"score": "nan"}  # stored JSON-safe by audit.storable
    seqs = lambda **query: [e["seq"] for e in client.get(f"{API}/audit", query).json()["items"]]  # noqa: E731
    assert seqs(model="churn") == [3, 2, 1] and seqs(model="churn", version=2) == [3, 2]
    assert seqs(actor="olga-owner") == [3] and seqs(action="request.created") == [3]
    assert seqs(page=2, page_size=3) == [2, 1]


def test_a_token_reads_as_its_user(admin_user, events):
    _, secret = api_token_create(actor=admin_user, user=admin_user, name="ci")
    response = Client().get(f"{API}/audit", HTTP_AUTHORIZATION=f"Bearer {secret}")
    # Creating the token was an audit event too.
    assert response.status_code == 200 and response.json()["items"][0]["action"] == "token.created"


@pytest.mark.parametrize("persona", ["owner", "reviewer_a", "outsider"])
def test_others_are_refused_as_on_the_page(request, persona, events):
    response = signed_in(request.getfixturevalue(persona)).get(f"{API}/audit")
    assert response.status_code == 403
    assert response.json() == {"detail": "only ml-leads and admins may read the whole audit log", "code": "forbidden"}
    assert signed_in(request.getfixturevalue(persona)).get(f"{API}/audit/verify").status_code == 403


def test_anonymous_is_401(client, events):
    assert client.get(f"{API}/audit").status_code == 401
    assert client.get(f"{API}/audit/verify").status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ({"version": 2}, 400, "version"),  # a version needs a model, as on the page
        ({"action": "no.such"}, 400, "action"),
        ({"date_from": "2026-02-02", "date_to": "2026-02-01"}, 400, "date_to"),
        ({"date_from": "yesterday"}, 422, "date_from"),
        ({"version": "x", "model": "churn"}, 422, "version"),
    ],
)
def test_bad_filters_name_the_field(lead, events, query, status, field):
    response = signed_in(lead).get(f"{API}/audit", query)
    assert response.status_code == status and field in response.json()["detail"]
    assert field in str(response.json()["errors"])


def test_verify_reports_an_intact_chain_then_the_first_broken_event(lead, events):
    client = signed_in(lead)
    body = client.get(f"{API}/audit/verify").json()
    assert body["intact"] is True and body["count"] == body["head_seq"] == 5 and body["broken_seq"] is None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET actor = 'mallory' WHERE seq = 2")
    broken = client.get(f"{API}/audit/verify").json()
    assert broken["intact"] is False and broken["broken_seq"] == 2 and "hash" in broken["reason"]
