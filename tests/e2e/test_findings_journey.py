"""Journey: a finding blocks a Production request and its closing releases it. An ML lead opens a high finding
on a version with a pending Production request under a policy with ``no_open_findings``; the request page shows
it blocked; the finding's owner marks it remediated (and may not close it); a reviewer closes it; the checks run
again on the worker; two reviewers approve and MLflow holds the version in Production."""

import re

import pytest
from playwright.sync_api import expect

from approvals.models import Policy
from approvals.services import policy_save

from .conftest import WAIT_MS, file_request_in_browser

pytestmark = [pytest.mark.e2e]

RULES = {
    "Production": [
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "findings", "type": "no_open_findings", "min_severity": "high"},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ],
}


def reload_until(page, locator, tries: int = 40):
    """Reload ``page`` until ``locator`` shows (the worker's checks land while nobody is looking)."""
    for _ in range(tries):
        if locator.count():
            return
        page.wait_for_timeout(1000)
        page.reload()
    expect(locator).to_be_visible()


def test_a_finding_blocks_the_request_until_a_reviewer_closes_it(portal, owner, lead, reviewer_a, reviewer_b, seeded):
    # The model's own policy (a transactional test's database has no default row after an earlier test's flush).
    policy_save(actor="system:worker", policy=Policy(model_name=seeded.name, rules=RULES))

    owner_page = portal.page_for(owner)
    request_url = file_request_in_browser(owner_page, seeded.name, 2, "Production", "Best accuracy so far.")
    reload_until(owner_page, owner_page.locator("#decision .badge.check-passed"))

    # The ML lead opens a high finding from the version page, owned by the model's owner.
    lead_page = portal.page_for(lead)
    lead_page.goto(f"/models/{seeded.name}/versions/2/")
    findings = lead_page.locator("#findings")
    expect(findings).to_contain_text("No findings on this version.")
    findings.get_by_text("Open a finding").click()
    findings.get_by_label("Title").fill("Label leakage through the churn_date feature")
    findings.get_by_label("Severity").select_option("high")
    findings.get_by_label("Owner (username)").fill(owner.username)
    findings.get_by_label("Description").fill("`churn_date` is known only **after** the label.")
    findings.get_by_role("button", name="Open finding").click()
    lead_page.wait_for_url(re.compile(r"/findings/\d+/$"))
    finding_url = lead_page.url
    expect(lead_page.locator("#finding-status")).to_have_text("open")
    expect(lead_page.locator("#finding-description strong")).to_have_text("after")

    # The request page: blocked by it (the checks ran again by themselves and fail on the finding).
    lead_page.goto(request_url)
    reload_until(lead_page, lead_page.locator("#decision .badge.check-failed"))
    blocking = lead_page.locator("#request-findings")
    expect(blocking).to_contain_text("1 finding blocks this request")
    expect(blocking.get_by_role("row").filter(has_text="Label leakage")).to_contain_text("blocks")
    portal.shot(lead_page, "findings-request-blocked")

    # The finding's owner records the remediation, and may not close their own finding.
    owner_page.goto(finding_url)
    owner_page.get_by_label("Remediation notes").fill("Dropped churn_date and retrained.")
    owner_page.get_by_role("button", name="Mark remediated").click()
    expect(owner_page.locator("#finding-status")).to_have_text("remediated")
    expect(owner_page.locator("#close-refusal")).to_contain_text("someone else (a reviewer or ML lead) must close it")
    expect(owner_page.get_by_role("button", name="Close finding")).to_have_count(0)

    # Reviewer A, not its owner, closes it; the checks run again and pass.
    first = portal.page_for(reviewer_a)
    first.goto(finding_url)
    first.get_by_role("button", name="Close finding").click()
    expect(first.locator("#finding-status")).to_have_text("closed")
    expect(first.locator(".history")).to_contain_text("closed")
    first.goto(request_url)
    reload_until(first, first.locator("#decision .badge.check-passed"))
    expect(first.locator("#request-findings")).to_contain_text("Nothing blocks this request")

    # Two reviewers approve; the worker applies the transition.
    first.get_by_role("button", name="Approve").click()
    expect(first.locator("#decision .request-status")).to_contain_text("1 of 2 approvals")
    second = portal.page_for(reviewer_b)
    second.goto(request_url)
    second.get_by_role("button", name="Approve").click()
    expect(second.locator("#decision .request-status .badge").first).to_have_text("applied", timeout=WAIT_MS)

    assert portal.mlflow.get_model_version(seeded.name, "2").current_stage == "Production"
    assert portal.mlflow.get_model_version(seeded.name, "1").current_stage == "Archived"
