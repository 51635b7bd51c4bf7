"""Transition requests: who may file and review them, the state machine, quorum and staleness.

Requests that reach quorum are applied to a real MLflow store (a temp SQLite store; eager tasks).
"""

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from mlflow import MlflowClient

from approvals import access, selectors, services
from approvals.digest import version_content_digest
from approvals.models import CheckRun, Policy, Review, TransitionRequest
from audit.models import AuditEvent
from conftest import member
from registry.sync import sync_registry
from registry.tests.mlflow_helpers import frame
from registry_portal.roles import REVIEWERS
from tests.factories import (
    GOOD_TAGS,
    complete_sections,
    deliver_notifications,
    file_request,
    make_owner,
    version_of,
    write_card,
)

pytestmark = pytest.mark.django_db

SIMPLE_RULES = {
    "Staging": [{"id": "approvals", "type": "required_approvals", "count": 1}],
    "Production": [
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ],
    "Archived": [{"id": "approvals", "type": "required_approvals", "count": 1}],
}


@pytest.fixture
def simple_policy(db):
    policy = Policy.objects.get(model_name="")
    policy.rules = SIMPLE_RULES
    services.policy_save(actor="system:worker", policy=policy)
    return policy


@pytest.fixture
def reviewers(reviewer_a, reviewer_b):
    return reviewer_a, reviewer_b, member("rosa-reviewer", REVIEWERS)


@pytest.fixture
def world(mlflow_store, simple_policy, owner):
    """Churn in a real MLflow store: v1 Production, v2 Staging (accuracy 0.93), owned by the owner; synced."""
    mlflow_store.client.create_registered_model("Churn", tags={"owner": owner.username})
    mlflow_store.create_version("Churn", stage="Production", metrics={"accuracy": 0.91}, tags=GOOD_TAGS)
    mlflow_store.create_version(
        "Churn", stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS, dataset=("churn-data", frame())
    )
    sync_registry()
    make_owner("Churn", owner)
    return mlflow_store


def fresh(request) -> TransitionRequest:
    return TransitionRequest.objects.get(pk=request.pk)


def actions(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def filed(world, owner, django_capture_on_commit_callbacks):
    """A Production request for v2 whose checks have passed (eager worker)."""
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(owner, version_of("Churn", 2))
    assert CheckRun.objects.get(request=request).status == CheckRun.PASSED
    return request


def approve(user, request, capture, comment=""):
    with capture(execute=True):
        return services.review_submit(actor=user, request=request, decision="approve", comment=comment)


# --- filing ---------------------------------------------------------------------------------


def test_the_owner_files_a_request_which_starts_checks_and_mails_the_reviewers(
    world, owner, reviewers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(owner, version_of("Churn", 2))
    assert (request.status, request.from_stage, request.to_stage, request.required_approvals) == (
        "pending",
        "Staging",
        "Production",
        2,
    )
    check_run = CheckRun.objects.get(request=request)
    assert (check_run.stage, check_run.status) == ("Production", CheckRun.PASSED)
    event = AuditEvent.objects.get(action="request.created")
    assert (event.actor, event.target_id, event.data["justification"]) == (
        "olga-owner",
        str(request.pk),
        "beats v1 on accuracy",
    )
    deliver_notifications()  # the worker's dispatch + delivery: one mail per reviewer, not to the requester
    assert sorted(to for message in mail.outbox for to in message.to) == [
        "rita-reviewer@example.com",
        "rob-reviewer@example.com",
        "rosa-reviewer@example.com",
    ]
    assert all(len(message.to) == 1 for message in mail.outbox)
    for message in mail.outbox:
        assert message.subject == "[Registry Portal] Churn v2: a transition request was filed, by olga-owner"
        assert f"/approvals/requests/{request.pk}/" in message.body
        assert "Churn v2: Staging → Production" in message.body and "beats v1 on accuracy" in message.body


@pytest.mark.parametrize(
    ("to_stage", "justification", "field"),
    [
        ("Staging", "again", "to_stage"),  # v2 is already in Staging
        ("Limbo", "why not", "to_stage"),
        ("Production", "   ", "justification"),
    ],
)
def test_bad_requests_are_refused_with_the_field_named(world, owner, to_stage, justification, field):
    with pytest.raises(ValidationError) as refused:
        services.transition_request_create(
            actor=owner, version=version_of("Churn", 2), to_stage=to_stage, justification=justification
        )
    assert field in refused.value.message_dict
    assert not TransitionRequest.objects.exists()
    assert actions("request.created") == 0


def test_none_to_production_is_refused_unless_the_policy_allows_it(world, owner, mlflow_store):
    mlflow_store.create_version("Churn", metrics={"accuracy": 0.95}, tags=GOOD_TAGS)
    sync_registry()
    policy = Policy.objects.get(model_name="")
    policy.rules = {**SIMPLE_RULES, "Production": [*SIMPLE_RULES["Production"], {"type": "staging_first"}]}
    services.policy_save(actor="system:worker", policy=policy)
    with pytest.raises(ValidationError) as refused:
        file_request(owner, version_of("Churn", 3))
    assert "only from Staging" in refused.value.message_dict["to_stage"][0]

    policy.rules = SIMPLE_RULES  # no staging_first rule: straight to Production is allowed
    services.policy_save(actor="system:worker", policy=policy)
    assert file_request(owner, version_of("Churn", 3)).from_stage == "None"


def test_only_owners_and_admins_file_requests(world, reviewers, outsider, admin_user):
    for user in (reviewers[0], outsider):
        with pytest.raises(PermissionDenied):
            file_request(user, version_of("Churn", 2))
    assert not TransitionRequest.objects.exists()
    assert file_request(admin_user, version_of("Churn", 2)).requested_by == admin_user


def test_one_open_request_per_version_in_the_service_and_the_database(filed, owner):
    with pytest.raises(services.RequestConflict, match="already has an open request"):
        file_request(owner, version_of("Churn", 2), to_stage="Archived")
    duplicate = TransitionRequest(
        version=filed.version,
        model_name="Churn",
        version_number=2,
        from_stage="Staging",
        to_stage="Archived",
        justification="bypassing the service",
        requested_by=owner,
        required_approvals=1,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    # Once the first one is closed, a new request may be filed.
    services.transition_request_withdraw(actor=owner, request=filed)
    assert file_request(owner, version_of("Churn", 2), to_stage="Archived").status == "pending"


# --- reviewing ------------------------------------------------------------------------------


def test_the_requester_never_reviews_their_own_request(filed, owner, django_capture_on_commit_callbacks):
    owner.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
    with pytest.raises(PermissionDenied, match="you requested this"):
        approve(owner, filed, django_capture_on_commit_callbacks)
    assert not Review.objects.exists()
    assert access.review_refusal(owner, filed).message == "you requested this: someone else must review it"


def test_non_reviewers_may_not_review(filed, outsider, admin_user, django_capture_on_commit_callbacks):
    for user in (outsider, admin_user):
        with pytest.raises(PermissionDenied, match="only members of reviewers"):
            approve(user, filed, django_capture_on_commit_callbacks)
    assert not Review.objects.exists()


def test_a_reviewer_decides_once(filed, reviewers, django_capture_on_commit_callbacks):
    rita = reviewers[0]
    approve(rita, filed, django_capture_on_commit_callbacks)
    with pytest.raises(services.RequestConflict, match="already approved"):
        approve(rita, filed, django_capture_on_commit_callbacks)
    with pytest.raises(services.RequestConflict, match="already approved"):
        services.review_submit(actor=rita, request=filed, decision="reject", comment="changed my mind")
    assert Review.objects.get().decision == "approve"
    assert fresh(filed).status == "pending"
    assert actions("review.approved") == 1


def test_a_rejection_needs_a_comment_and_ends_the_request(filed, reviewers, django_capture_on_commit_callbacks):
    rita, rob, _ = reviewers
    with pytest.raises(ValidationError) as refused:
        services.review_submit(actor=rita, request=filed, decision="reject", comment="  ")
    assert "comment" in refused.value.message_dict
    assert not Review.objects.exists()
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses it too
        Review.objects.create(request=filed, reviewer=rita, decision="reject", comment="", content_digest="x")

    approve(rob, filed, django_capture_on_commit_callbacks)
    services.review_submit(actor=rita, request=filed, decision="reject", comment="the card hides the fairness gap")
    request = fresh(filed)
    assert request.status == "rejected" and request.decided_at is not None
    with pytest.raises(services.RequestConflict, match="rejected"):
        approve(reviewers[2], filed, django_capture_on_commit_callbacks)


def test_two_fresh_approvals_and_passing_checks_approve_and_apply(
    filed, reviewers, world, django_capture_on_commit_callbacks
):
    rita, rob, _ = reviewers
    approve(rita, filed, django_capture_on_commit_callbacks, comment="looks good")
    assert fresh(filed).status == "pending"
    approve(rob, filed, django_capture_on_commit_callbacks)

    request = fresh(filed)
    assert request.status == "applied"
    assert request.approved_digest and request.applied_at and request.attempts == 1
    client = MlflowClient(world.uri, registry_uri=world.uri)
    assert client.get_model_version("Churn", "2").current_stage == "Production"
    assert client.get_model_version("Churn", "1").current_stage == "Archived"
    assert {k: int(v) for k, v in client.get_registered_model("Churn").aliases.items()} == {"champion": 2}
    tags = client.get_model_version("Churn", "2").tags
    assert tags["approval.request_id"] == str(request.pk)
    assert tags["approval.approved_by"] == "rita-reviewer,rob-reviewer"
    assert (
        "olga-owner: beats v1 on accuracy" in tags["approval.notes"]
        and "rita-reviewer: looks good" in tags["approval.notes"]
    )
    # The mirror follows at once, and the portal's own transition is not "out of band".
    assert version_of("Churn", 2).stage == "Production" and version_of("Churn", 1).stage == "Archived"
    assert [actions(a) for a in ("request.approved", "request.apply_started", "request.applied")] == [1, 1, 1]
    assert actions("registry.unapproved_transition") == 0


def test_quorum_without_passing_checks_waits_for_them(world, owner, reviewers, django_capture_on_commit_callbacks):
    # v3 in Staging with a run still open (sync re-reads unfinished runs), below the accuracy threshold.
    run_id = world.create_run(metrics={"accuracy": 0.5}, tags=GOOD_TAGS, finished=False)
    world.create_version("Churn", run_id, stage="Staging")
    sync_registry()
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(owner, version_of("Churn", 3))
    assert CheckRun.objects.get(request=request).status == CheckRun.FAILED
    approve(reviewers[0], request, django_capture_on_commit_callbacks)
    approve(reviewers[1], request, django_capture_on_commit_callbacks)
    assert fresh(request).status == "pending"  # two approvals, but checks fail

    # The run improves; the sync re-checks the version for its request...
    world.client.log_metric(run_id, "accuracy", 0.95)
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    assert CheckRun.objects.filter(request=request).latest("id").status == CheckRun.PASSED
    # ...but the approvals were given to other content (the metrics changed): both must approve again.
    assert fresh(request).status == "pending"
    digest = version_content_digest(version_of("Churn", 3))
    assert access.review_refusal(reviewers[0], fresh(request), current_digest=digest) is None
    approve(reviewers[0], request, django_capture_on_commit_callbacks)
    approve(reviewers[1], request, django_capture_on_commit_callbacks)
    assert fresh(request).status == "applied"


def test_a_card_revision_makes_earlier_approvals_stale(filed, owner, reviewers, django_capture_on_commit_callbacks):
    """Approve, edit the card, approve with the other reviewer: applied only when the first approves again."""
    rita, rob, _ = reviewers
    approve(rita, filed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        write_card(version_of("Churn", 2), complete_sections())
    approve(rob, filed, django_capture_on_commit_callbacks)
    digest = version_content_digest(version_of("Churn", 2))
    assert [r.reviewer.username for r in selectors.quorum(filed, digest)] == ["rob-reviewer"]
    assert fresh(filed).status == "pending"
    assert Review.objects.get(reviewer=rita).is_stale_against(digest)
    assert access.review_refusal(rita, fresh(filed), current_digest=digest) is None  # asked again

    approve(rita, filed, django_capture_on_commit_callbacks)
    assert fresh(filed).status == "applied"
    rita_review = Review.objects.get(reviewer=rita)
    assert rita_review.content_digest == digest
    assert AuditEvent.objects.filter(action="review.approved", data__again_after_content_change=True).count() == 1


def test_a_reviewer_who_left_the_reviewers_group_no_longer_counts(filed, reviewers, django_capture_on_commit_callbacks):
    rita, rob, rosa = reviewers
    approve(rita, filed, django_capture_on_commit_callbacks)
    rita.groups.clear()
    approve(rob, filed, django_capture_on_commit_callbacks)
    assert fresh(filed).status == "pending"
    approve(rosa, filed, django_capture_on_commit_callbacks)
    assert fresh(filed).status == "applied"


def test_comments_thread_without_deciding(filed, reviewers, owner):
    services.request_comment_create(actor=reviewers[0], request=filed, body="Which data window?")
    services.request_comment_create(actor=owner, request=filed, body="Jan–Mar")
    with pytest.raises(ValidationError):
        services.request_comment_create(actor=owner, request=filed, body=" ")
    assert [c.body for c in fresh(filed).comments.all()] == ["Which data window?", "Jan–Mar"]
    assert fresh(filed).status == "pending" and actions("review.commented") == 2


# --- the state machine ------------------------------------------------------------------------

ALL = [s for s, _ in TransitionRequest.STATUS_CHOICES]


def put(request, status):
    TransitionRequest.objects.filter(pk=request.pk).update(
        status=status, claim_token="tok" if status == "applying" else ""
    )
    return fresh(request)


@pytest.mark.parametrize("status", ALL)
def test_every_move_out_of_each_state(status, filed, owner, reviewers, admin_user, django_capture_on_commit_callbacks):
    """Each service is allowed from exactly the states the table says, and changes nothing otherwise."""
    request = put(filed, status)
    moves = {
        "withdraw": (lambda: services.transition_request_withdraw(actor=owner, request=request), {"pending"}),
        "reject": (
            lambda: services.review_submit(actor=reviewers[0], request=request, decision="reject", comment="no"),
            {"pending"},
        ),
        "retry": (lambda: services.transition_request_retry(actor=admin_user, request=request), {"failed"}),
        "claim": (lambda: services.transition_request_claim(request_id=request.pk), {"approved"}),
    }
    for name, (move, allowed_from) in moves.items():
        request = put(filed, status)
        before = AuditEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=False):
            if status in allowed_from:
                result = move()
                assert result, name
                assert AuditEvent.objects.count() == before + 1, name
            else:
                if name == "claim":
                    assert move() is None
                else:
                    with pytest.raises(services.RequestConflict):
                        move()
                assert fresh(request).status == status, name
                assert AuditEvent.objects.count() == before, name


def test_the_transition_table_is_closed():
    table = TransitionRequest.TRANSITIONS
    assert set(table) == set(ALL)
    assert all(targets <= set(ALL) for targets in table.values())
    assert all(not table[s] for s in TransitionRequest.TERMINAL)
    assert set(TransitionRequest.OPEN) | set(TransitionRequest.TERMINAL) == set(ALL)
    # A request ends without being applied only through a decision or MLflow: a stage moved outside the portal
    # (pending), or the version left MLflow before the apply claimed it (pending, approved, failed). Never
    # while an apply holds its claim.
    assert {s for s, targets in table.items() if "superseded" in targets} == {"pending", "approved", "failed"}


@pytest.mark.parametrize("status", ["pending", "approved", "failed"])
def test_a_request_of_a_version_deleted_in_mlflow_is_superseded_not_applied_to_its_successor(
    status, world, filed, django_capture_on_commit_callbacks
):
    request = put(filed, status)
    world.client.delete_model_version("Churn", str(request.version_number))
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    request = fresh(request)
    assert request.status == "superseded"
    assert AuditEvent.objects.filter(action="request.superseded", data__reason="deleted in MLflow").count() == 1


def test_only_admins_retry(filed, owner):
    request = put(filed, "failed")
    with pytest.raises(PermissionDenied):
        services.transition_request_retry(actor=owner, request=request)
    assert fresh(request).status == "failed"


# --- out-of-band transitions ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reconcile", "fast", "model"])
def test_a_transition_made_directly_in_mlflow_is_detected_on_the_next_sync(
    mode, world, owner, reviewers, lead, admin_user, django_capture_on_commit_callbacks
):
    """Whichever pass sees it: reconcile, the fast pass (stage changes bump timestamps) or a one-model sync."""
    with django_capture_on_commit_callbacks(execute=True):
        request = file_request(owner, version_of("Churn", 2))
    deliver_notifications()
    mail.outbox.clear()

    world.transition("Churn", 2, "Production", archive=True)  # behind the portal's back
    with django_capture_on_commit_callbacks(execute=True):
        if mode == "model":
            sync_registry(model_name="Churn")
        else:
            sync_registry(mode=mode)

    from approvals.models import UnapprovedTransition

    seen = {(u.version_number, u.kind, u.from_value, u.to_value) for u in UnapprovedTransition.objects.unacknowledged()}
    assert (2, "stage", "Staging", "Production") in seen
    assert (1, "stage", "Production", "Archived") in seen
    assert actions("registry.unapproved_transition") == len(seen)
    assert fresh(request).status == "superseded"
    assert actions("request.superseded") == 1
    deliver_notifications()  # one mail per unapproved change per ML lead / admin
    assert sorted(to for message in mail.outbox for to in message.to) == sorted(
        [admin_user.email, lead.email] * len(seen)
    )
    [v2] = {m.body for m in mail.outbox if "Churn v2: Staging → Production" in m.body}
    assert reverse("registry:version_detail", args=["Churn", 2]) in v2
    assert all("Churn" in m.subject for m in mail.outbox)

    # The next sync sees nothing new and flags nothing again.
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    assert UnapprovedTransition.objects.count() == len(seen)


def test_the_first_sync_is_the_baseline_not_a_change(mlflow_store, django_capture_on_commit_callbacks):
    mlflow_store.create_version("Fraud", stage="Production")
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    from approvals.models import UnapprovedTransition

    assert not UnapprovedTransition.objects.exists()
    mlflow_store.client.set_registered_model_alias("Fraud", "champion", "1")
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    assert [u.describe() for u in UnapprovedTransition.objects.all()] == ["Fraud: alias @champion moved to v1"]


def test_acknowledging_is_for_admins_and_audited(world, owner, admin_user, django_capture_on_commit_callbacks):
    world.transition("Churn", 2, "Archived")
    with django_capture_on_commit_callbacks(execute=True):
        sync_registry()
    from approvals.models import UnapprovedTransition

    unapproved = UnapprovedTransition.objects.get()
    with pytest.raises(PermissionDenied):
        services.unapproved_transition_acknowledge(actor=owner, unapproved=unapproved)
    services.unapproved_transition_acknowledge(actor=admin_user, unapproved=unapproved)
    assert not UnapprovedTransition.objects.unacknowledged().exists()
    with pytest.raises(services.RequestConflict):
        services.unapproved_transition_acknowledge(actor=admin_user, unapproved=unapproved)
    assert actions("registry.unapproved_acknowledged") == 1


# --- the sweeper: nothing stays approved or applying forever -----------------------------------


def approved_without_task(filed, reviewers, django_capture_on_commit_callbacks):
    """Quorum reached, but the apply task's message was lost (on_commit callbacks dropped)."""
    approve(reviewers[0], filed, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        services.review_submit(actor=reviewers[1], request=filed, decision="approve")
    assert fresh(filed).status == "approved"
    return fresh(filed)


def test_the_sweeper_requeues_an_approved_request_whose_task_was_lost(
    filed, reviewers, settings, django_capture_on_commit_callbacks
):
    request = approved_without_task(filed, reviewers, django_capture_on_commit_callbacks)
    assert services.transition_requests_sweep() == {"expired": 0, "queued": 0}  # too early: the task may be queued
    settings.APPLY_REQUEUE_AFTER_SECONDS = 0
    assert services.transition_requests_sweep() == {"expired": 0, "queued": 1}
    assert fresh(request).status == "applied"


def test_the_sweeper_takes_back_an_expired_claim_and_the_old_claim_can_no_longer_finish(
    filed, reviewers, world, django_capture_on_commit_callbacks
):
    request = approved_without_task(filed, reviewers, django_capture_on_commit_callbacks)
    dead_worker_claim = services.transition_request_claim(request_id=request.pk)  # the worker that claimed it died
    assert fresh(request).status == "applying"
    assert services.transition_requests_sweep() == {"expired": 0, "queued": 0}  # lease still running

    TransitionRequest.objects.filter(pk=request.pk).update(lease_expires_at=fresh(request).created_at)
    assert services.transition_requests_sweep() == {"expired": 1, "queued": 1}
    request = fresh(request)
    assert (request.status, request.attempts) == ("applied", 2)
    assert actions("request.lease_expired") == 1 and actions("request.applied") == 1
    # The presumed-dead worker wakes up: its claim is void, it changes nothing.
    assert services.transition_request_apply(request_id=request.pk, claim=dead_worker_claim) is None
    assert services.transition_request_fail(request_id=request.pk, claim=dead_worker_claim, error="late") is False
    assert fresh(request).status == "applied" and actions("request.applied") == 1


def test_an_unknown_version_in_mlflow_fails_the_request_without_retrying(
    filed, reviewers, world, django_capture_on_commit_callbacks
):
    request = approved_without_task(filed, reviewers, django_capture_on_commit_callbacks)
    world.client.delete_model_version("Churn", "2")
    from approvals.tasks import apply_transition

    apply_transition.delay(request.pk)
    request = fresh(request)
    assert request.status == "failed"
    assert "MLflow refused the transition" in request.last_error
    assert actions("request.failed") == 1


def test_an_apply_that_archives_the_previous_version_supersedes_its_pending_request(
    filed, owner, reviewers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        retire_v1 = file_request(owner, version_of("Churn", 1), to_stage="Archived")
    approve(reviewers[0], filed, django_capture_on_commit_callbacks)
    approve(reviewers[1], filed, django_capture_on_commit_callbacks)
    assert fresh(filed).status == "applied"
    assert version_of("Churn", 1).stage == "Archived"
    assert fresh(retire_v1).status == "superseded"
    event = AuditEvent.objects.get(action="request.superseded")
    assert event.data["reason"] == f"moved by request #{filed.pk}"
    assert actions("registry.unapproved_transition") == 0
