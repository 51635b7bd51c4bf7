"""API v1 for requests, reviews and dry runs: the same answers as the pages, persona by persona.

Who may do what is pinned by tests/test_permission_matrix.py for the pages; here each endpoint answers each
persona the same through a bearer token (anonymous: 401). Tasks queued on commit do not run unless a test
captures them: the check run stays queued, the apply is never attempted.
"""

import pytest
from django.contrib.auth.models import Group

from approvals import services
from approvals.api import latest_check_run_extra, open_request_extra
from approvals.models import Policy, Review, TransitionRequest
from registry_portal.roles import REVIEWERS
from tests.factories import complete_sections, file_request, write_card

pytestmark = pytest.mark.django_db
PERSONAS = ("anonymous", "outsider", "owner", "reviewer_a", "reviewer_b", "lead", "admin")


@pytest.fixture
def call(api):
    return api


@pytest.fixture
def staging(mirror):
    """Churn v1 in Production, v2 in Staging (ready for review), owned by the ``owner`` persona; a policy
    of an accuracy threshold and two approvals for Production, which v2 passes."""
    rules = [
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ]
    Policy.objects.update_or_create(model_name="", defaults={"rules": {"Production": rules}})
    mirror.version("Churn", stage="Production")
    return mirror.version("Churn", stage="Staging")


@pytest.fixture
def pending(staging, owner, django_capture_on_commit_callbacks):
    """A Production request for v2 whose checks ran (eagerly)."""
    return file_request(owner, staging, capture=django_capture_on_commit_callbacks)


# --- filing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_filing_answers_each_persona_as_the_page_does(call, staging, persona):
    response = call(
        persona, "post", "/models/Churn/versions/2/requests", {"to_stage": "Production", "justification": "better"}
    )
    expected = {"anonymous": 401, "owner": 201, "admin": 201}.get(persona, 403)
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json() == {
            "detail": "only the model's owner or an admin may request a transition",
            "code": "forbidden",
        }


def test_a_filed_request_answers_201_with_the_request(call, staging):
    response = call(
        "owner", "post", "/models/Churn/versions/2/requests", {"to_stage": "Production", "justification": "better"}
    )
    assert response.status_code == 201
    body = response.json()
    request = TransitionRequest.objects.get()
    assert (body["id"], body["status"], body["from_stage"], body["to_stage"]) == (
        request.pk,
        "pending",
        "Staging",
        "Production",
    )
    assert (body["requested_by"], body["required_approvals"], body["reviews"]) == ("olga-owner", 2, [])
    assert body["checks_state"] == "running"


def test_a_second_request_is_a_409_with_the_reason(call, pending):
    response = call(
        "owner", "post", "/models/Churn/versions/2/requests", {"to_stage": "Production", "justification": "again"}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == f"v2 already has an open request: #{pending.pk} (pending)"


def test_bad_input_names_the_field(call, staging):
    response = call("owner", "post", "/models/Churn/versions/2/requests", {"to_stage": "Staging", "justification": " "})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"to_stage", "justification"}
    assert call("owner", "post", "/models/Churn/versions/2/requests", {"to_stage": "Production"}).status_code == 422
    assert (
        call(
            "owner", "post", "/models/Churn/versions/9/requests", {"to_stage": "Production", "justification": "x"}
        ).status_code
        == 404
    )


# --- reading ----------------------------------------------------------------------------------


def test_a_request_shows_reviews_with_staleness_and_checks_with_evidence(call, pending, reviewer_a, staging):
    services.review_submit(actor=reviewer_a, request=pending, decision="approve", comment="fine")
    fresh = call("outsider", "get", f"/requests/{pending.pk}").json()
    assert [(r["reviewer"], r["decision"], r["stale"]) for r in fresh["reviews"]] == [
        ("rita-reviewer", "approve", False)
    ]
    assert fresh["fresh_approvals"] == 1
    assert fresh["checks_state"] == "passed" and fresh["checks"]["status"] == "passed"
    accuracy = fresh["checks"]["results"][0]
    assert (accuracy["rule_id"], accuracy["status"], accuracy["evidence"]["value"]) == ("accuracy", "passed", 0.93)
    assert fresh["actions"] == {
        "review": False,
        "review_refusal": f"only members of {REVIEWERS} may review",
        "withdraw": False,
        "retry": False,
        "comment": False,
        "comment_refusal": "only reviewers, ML leads, the requester, the model's owners and admins may comment",
    }

    write_card(staging, complete_sections())  # the content changes: the approval no longer counts
    stale = call("reviewer_b", "get", f"/requests/{pending.pk}").json()
    assert [r["stale"] for r in stale["reviews"]] == [True]
    assert (stale["fresh_approvals"], stale["checks_state"], stale["checks"]) == (0, "missing", None)
    assert stale["actions"]["review"] is True
    assert call("anonymous", "get", f"/requests/{pending.pk}").status_code == 401
    assert call("outsider", "get", "/requests/999999").status_code == 404


def test_the_queue_lists_what_waits_for_me(call, pending, reviewer_a):
    waiting = call("reviewer_a", "get", "/requests", waiting_for="me").json()
    assert (waiting["list"], waiting["count"], [r["id"] for r in waiting["results"]]) == ("waiting", 1, [pending.pk])
    assert call("owner", "get", "/requests", waiting_for="me").json()["count"] == 0  # the requester
    services.review_submit(actor=reviewer_a, request=pending, decision="reject", comment="not yet")
    assert call("reviewer_a", "get", "/requests", waiting_for="me").json()["count"] == 0
    decided = call("outsider", "get", "/requests", status="decided").json()
    assert [(r["id"], r["status"]) for r in decided["results"]] == [(pending.pk, "rejected")]
    assert call("outsider", "get", "/requests").json()["count"] == 0
    rejected = call("outsider", "get", "/requests", status="rejected").json()
    assert (rejected["list"], [r["id"] for r in rejected["results"]]) == ("rejected", [pending.pk])
    assert call("outsider", "get", "/requests", status="applied").json()["count"] == 0
    assert call("outsider", "get", "/requests", status="sideways").status_code == 422


# --- reviewing, withdrawing ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("decision", "comment"), [("approve", ""), ("reject", "not yet")])
def test_reviewing_answers_each_persona_as_the_page_does(call, pending, persona, decision, comment):
    response = call(persona, "post", f"/requests/{pending.pk}/reviews", {"decision": decision, "comment": comment})
    expected = {"anonymous": 401, "reviewer_a": 201, "reviewer_b": 201}.get(persona, 403)
    assert response.status_code == expected, response.content
    if expected == 201:
        body = response.json()
        assert body["reviews"][0]["decision"] == decision
        assert body["status"] == ("rejected" if decision == "reject" else "pending")


def test_review_refusals_carry_their_reason(call, pending):
    assert call("owner", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"}).json()["detail"] == (
        "you requested this: someone else must review it"
    )
    assert call("reviewer_a", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"}).status_code == 201
    again = call("reviewer_a", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"})
    assert (again.status_code, again.json()["detail"]) == (409, "you already approved this request")
    no_reason = call("reviewer_b", "post", f"/requests/{pending.pk}/reviews", {"decision": "reject"})
    assert (no_reason.status_code, list(no_reason.json()["errors"])) == (400, ["comment"])
    assert call("reviewer_b", "post", f"/requests/{pending.pk}/reviews", {"decision": "maybe"}).status_code == 422
    assert Review.objects.count() == 1


def test_two_approvals_approve_the_request(call, pending):
    call("reviewer_a", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"})
    body = call("reviewer_b", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"}).json()
    assert (body["status"], body["fresh_approvals"]) == ("approved", 2)


@pytest.mark.parametrize("persona", PERSONAS)
def test_withdrawing_answers_each_persona_as_the_page_does(call, pending, persona):
    response = call(persona, "post", f"/requests/{pending.pk}/withdraw")
    expected = {"anonymous": 401, "owner": 200, "admin": 200}.get(persona, 403)
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["status"] == "withdrawn"
        again = call(persona, "post", f"/requests/{pending.pk}/withdraw")
        assert (again.status_code, again.json()["detail"]) == (
            409,
            f"request #{pending.pk} is withdrawn: it cannot become withdrawn",
        )


# --- dry run ------------------------------------------------------------------------------------


def test_a_dry_run_evaluates_every_rule_with_evidence_and_stores_nothing(call, staging):
    from approvals.models import CheckRun

    response = call("outsider", "get", "/checks/Churn/2", stage="Production")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["model_name"], body["version"], body["stage"]) == ("Churn", 2, "Production")
    assert body["results"] and all({"rule_id", "status", "message", "evidence"} <= set(r) for r in body["results"])
    assert body["passed"] is (not any(r["status"] == "failed" for r in body["results"]))
    assert not CheckRun.objects.exists()
    assert call("outsider", "get", "/checks/Churn/2", stage="Nowhere").status_code == 400
    assert call("outsider", "get", "/checks/Churn/9").status_code == 404
    assert call("anonymous", "get", "/checks/Churn/2").status_code == 401


# --- what the version endpoint adds -----------------------------------------------------------------


def test_the_version_extras_show_the_open_request_and_the_latest_check_run(call, pending, staging, outsider):
    extras = call("outsider", "get", "/models/Churn/versions/2").json()["extras"]
    assert (extras["open_request"]["id"], extras["latest_check_run"]["status"]) == (pending.pk, "passed")
    assert extras["card"] == {"revision": None, "complete": False, "percent": 0, "publication": None}
    assert open_request_extra(outsider, staging)["id"] == pending.pk
    latest = latest_check_run_extra(outsider, staging)
    assert (latest["status"], latest["stage"], latest["is_stale"]) == ("passed", "Production", False)
    services.transition_request_withdraw(actor=pending.requested_by, request=pending)
    assert open_request_extra(outsider, staging) is None


def test_a_reviewer_removed_from_the_group_is_refused_by_the_api_too(call, pending, reviewer_a):
    reviewer_a.groups.remove(Group.objects.get(name=REVIEWERS))
    assert call("reviewer_a", "post", f"/requests/{pending.pk}/reviews", {"decision": "approve"}).status_code == 403
