"""Journey 3: what the portal refuses. The requester (a reviewer too) sees no way to approve and a forged POST
with a valid CSRF token is refused with 403; a reviewer rejects with a comment; an outsider gets 403 pages."""

import pytest
from playwright.sync_api import expect

from registry_portal.roles import REVIEWERS
from tests.factories import card_save, file_request, version_of

from .conftest import COMPLETE_CARD, assert_accessible

pytestmark = [pytest.mark.e2e]


def test_refusals_for_the_requester_a_rejecting_reviewer_and_an_outsider(
    portal, owner, reviewer_a, reviewer_b, outsider, seeded
):
    from approvals.models import Review, TransitionRequest

    # The owner is also a reviewer: separation of duties must still stop them.
    owner.groups.add(reviewer_a.groups.get(name=REVIEWERS))
    card_save(owner, version_of(seeded.name, 2), COMPLETE_CARD)
    request = file_request(owner, version_of(seeded.name, 2))
    url = f"/approvals/requests/{request.pk}/"

    requester = portal.page_for(owner)
    requester.goto(url)
    decision = requester.locator("#decision")
    expect(decision.locator(".badge.pending")).to_be_visible()
    expect(decision.get_by_text("You cannot review: you requested this")).to_be_visible()
    expect(requester.get_by_role("button", name="Approve")).to_have_count(0)
    portal.shot(requester, "refusal-requester")

    # A forged approval from the requester's own session, with a valid CSRF token: refused, nothing written.
    token = next(c["value"] for c in requester.context.cookies() if c["name"] == "csrftoken")
    response = requester.request.post(
        f"{url}review/",
        form={"decision": "approve", "comment": "lgtm"},
        headers={"X-CSRFToken": token, "Referer": f"{portal.url}{url}"},
    )
    assert response.status == 403, response.text()[:500]
    assert not Review.objects.filter(request=request).exists()

    # Reviewer A rejects: a comment is required, then the request ends as rejected.
    reviewer = portal.page_for(reviewer_a)
    reviewer.goto(url)
    decision = reviewer.locator("#decision")
    decision.get_by_role("button", name="Reject").click()
    expect(decision.locator(".errorlist")).to_be_visible()
    expect(decision.locator(".badge.pending")).to_be_visible()
    decision.get_by_label("Your comment").fill("Fairness section lacks per-region numbers.")
    decision.get_by_role("button", name="Reject").click()
    expect(decision.locator(".request-status .badge").first).to_have_text("rejected")
    expect(decision.locator(".review.reject")).to_contain_text("Fairness section lacks per-region numbers.")
    expect(decision.get_by_role("button", name="Approve")).to_have_count(0)
    portal.shot(reviewer, "refusal-rejected")
    request.refresh_from_db()
    assert request.status == TransitionRequest.REJECTED
    # MLflow never heard of it.
    assert portal.mlflow.get_model_version(seeded.name, "2").current_stage == "Staging"
    assert "approval.request_id" not in portal.mlflow.get_model_version(seeded.name, "2").tags

    # A forged approval of the closed request by the other reviewer: refused too.
    second = portal.page_for(reviewer_b)
    second.goto(url)
    expect(second.get_by_role("button", name="Approve")).to_have_count(0)
    token = next(c["value"] for c in second.context.cookies() if c["name"] == "csrftoken")
    response = second.request.post(
        f"{url}review/", form={"decision": "approve"}, headers={"X-CSRFToken": token, "Referer": f"{portal.url}{url}"}
    )
    assert response.status in (403, 409), response.status
    assert Review.objects.filter(request=request).count() == 1

    # An outsider: 403 pages for the card editor and the audit log, and a refused review.
    outsider_page = portal.page_for(outsider)
    for path in (f"/cards/{seeded.name}/2/edit/limitations/", "/audit/"):
        response = outsider_page.goto(path)
        assert response.status == 403, f"{path}: {response.status}"
        expect(outsider_page.get_by_role("heading", name="You may not do this")).to_be_visible()
    assert_accessible(outsider_page, "the 403 page")
    portal.shot(outsider_page, "refusal-outsider-403")
    outsider_page.goto(url)
    expect(outsider_page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(outsider_page.get_by_text("You cannot review")).to_be_visible()
    token = next(c["value"] for c in outsider_page.context.cookies() if c["name"] == "csrftoken")
    response = outsider_page.request.post(
        f"{url}review/", form={"decision": "approve"}, headers={"X-CSRFToken": token, "Referer": f"{portal.url}{url}"}
    )
    assert response.status == 403
    assert Review.objects.filter(request=request).count() == 1
