"""Who may do what to check runs, requests and out-of-band changes: ``approvals.access``, persona by persona.

The services raise from these refusals and the pages show them; ``tests/test_permission_matrix.py`` pins the
same answers through the views.
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from approvals import access, services
from approvals.models import CheckRun, Review, TransitionRequest, UnapprovedTransition
from registry_portal import roles

pytestmark = pytest.mark.django_db

PERSONAS = ("owner", "reviewer", "lead", "admin", "staff", "outsider", "anonymous")


@pytest.fixture
def people(people, reviewer):
    return {**people, "reviewer": reviewer}


@pytest.fixture
def version(mirror):
    return mirror.version(stage="Staging")


def request_of(version, owner, **fields) -> TransitionRequest:
    return TransitionRequest.objects.create(
        version=version,
        model_name=version.model.name,
        version_number=version.version,
        from_stage=version.stage,
        to_stage="Production",
        justification="better",
        requested_by=owner,
        required_approvals=2,
        **fields,
    )


def allowed(refusal_of, people) -> set[str]:
    return {name for name in PERSONAS if refusal_of(people[name]) is None}


def test_owners_reviewers_leads_and_admins_may_run_checks_staff_alone_may_not(people, version):
    assert allowed(lambda user: access.check_run_refusal(user, version), people) == {
        "owner",
        "reviewer",
        "lead",
        "admin",
    }
    refusal = access.check_run_refusal(people["staff"], version)
    assert (refusal.message, refusal.status) == (
        "only the model's owner, reviewers, ML leads and admins may run checks",
        403,
    )


def test_only_the_portals_system_actors_run_checks_by_name(version):
    for actor in roles.SYSTEM_ACTORS:
        assert access.check_run_refusal(actor, version) is None
    refusal = access.check_run_refusal("system:bench", version)
    assert refusal.status == 403
    assert "'system:bench' is not one of the portal's system actors" in refusal.message


def test_check_run_create_refuses_an_unknown_actor_name_and_a_staff_user(people, version):
    for actor in ("system:bench", "olga-owner", people["staff"]):
        with pytest.raises(PermissionDenied):
            services.check_run_create(actor=actor, version=version, stage="Staging")
    assert not CheckRun.objects.exists()
    assert services.check_run_create(actor=roles.SYSTEM_SYNC, version=version, stage="Staging")


def test_owners_and_admins_file_requests(people, version):
    assert allowed(lambda user: access.request_create_refusal(user, version), people) == {"owner", "admin"}
    assert access.request_create_refusal(people["staff"], version).message == (
        "only the model's owner or an admin may request a transition"
    )


class TestReviewRefusal:
    def test_members_of_reviewers_other_than_the_requester_review(self, people, version, owner):
        request = request_of(version, owner)
        assert allowed(lambda user: access.review_refusal(user, request, current_digest="d"), people) == {"reviewer"}
        assert access.review_refusal(owner, request).status == 403
        assert access.review_refusal(people["admin"], request).message == "only members of reviewers may review"

    def test_a_decided_request_or_a_decision_given_is_a_conflict(self, reviewer, version, owner):
        request = request_of(version, owner, status=TransitionRequest.REJECTED)
        refusal = access.review_refusal(reviewer, request)
        assert (refusal.message, refusal.status) == ("this request is rejected: it takes no more reviews", 409)

        request = request_of(version, owner)  # the rejected one is closed: the version may have another
        Review.objects.create(request=request, reviewer=reviewer, decision="approve", content_digest="old")
        refusal = access.review_refusal(reviewer, request, current_digest="old")
        assert (refusal.message, refusal.status) == ("you already approved this request", 409)
        assert access.review_refusal(reviewer, request) == refusal  # without a digest, any decision counts
        assert access.review_refusal(reviewer, request, current_digest="new") is None  # stale: asked again

    def test_a_version_gone_from_the_registry_takes_no_review(self, reviewer, version, owner):
        request = request_of(version, owner)
        request.version = None
        refusal = access.review_refusal(reviewer, request, current_digest="")
        assert (refusal.message, refusal.status) == (f"Churn v{version.version} is no longer in the registry", 409)


def test_the_requester_and_admins_withdraw_a_pending_request(people, version, owner):
    request = request_of(version, owner)
    assert allowed(lambda user: access.withdraw_refusal(user, request), people) == {"owner", "admin"}
    request.status = TransitionRequest.APPROVED
    assert access.withdraw_refusal(owner, request).status == 409


def test_admins_retry_a_failed_request(people, version, owner):
    request = request_of(version, owner, status=TransitionRequest.FAILED)
    assert allowed(lambda user: access.retry_refusal(user, request), people) == {"admin"}
    request.status = TransitionRequest.APPLIED
    assert access.retry_refusal(people["admin"], request).message == f"request #{request.pk} is applied, not failed"


def test_reviewers_leads_the_requester_owners_and_admins_comment(people, version, owner, outsider):
    request = request_of(version, owner)
    assert allowed(lambda user: access.comment_refusal(user, request), people) == {"owner", "reviewer", "lead", "admin"}
    request.requested_by = outsider  # the requester comments on their request, owner or not
    assert access.comment_refusal(outsider, request) is None
    request.requested_by = owner
    refusal = access.comment_refusal(people["staff"], request)
    assert refusal.status == 403 and "the model's owners and admins may comment" in refusal.message


def test_admins_acknowledge_an_unapproved_transition_once(people):
    unapproved = UnapprovedTransition(model_name="Churn", version_number=1, kind="stage", seen_at=timezone.now())
    assert allowed(lambda user: access.acknowledge_refusal(user, unapproved), people) == {"admin"}
    unapproved.acknowledged_at = timezone.now()
    assert access.acknowledge_refusal(people["admin"], unapproved).status == 409
