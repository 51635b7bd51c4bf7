"""Journey 1: the owner of a model finds their new version, finishes its model card (live preview, an edit
conflict with a second session, the completeness meter at 100 %), and learns what blocks Production."""

import pytest
from playwright.sync_api import expect

from tests.factories import card_save, version_of

from .conftest import COMPLETE_CARD, WAIT_MS, file_request_in_browser

pytestmark = [pytest.mark.e2e]

LAST_SECTION = "caveats_recommendations"
LAST_TITLE = "Caveats & Recommendations"


def test_owner_completes_the_card_through_a_conflict_and_sees_what_blocks_production(portal, owner, seeded):
    new = 3
    # Earlier sessions wrote every section but the last one.
    card_save(owner, version_of(seeded.name, new), {k: v for k, v in COMPLETE_CARD.items() if k != LAST_SECTION})

    page = portal.page_for()
    portal.sign_in(page, owner)
    expect(page.get_by_role("heading", name="Registered models")).to_be_visible()

    # From the model list to the newest version.
    page.get_by_role("searchbox", name="Name", exact=True).fill(seeded.name)
    row = page.locator("#results tbody tr").filter(has_text=seeded.name)
    expect(row).to_have_count(1)
    row.get_by_role("cell").nth(2).get_by_role("link", name=f"v{new}").click()  # the "Latest" column
    expect(page).to_have_url(f"{portal.url}/models/{seeded.name}/versions/{new}/")
    panel = page.locator("#model-card")
    expect(panel.locator("meter")).not_to_have_attribute("value", "100")
    panel.get_by_role("link", name="Open the card").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Model card: {seeded.name} v{new}")
    expect(page.locator(f"#{LAST_SECTION}")).to_contain_text("Contains a placeholder")

    # A second session of the owner (another tab, another laptop) opens the same section first.
    other = portal.page_for(owner)
    other.goto(f"/cards/{seeded.name}/{new}/edit/{LAST_SECTION}/")
    expect(other.get_by_role("heading", level=1)).to_have_text(f"Edit “{LAST_TITLE}”")

    # The owner edits with a live preview: Markdown renders as they type, before anything is saved.
    page.get_by_role("link", name=f"Edit {LAST_TITLE}").click()
    editor = page.get_by_role("textbox", name="Markdown")
    editor.fill("Retrain **monthly**; alert when drift exceeds 5 %.")
    expect(page.locator("#preview strong")).to_have_text("monthly", timeout=WAIT_MS)
    portal.shot(page, "owner-card-editor")

    # Meanwhile the other session saves its version of the same section.
    other.get_by_role("textbox", name="Markdown").fill("Retrain every quarter.")
    other.get_by_role("textbox", name="Summary of changes").fill("caveats from the other tab")
    other.get_by_role("button", name="Save revision").click()
    expect(other.get_by_text("Saved revision 2 of the card")).to_be_visible()

    # The owner's save is refused without overwriting: both texts are shown to merge.
    page.get_by_role("textbox", name="Summary of changes").fill("caveats and drift alert")
    page.get_by_role("button", name="Save revision").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Someone saved this card while you were editing")
    expect(page.locator("#theirs")).to_have_text("Retrain every quarter.")
    expect(page.locator("#yours")).to_contain_text("Retrain **monthly**")
    portal.shot(page, "owner-card-conflict")
    page.get_by_role("textbox", name="Markdown").fill("Retrain **monthly** (quarterly at the latest); alert on drift.")
    page.get_by_role("button", name="Save on top of revision 2").click()
    expect(page.get_by_text("Saved revision 3 of the card")).to_be_visible()

    # Every required section is filled: the meter reads 100 %.
    completeness = page.get_by_role("region", name="Completeness")
    expect(completeness.locator("meter")).to_have_attribute("value", "100")
    expect(completeness).to_contain_text("100% complete")
    expect(completeness).to_contain_text("every required section is filled")
    expect(page.locator(f"#{LAST_SECTION} .prose strong")).to_have_text("monthly")
    # The worker publishes the revision to MLflow (artifact on the run, tags on the version).
    expect(page.locator("#publication .badge")).to_have_text("published", timeout=WAIT_MS)
    tags = portal.mlflow.get_model_version(seeded.name, str(new)).tags
    assert tags["model_card.revision"] == "3", tags
    assert tags["model_card.complete"] == "true", tags
    portal.shot(page, "owner-card-complete")

    # What would block Production? The card passes now; accuracy and regression are explained.
    page.goto(f"/models/{seeded.name}/versions/{new}/")
    page.get_by_role("link", name="What would block this?").click()
    page.get_by_label("Target stage").select_option("Production")
    report = page.locator("#report")
    expect(report).to_contain_text("rules would block it")
    accuracy = report.locator("li.check").filter(has_text="accuracy =")
    expect(accuracy).to_have_class("check failed")
    expect(accuracy).to_contain_text("accuracy = 0.86, needs >= 0.9")
    expect(report.locator("li.check").filter(has=page.get_by_text("model-card", exact=True))).to_have_class(
        "check passed"
    )
    expect(report.locator("li.check").filter(has=page.get_by_text("no-regression", exact=True))).to_have_class(
        "check failed"
    )
    portal.shot(page, "owner-blocking-checks")

    # The owner requests Production anyway: the request's checks run on the worker and explain the failure.
    file_request_in_browser(page, seeded.name, new, "Production", "Newer data; the card is complete.")
    checks = page.locator("#checks")
    expect(checks.locator(".badge.check-failed")).to_be_visible(timeout=WAIT_MS)  # the panel polls while running
    expect(checks.locator("li.check.failed").filter(has_text="accuracy = 0.86, needs >= 0.9")).to_have_count(1)
    expect(checks.locator("li.check.failed").filter(has_text="no-regression")).to_have_count(1)
    page.reload()
    expect(page.locator("#decision .request-status")).to_contain_text("failing")
    checks.scroll_into_view_if_needed()
    portal.shot(page, "owner-request-checks-failing")
