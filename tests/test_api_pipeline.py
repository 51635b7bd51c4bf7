"""A pipeline's flow through the API only, against a real ``mlflow server``, a real Celery worker and Redis.

A training job registers a version in MLflow; then, with nothing but bearer tokens and ``/api/v1/``: a sync
(polled until done), a Production request by the owner, two approvals by two reviewers' tokens, polling
until the worker applied it; MLflow (read directly) shows the version in Production and the gate allows
it. Then someone moves another version into Production by hand in MLflow: after a sync the gate refuses
with that reason (409).

The worker runs the sync, the checks, the apply and the out-of-band detection from Redis (``live_worker``:
a subprocess on PostgreSQL in CI, a thread beside the in-memory SQLite database locally). The API calls go
through Django's test client in this process, which the worker does not need.
"""

import time
import uuid

import pytest

from accounts.services import api_token_create
from approvals.models import Policy
from tests.factories import make_owner

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 120  # seconds for the worker to finish a step (the session's mlflow server is on the same 2 cores)


class Api:
    """``/api/v1/`` as a pipeline calls it: JSON in and out, ``Authorization: Bearer`` with one persona's token."""

    def __init__(self, client, user):
        self.client = client
        self.secret = api_token_create(actor=user, user=user, name="pipeline")[1]

    def get(self, path, **query):
        return self.client.get(f"/api/v1{path}", query, HTTP_AUTHORIZATION=f"Bearer {self.secret}")

    def post(self, path, body=None):
        return self.client.post(
            f"/api/v1{path}", body or {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.secret}"
        )


def poll(fetch, done, what: str, timeout: float = TIMEOUT):
    """``fetch()`` until ``done(answer)``; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last answer {answer}")
        time.sleep(0.3)


def sync(api, path="/sync") -> dict:
    started = api.post(path)
    assert started.status_code == 202, started.json()
    run_id = started.json()["sync_run_id"]
    run = poll(lambda: api.get(f"/sync/{run_id}").json(), lambda r: r["is_done"], f"sync run {run_id}")
    assert run["status"] == "succeeded", run
    return run


def test_a_pipeline_files_gets_approved_deploys_and_the_gate_sees_a_hand_change(
    client, mlflow_remote, live_worker, shared_memory_db_waits, owner, reviewer_a, reviewer_b
):
    # mlflow_remote comes before live_worker: the worker subprocess takes its MLFLOW_TRACKING_URI.
    Policy.objects.update_or_create(
        model_name="",
        defaults={
            "rules": {
                "Production": [
                    {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
                    {"id": "approvals", "type": "required_approvals", "count": 2},
                ]
            }
        },
    )
    world, mlflow = mlflow_remote, mlflow_remote.client
    name = f"churn-api-{uuid.uuid4().hex[:6]}"
    mlflow.create_registered_model(name, tags={"owner": owner.username})
    # The training job: v1 (the one to ship) in Staging, v2 a later candidate.
    world.create_version(name, stage="Staging", metrics={"accuracy": 0.95})
    world.create_version(name, stage="Staging", metrics={"accuracy": 0.93})
    pipeline, rita, rob = Api(client, owner), Api(client, reviewer_a), Api(client, reviewer_b)

    # A reviewer syncs the registry; an admin makes the pipeline's user the model's owner (the MLflow tag only
    # suggests it: docs/roles.md).
    sync(rita)
    make_owner(name, owner)
    version = pipeline.get(f"/models/{name}/versions/1")
    assert version.status_code == 200, version.json()
    assert version.json()["stage"] == "Staging"
    before = pipeline.get(f"/gate/{name}", stage="Production")
    assert before.status_code == 409
    assert "no_version_in_stage" in {r["code"] for r in before.json()["reasons"]}

    filed = pipeline.post(
        f"/models/{name}/versions/1/requests", {"to_stage": "Production", "justification": "accuracy 0.95"}
    )
    assert filed.status_code == 201, filed.json()
    request_id = filed.json()["id"]
    assert filed.json()["required_approvals"] == 2

    # The checks run on the worker; a reviewer may review once they passed.
    poll(
        lambda: rita.get(f"/requests/{request_id}").json(),
        lambda r: r["checks_state"] == "passed" and r["actions"]["review"],
        "checks of the request",
    )
    for reviewer in (rita, rob):
        review = reviewer.post(f"/requests/{request_id}/reviews", {"decision": "approve", "comment": "looks good"})
        assert review.status_code == 201, review.json()

    applied = poll(
        lambda: pipeline.get(f"/requests/{request_id}").json(),
        lambda r: r["status"] in ("applied", "failed"),
        "the apply",
    )
    assert applied["status"] == "applied", applied
    assert {r["reviewer"] for r in applied["reviews"]} == {reviewer_a.username, reviewer_b.username}
    assert mlflow.get_model_version(name, "1").current_stage == "Production"

    gate = pipeline.get(f"/gate/{name}", stage="Production")
    assert gate.status_code == 200, gate.json()
    allowed = gate.json()
    assert (allowed["allowed"], allowed["version"], allowed["request_id"]) == (True, 1, request_id)
    assert sorted(allowed["approved_by"]) == sorted([reviewer_a.username, reviewer_b.username])
    assert allowed["checks"]["status"] == "passed"

    # Someone with EDIT rights in MLflow moves v2 into Production by hand, archiving v1.
    world.transition(name, 2, "Production", archive=True)
    sync(pipeline, f"/models/{name}/sync")  # an owner syncs their own model
    # The detection of the change runs on the worker after the sync: poll until the gate names it.
    refused = poll(
        lambda: pipeline.get(f"/gate/{name}", stage="Production"),
        lambda r: r.status_code == 409 and "unapproved_transition" in {x["code"] for x in r.json()["reasons"]},
        "the gate's refusal of the hand change",
    ).json()
    assert (refused["allowed"], refused["version"], refused["code"]) == (False, 2, "gate_refused")
    codes = {reason["code"] for reason in refused["reasons"]}
    assert codes == {"no_applied_request", "unapproved_transition"}, refused["reasons"]
    assert any("Production" in r["message"] for r in refused["reasons"] if r["code"] == "unapproved_transition")
    # The version the portal shipped is no longer in Production either.
    shipped = pipeline.get(f"/gate/{name}", stage="Production", version=1)
    assert shipped.status_code == 409
    assert "not_in_stage" in {reason["code"] for reason in shipped.json()["reasons"]}
