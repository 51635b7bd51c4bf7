"""The request page: its decision block (htmx and plain POSTs), staleness, refusals with their reasons, forged
POSTs, comments, polling until applied. Filing from the version page and the banners: test_panels.py.

Most tests build the mirror directly and stay below quorum (nothing reaches MLflow); the one that
applies goes through a real MLflow store and sync.
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from approvals import selectors, services
from approvals.digest import version_content_digest
from approvals.models import RequestComment, Review, TransitionRequest
from audit.models import AuditEvent
from conftest import member
from registry.models import ModelVersion
from registry.sync import sync_registry
from registry_portal.roles import REVIEWERS
from tests.factories import (
    GOOD_TAGS,
    complete_sections,
    file_request,
    make_logged_model,
    make_owner,
    version_of,
    write_card,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def filed(owner, ready, django_capture_on_commit_callbacks):
    """A Production request for v2 (two approvals needed) whose checks ran and passed."""
    request = file_request(owner, ready, capture=django_capture_on_commit_callbacks)
    assert selectors.checks_for(request, ready, version_content_digest(ready)).passed
    return request


def page_url(request) -> str:
    return reverse("approvals:request_detail", args=[request.pk])


def review_url(request) -> str:
    return reverse("approvals:review_submit", args=[request.pk])


def snapshot() -> tuple:
    """Everything a refused POST must leave alone."""
    return (
        list(TransitionRequest.objects.order_by("pk").values_list("pk", "status", "status_changed_at")),
        list(Review.objects.order_by("pk").values_list("pk", "decision", "content_digest", "updated_at")),
        RequestComment.objects.count(),
        AuditEvent.objects.count(),
    )


# --- the request page ------------------------------------------------------------------------


class TestRequestPage:
    def test_it_shows_summary_deltas_card_checklist_and_actions(self, client, reviewer, filed):
        client.force_login(reviewer)
        response = client.get(page_url(filed))
        html = response.content.decode()
        assert response.status_code == 200
        assert f"Request #{filed.pk}: Churn v2 → Production" in html
        assert "beats v1 on accuracy" in html
        assert "olga-owner" in html
        assert '<span class="badge pending">pending</span>' in html
        assert "<strong>0</strong> of <strong>2</strong> approvals" in html
        assert 'checks <span class="badge check-passed">passed</span>' in html
        # metric deltas against Production v1
        assert "Production (v1)" in html
        assert "0.93" in html and "0.91" in html and "+0.02" in html
        assert 'id="model-card"' in html  # the cards app's rendered card
        assert 'id="checks"' in html  # the governance checklist
        assert '<button type="submit" name="decision" value="approve">Approve</button>' in html
        assert 'value="reject"' in html
        assert '<label for="id_review_comment">' in html
        assert '<label for="id_comment_body">' in html
        assert "Withdraw request" not in html

    def test_deltas_include_the_loggedmodel_metrics(self, client, reviewer, filed):
        logged = make_logged_model(metrics={"holdout_auc": 0.88})
        ModelVersion.objects.filter(pk=filed.version_id).update(logged_model=logged.model_id)
        client.force_login(reviewer)
        html = client.get(page_url(filed)).content.decode()
        assert "holdout_auc" in html and "0.88" in html

    def test_the_requester_sees_why_they_cannot_review_and_may_withdraw(self, client, owner, filed):
        client.force_login(owner)
        assert "you requested this: someone else must review it" in client.get(page_url(filed)).content.decode()
        owner.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])  # even a reviewer may not review their own
        html = client.get(page_url(filed)).content.decode()
        assert "you requested this: someone else must review it" in html
        assert 'value="approve"' not in html
        assert "Withdraw request" in html

    def test_a_non_reviewer_sees_the_reason(self, client, outsider, filed):
        client.force_login(outsider)
        html = client.get(page_url(filed)).content.decode()
        assert "only members of reviewers may review" in html
        assert 'value="approve"' not in html
        assert "Withdraw request" not in html

    def test_failing_checks_disable_approve_with_the_reason_but_not_reject(
        self, client, owner, reviewer, mirror, django_capture_on_commit_callbacks
    ):
        weak = mirror.version(stage="Staging", metrics={"accuracy": 0.85})
        request = file_request(owner, weak, capture=django_capture_on_commit_callbacks)
        client.force_login(reviewer)
        html = client.get(page_url(request)).content.decode()
        assert (
            '<button type="submit" name="decision" value="approve" disabled aria-describedby="approve-refusal">' in html
        )
        assert "Approve is disabled: checks failing" in html
        assert '<button type="submit" name="decision" value="reject"' in html

    def test_running_checks_are_said(self, client, owner, reviewer, ready):
        request = file_request(owner, ready)  # its check run stays queued
        client.force_login(reviewer)
        html = client.get(page_url(request)).content.decode()
        assert '<span class="badge running">running</span>' in html
        assert "Checks running" in html

    def test_outsiders_may_read_it_but_anonymous_users_are_sent_to_sign_in(self, client, outsider, filed):
        assert client.get(page_url(filed))["Location"].startswith(reverse("login"))
        client.force_login(outsider)
        assert client.get(page_url(filed)).status_code == 200

    def test_an_unknown_request_is_404(self, client, reviewer):
        client.force_login(reviewer)
        assert client.get(reverse("approvals:request_detail", args=[999])).status_code == 404


# --- reviewing ---------------------------------------------------------------------------------


class TestReview:
    def test_approve_with_a_plain_post_redirects_back_with_a_message(self, client, reviewer, filed):
        client.force_login(reviewer)
        response = client.post(review_url(filed), {"decision": "approve", "comment": "looks right"}, follow=True)
        html = response.content.decode()
        assert response.redirect_chain == [(page_url(filed), 302)]
        assert f"You approved request #{filed.pk}." in html
        assert "<strong>1</strong> of <strong>2</strong> approvals" in html
        assert "you already approved this request" in html
        review = Review.objects.get()
        assert (review.reviewer, review.decision, review.comment) == (reviewer, "approve", "looks right")
        assert TransitionRequest.objects.get().status == "pending"

    def test_approve_with_htmx_swaps_the_decision_block(self, client, reviewer, filed):
        client.force_login(reviewer)
        assert 'waiting for your review">1<' in client.get(page_url(filed)).content.decode()
        response = client.post(review_url(filed), {"decision": "approve"}, **HTMX)
        html = response.content.decode()
        assert response.status_code == 200
        assert "<html" not in html
        assert html.lstrip().startswith('<section id="decision"')
        assert "<strong>1</strong> of <strong>2</strong> approvals" in html
        assert "<strong>rita-reviewer</strong>\n      approved" in html
        assert "you already approved this request" in html
        assert "hx-trigger" not in html  # pending: nothing to poll
        # The nav's count is swapped out of band: nothing waits for this reviewer any more.
        assert '<a id="nav-reviews" href="/approvals/queue/" hx-swap-oob="true">Reviews</a>' in html

    def test_reject_with_a_comment_ends_the_request(self, client, reviewer, filed):
        client.force_login(reviewer)
        response = client.post(review_url(filed), {"decision": "reject", "comment": "no drift report"}, **HTMX)
        html = response.content.decode()
        assert response.status_code == 200
        assert '<span class="badge rejected">rejected</span>' in html
        assert "no drift report" in html
        assert "this request is rejected" in html
        assert "Withdraw request" not in html
        assert TransitionRequest.objects.get().status == "rejected"

    @pytest.mark.parametrize("extra", [{}, HTMX])
    def test_reject_without_a_comment_is_400_and_stores_nothing(self, client, reviewer, filed, extra):
        client.force_login(reviewer)
        before = snapshot()
        response = client.post(review_url(filed), {"decision": "reject", "comment": "  "}, **extra)
        assert response.status_code == 400
        assert "say why you reject" in response.content.decode()
        assert snapshot() == before

    def test_a_bad_decision_is_400(self, client, reviewer, filed):
        client.force_login(reviewer)
        before = snapshot()
        assert client.post(review_url(filed), {"decision": "maybe"}).status_code == 400
        assert snapshot() == before

    def test_the_requester_is_refused_with_403_and_nothing_changes(self, client, owner, filed):
        owner.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
        client.force_login(owner)
        before = snapshot()
        for extra in ({}, HTMX):
            assert client.post(review_url(filed), {"decision": "approve"}, **extra).status_code == 403
        assert snapshot() == before

    def test_a_non_reviewer_is_refused_with_403_and_nothing_changes(self, client, outsider, admin_user, filed):
        for user in (outsider, admin_user):  # admins are not reviewers either
            client.force_login(user)
            before = snapshot()  # after signing in, which is audited
            assert client.post(review_url(filed), {"decision": "approve"}).status_code == 403
            assert client.post(review_url(filed), {"decision": "reject", "comment": "no"}).status_code == 403
            assert snapshot() == before

    def test_a_second_review_by_the_same_reviewer_is_409_and_nothing_changes(self, client, reviewer, filed):
        client.force_login(reviewer)
        client.post(review_url(filed), {"decision": "approve"})
        before = snapshot()
        for decision, comment in (("approve", ""), ("reject", "changed my mind")):
            response = client.post(review_url(filed), {"decision": decision, "comment": comment}, **HTMX)
            assert response.status_code == 409
            assert "you already approved this request" in response.content.decode()
        assert snapshot() == before

    def test_a_closed_request_is_409_and_nothing_changes(self, client, owner, reviewer, filed):
        services.transition_request_withdraw(actor=owner, request=filed)
        client.force_login(reviewer)
        before = snapshot()
        response = client.post(review_url(filed), {"decision": "approve"})
        assert response.status_code == 409
        assert "this request is withdrawn: it takes no more reviews" in response.content.decode()
        assert snapshot() == before

    def test_a_stale_approval_is_greyed_not_counted_and_asked_again(self, client, reviewer, filed):
        client.force_login(reviewer)
        client.post(review_url(filed), {"decision": "approve"})
        write_card(filed.version, {**complete_sections(), "limitations": "Changed after the approval."})
        html = client.get(page_url(filed)).content.decode()
        assert 'class="review approve stale-review"' in html
        assert "content changed since you approved" in html
        assert "<strong>0</strong> of <strong>2</strong> approvals" in html
        assert "you already approved" not in html
        assert '<button type="submit" name="decision" value="approve"' in html
        # approving again renews the same review against the new content
        response = client.post(review_url(filed), {"decision": "approve"}, **HTMX)
        assert response.status_code == 200
        assert "stale-review" not in response.content.decode()
        assert Review.objects.count() == 1

    def test_others_see_a_stale_approval_greyed_too(self, client, reviewer, reviewer_b, filed):
        services.review_submit(actor=reviewer, request=filed, decision="approve")
        write_card(filed.version, {**complete_sections(), "limitations": "Changed after the approval."})
        client.force_login(reviewer_b)
        html = client.get(page_url(filed)).content.decode()
        assert "content changed since they approved" in html


class TestWithdrawAndRetry:
    def test_the_requester_withdraws(self, client, owner, filed):
        client.force_login(owner)
        response = client.post(reverse("approvals:request_withdraw", args=[filed.pk]), **HTMX)
        assert response.status_code == 200
        assert '<span class="badge withdrawn">withdrawn</span>' in response.content.decode()
        assert TransitionRequest.objects.get().status == "withdrawn"

    def test_others_may_not_withdraw(self, client, reviewer, filed):
        client.force_login(reviewer)
        before = snapshot()
        assert client.post(reverse("approvals:request_withdraw", args=[filed.pk])).status_code == 403
        assert snapshot() == before

    def test_a_failed_request_shows_its_error_and_admins_retry_it(
        self, client, admin_user, reviewer, filed, django_capture_on_commit_callbacks
    ):
        TransitionRequest.objects.filter(pk=filed.pk).update(
            status="failed", attempts=4, last_error="MLflow unavailable after 4 attempts: connection refused"
        )
        client.force_login(reviewer)
        html = client.get(page_url(filed)).content.decode()
        assert "Applying failed after 4 attempts: MLflow unavailable after 4 attempts: connection refused" in html
        assert "Retry applying" not in html
        before = snapshot()
        assert client.post(reverse("approvals:request_retry", args=[filed.pk])).status_code == 403
        assert snapshot() == before

        client.force_login(admin_user)
        assert "Retry applying" in client.get(page_url(filed)).content.decode()
        with django_capture_on_commit_callbacks() as queued:  # the apply task is queued, not run
            response = client.post(reverse("approvals:request_retry", args=[filed.pk]), **HTMX)
        assert len(queued) == 1
        assert response.status_code == 200
        assert 'hx-trigger="every 2s"' in response.content.decode()
        assert TransitionRequest.objects.get().status == "approved"
        # retrying twice is a conflict
        assert client.post(reverse("approvals:request_retry", args=[filed.pk])).status_code == 409


class TestComments:
    def test_a_lead_comments_with_htmx_and_an_outsider_is_refused(self, client, lead, outsider, filed):
        client.force_login(lead)
        url = reverse("approvals:request_comment", args=[filed.pk])
        response = client.post(url, {"body": "What about the March data?"}, **HTMX)
        html = response.content.decode()
        assert response.status_code == 200
        assert html.lstrip().startswith('<div id="comments">')
        assert "What about the March data?" in html and "lena-lead" in html
        assert TransitionRequest.objects.get().status == "pending"
        client.force_login(outsider)
        refused = client.post(url, {"body": "me too"})
        assert refused.status_code == 403 and "may comment" in refused.content.decode()
        page = client.get(page_url(filed)).content.decode()
        assert 'id="comment-refusal"' in page and f'action="{url}"' not in page
        assert RequestComment.objects.count() == 1

    def test_a_plain_post_redirects_and_an_empty_comment_is_400(self, client, reviewer, filed):
        client.force_login(reviewer)
        url = reverse("approvals:request_comment", args=[filed.pk])
        response = client.post(url, {"body": "fine by me"})
        assert response["Location"] == page_url(filed) + "#comments"
        assert client.post(url, {"body": "   "}).status_code == 400
        assert list(RequestComment.objects.values_list("body", flat=True)) == ["fine by me"]


# --- applying: the decision block polls until MLflow shows the stage ---------------------------


def test_the_deciding_approval_polls_until_applied(
    client, mlflow_store, owner, reviewer, reviewer_b, django_capture_on_commit_callbacks
):
    mlflow_store.client.create_registered_model("Churn", tags={"owner": owner.username})
    mlflow_store.create_version("Churn", stage="Staging", metrics={"accuracy": 0.93}, tags=GOOD_TAGS)
    sync_registry()
    make_owner("Churn", owner)
    staged = version_of("Churn", 1)
    request = file_request(owner, staged, to_stage="Archived", capture=django_capture_on_commit_callbacks)
    request.required_approvals = 2
    request.save(update_fields=["required_approvals"])
    services.review_submit(actor=reviewer, request=request, decision="approve")

    client.force_login(reviewer_b)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(review_url(request), {"decision": "approve"}, **HTMX)
        html = response.content.decode()
        # rendered before the apply task ran: approved, and polling
        assert '<span class="badge approved">approved</span>' in html
        assert 'hx-trigger="every 2s"' in html
        assert "applying the transition in MLflow" in html
    assert TransitionRequest.objects.get().status == "applied"
    assert mlflow_store.client.get_model_version("Churn", "1").current_stage == "Archived"

    poll = client.get(page_url(request), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="decision")
    html = poll.content.decode()
    assert poll.status_code == 286  # htmx stops polling
    assert '<span class="badge applied">applied</span>' in html
    assert "hx-trigger" not in html


def test_polling_continues_while_applying(client, reviewer, filed):
    TransitionRequest.objects.filter(pk=filed.pk).update(status="applying")
    client.force_login(reviewer)
    poll = client.get(page_url(filed), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="decision")
    assert poll.status_code == 200
    assert 'hx-trigger="every 2s"' in poll.content.decode()


def test_a_pending_request_polls_while_its_checks_run_and_keeps_the_typed_comment(client, reviewer, filed):
    """Opened before its checks finished, the page updates the checks state and Approve by itself."""
    from approvals.models import CheckRun

    check_run = CheckRun.objects.filter(request=filed).latest("id")
    CheckRun.objects.filter(pk=check_run.pk).update(status=CheckRun.RUNNING)
    client.force_login(reviewer)
    html = client.get(page_url(filed)).content.decode()
    assert 'hx-trigger="every 2s"' in html and 'hx-preserve="true"' in html  # a comment being typed survives
    poll = client.get(page_url(filed), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="decision")
    assert poll.status_code == 200 and '<span class="badge running">running</span>' in poll.content.decode()

    CheckRun.objects.filter(pk=check_run.pk).update(status=CheckRun.PASSED)
    poll = client.get(page_url(filed), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="decision")
    html = poll.content.decode()
    assert poll.status_code == 286
    assert '<span class="badge check-passed">passed</span>' in html and "hx-trigger" not in html


@pytest.mark.parametrize("size", [1, 4])
def test_the_request_page_query_count_does_not_grow(client, owner, ready, django_assert_num_queries, size):
    request = file_request(owner, ready)  # checks stay queued: approvals never reach quorum with them
    for i in range(size):
        services.review_submit(actor=member(f"r{i}-reviewer", REVIEWERS), request=request, decision="approve")
        services.request_comment_create(actor=owner, request=request, body=f"note {i}")
    viewer = member("viewer-reviewer", REVIEWERS)
    client.force_login(viewer)
    # session, user, request (+version, model, run), its reviews, the digest (2), the check run, review refusal,
    # quorum (2), Production version, comments, the checks and card panels (6: the digest is read once a page),
    # nav: Reviews badge and audit link, footer's last sync; the model's owners (prefetched: request and card panel),
    # the comment question (the viewer's groups); the findings section (3: the stage's policy, for its
    # no_open_findings floor, and the version's findings): none per review or comment
    with django_assert_num_queries(27):
        response = client.get(page_url(request))
    assert response.status_code == 200
    assert response.content.decode().count("note ") == size
