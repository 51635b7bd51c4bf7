"""Races on PostgreSQL: reviewers deciding at once, double clicks. Threads, real commits, a real `mlflow server`."""

import threading
import uuid

import pytest
from django.db import connections
from mlflow import MlflowClient

from approvals import services
from approvals.models import CheckRun, Policy, Review, TransitionRequest
from audit.models import AuditEvent
from conftest import member
from registry.sync import sync_registry
from registry_portal.roles import REVIEWERS
from tests.factories import GOOD_TAGS, file_request, make_owner, version_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TRANSITIONS = "/api/2.0/mlflow/model-versions/transition-stage"


def at_once(calls):
    """Run the calls in threads released together; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture
def race(mlflow_remote, mlflow_server, owner):
    """A fresh model on the shared server: v1 Production, v2 Staging; a Production request for v2 with passing checks."""
    # Transactional tests flush the default policy row the data migration made.
    policy = Policy.objects.filter(model_name="").first() or Policy(model_name="")
    policy.rules = {"Production": [{"type": "required_approvals", "count": 2}]}
    services.policy_save(actor="system:worker", policy=policy)
    name = f"Race-{uuid.uuid4().hex[:8]}"
    mlflow_remote.client.create_registered_model(name, tags={"owner": owner.username})
    mlflow_remote.create_version(name, stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
    mlflow_remote.create_version(name, stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
    sync_registry(model_name=name)
    make_owner(name, owner)
    request = file_request(owner, version_of(name, 2), justification="race")
    assert CheckRun.objects.get(request=request).status == CheckRun.PASSED  # committed: the eager task ran
    return name, request


def test_three_reviewers_racing_for_a_quorum_of_two_apply_once(race, mlflow_server, reviewer_a, reviewer_b):
    name, request = race
    reviewers = [reviewer_a, reviewer_b, member("rosa-reviewer", REVIEWERS)]
    transitions_before = mlflow_server.requests_to(TRANSITIONS)

    results = at_once(
        [lambda r=r: services.review_submit(actor=r, request=request, decision="approve") for r in reviewers]
    )

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], services.RequestConflict), results
    assert Review.objects.filter(request=request).count() == 2
    request.refresh_from_db()
    assert request.status == TransitionRequest.APPLIED
    assert mlflow_server.requests_to(TRANSITIONS) - transitions_before == 1
    assert AuditEvent.objects.filter(action="request.applied", target_id=str(request.pk)).count() == 1
    assert AuditEvent.objects.filter(action="request.approved", target_id=str(request.pk)).count() == 1
    client = MlflowClient(mlflow_server.url, registry_uri=mlflow_server.url)
    assert client.get_model_version(name, "2").current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"


def test_twenty_identical_approvals_from_one_reviewer_store_one_review(race, reviewer):
    _, request = race

    results = at_once([lambda: services.review_submit(actor=reviewer, request=request, decision="approve")] * 20)

    assert sum(isinstance(r, Review) for r in results) == 1
    assert all(isinstance(r, services.RequestConflict) for r in results if not isinstance(r, Review)), results
    assert Review.objects.filter(request=request).count() == 1
    assert AuditEvent.objects.filter(action="review.approved").count() == 1
    request.refresh_from_db()
    assert request.status == TransitionRequest.PENDING  # one approval of two


def test_concurrent_claims_have_one_winner(race):
    _, request = race
    TransitionRequest.objects.filter(pk=request.pk).update(status=TransitionRequest.APPROVED)
    results = at_once([lambda: services.transition_request_claim(request_id=request.pk)] * 10)
    assert sum(bool(r) for r in results) == 1, results
    assert AuditEvent.objects.filter(action="request.apply_started").count() == 1


def test_two_owners_filing_at_once_get_one_open_request(race):
    name, request = race
    services.transition_request_withdraw(actor=request.requested_by, request=request)
    version = version_of(name, 2)
    owner = request.requested_by
    results = at_once([lambda: file_request(owner, version, to_stage="Archived", justification="retire")] * 5)
    assert sum(isinstance(r, TransitionRequest) for r in results) == 1, results
    assert TransitionRequest.objects.open().filter(model_name=name).count() == 1


def test_twenty_identical_approve_posts_from_one_reviewer_store_one_review(race, reviewer):
    """A double (or twenty-fold) click: every POST goes through the page, one review is stored."""
    from django.test import Client
    from django.urls import reverse

    _, request = race
    url = reverse("approvals:review_submit", args=[request.pk])

    def post():
        client = Client()
        client.force_login(reviewer)
        return client.post(url, {"decision": "approve", "comment": "ok"}).status_code

    codes = at_once([post] * 20)

    assert sorted(set(codes)) == [302, 409] and codes.count(302) == 1, codes
    assert Review.objects.filter(request=request).count() == 1
    assert AuditEvent.objects.filter(action="review.approved").count() == 1
