"""Journey 2: two reviewers sign off a Production request; the request page turns "applied" by itself, and
MLflow holds the version in Production, the previous one Archived, and the approval tags."""

import pytest
from playwright.sync_api import expect

from tests.factories import card_save, version_of

from .conftest import COMPLETE_CARD, WAIT_MS, file_request_in_browser

pytestmark = [pytest.mark.e2e]


def test_two_reviewers_approve_and_the_transition_reaches_mlflow(portal, owner, reviewer_a, reviewer_b, seeded):
    card_save(owner, version_of(seeded.name, 2), COMPLETE_CARD)

    # The owner files the request from the version page.
    owner_page = portal.page_for(owner)
    request_url = file_request_in_browser(
        owner_page, seeded.name, 2, "Production", "Better accuracy than v1 (0.94 vs 0.91) on the same data."
    )
    expect(owner_page.locator("#decision .badge.pending")).to_be_visible()
    expect(owner_page.get_by_text("You cannot review")).to_be_visible()
    expect(owner_page.get_by_role("button", name="Approve")).to_have_count(0)

    # Reviewer A finds it in the queue and reads the evidence on the request page.
    first = portal.page_for(reviewer_a)
    first.goto("/approvals/queue/")
    expect(first.get_by_role("heading", name="Waiting for my review")).to_be_visible()
    row = first.locator("tbody tr").filter(has_text=f"{seeded.name} v2")
    expect(row).to_have_count(1)
    row.get_by_role("link").first.click()
    expect(first).to_have_url(f"{portal.url}{request_url}")
    expect(first.get_by_role("heading", level=1)).to_contain_text(f"{seeded.name} v2 → Production")
    deltas = first.get_by_role("region", name="Metrics against Production")
    expect(deltas.get_by_role("row").filter(has_text="accuracy")).to_contain_text("+0.03")
    expect(first.locator("#model-card")).to_contain_text("100% complete")
    decision = first.locator("#decision")
    # The checks run on the worker; the page shows them once passed (reload to see the latest, as a user would).
    for _ in range(30):
        if decision.locator(".badge.check-passed").count():
            break
        first.wait_for_timeout(1000)
        first.reload()
    expect(decision.locator(".badge.check-passed")).to_be_visible()
    expect(first.locator("#checks")).to_contain_text("passed")
    portal.shot(first, "reviewer-request-page")

    first.get_by_label("Your comment").fill("Deltas and card look good.")
    first.get_by_role("button", name="Approve").click()
    expect(decision.locator(".request-status")).to_contain_text("1 of 2 approvals")
    expect(decision.locator(".badge.pending")).to_be_visible()
    expect(decision.get_by_text("You cannot review: you already approved this request")).to_be_visible()

    # Reviewer B approves: quorum, the worker applies it, and the page turns "applied" without a reload.
    second = portal.page_for(reviewer_b)
    second.goto(request_url)
    second.evaluate("window.__loaded = performance.timeOrigin")
    second.get_by_role("button", name="Approve").click()
    status = second.locator("#decision .request-status .badge").first
    expect(status).to_have_text("applied", timeout=WAIT_MS)
    assert second.evaluate("window.__loaded === performance.timeOrigin"), "the page reloaded"
    expect(second.locator("#decision")).to_contain_text("Applied in MLflow")
    portal.shot(second, "reviewer-applied")

    # MLflow, queried directly: v2 in Production, v1 archived, the approval written on the version.
    v1 = portal.mlflow.get_model_version(seeded.name, "1")
    v2 = portal.mlflow.get_model_version(seeded.name, "2")
    assert (v2.current_stage, v1.current_stage) == ("Production", "Archived")
    request_id = request_url.rstrip("/").rsplit("/", 1)[-1]
    assert v2.tags["approval.request_id"] == request_id
    assert set(v2.tags["approval.approved_by"].split(",")) == {reviewer_a.username, reviewer_b.username}
    assert portal.mlflow.get_model_version_by_alias(seeded.name, "champion").version == "2"

    # The owner's model page agrees (the apply re-synced the model).
    owner_page.goto(f"/models/{seeded.name}/")
    expect(owner_page.get_by_role("heading", name="In Production: v2")).to_be_visible()
