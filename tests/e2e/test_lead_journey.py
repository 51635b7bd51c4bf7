"""Journey 4: an ML lead audits a production model — lineage to its dataset, every version trained on it,
the stage history, the audit log, and a CSV export of it."""

import csv
import io

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e]


def test_lead_follows_lineage_from_production_to_the_dataset_and_exports_the_audit_log(portal, lead, seeded):
    page = portal.page_for(lead)
    page.goto("/")
    expect(page.get_by_role("heading", name="Registered models")).to_be_visible()

    # The production model, from the list, to its Production version's lineage.
    page.get_by_role("link", name=seeded.name, exact=True).click()
    expect(page.get_by_role("heading", name=seeded.name, level=1)).to_be_visible()
    page.get_by_role("heading", name="In Production: v1").get_by_role("link", name="v1").click()
    expect(page).to_have_url(f"{portal.url}/models/{seeded.name}/versions/1/")
    page.locator("#main").get_by_role("link", name="Lineage", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Lineage of {seeded.name} v1")
    expect(page.locator("h1 .badge")).to_have_text("Production")
    portal.shot(page, "lead-lineage")

    # The dataset box in the graph leads to every version trained on that dataset.
    page.locator("a.node.dataset").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(seeded.dataset)
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(3)
    for number, stage in ((1, "Production"), (2, "Staging"), (3, "Staging")):
        row = rows.filter(has=page.get_by_role("rowheader", name=f"v{number}", exact=True))
        expect(row.locator(".badge").first).to_have_text(stage)
    portal.shot(page, "lead-dataset")
    dataset_url = page.url
    for number in (1, 2, 3):
        page.get_by_role("rowheader", name=f"v{number}", exact=True).get_by_role("link").click()
        expect(page).to_have_url(f"{portal.url}/models/{seeded.name}/versions/{number}/")
        expect(page.get_by_role("link", name=seeded.dataset).first).to_be_visible()
        page.goto(dataset_url)

    # The stage filter narrows the list to the Production version, without a reload.
    page.get_by_role("link", name="Production (1)").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("v1")

    # Stage history on the model page, as a timeline and as a table.
    page.goto(f"/models/{seeded.name}/")
    history = page.locator("#history")
    expect(history.locator(".timeline .bar").first).to_be_visible()
    history.get_by_text("Stage history as a table").click()
    table = history.get_by_role("table")
    expect(table.get_by_role("row").filter(has_text="Production").filter(has_text="v1")).to_have_count(1)
    expect(table.get_by_role("row").filter(has_text="Staging")).to_have_count(2)

    # The audit log, filtered to this model, exported as CSV.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_role("textbox", name="Model").fill(seeded.name)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#results tbody tr").first).to_contain_text(seeded.name)
    expect(page.locator("#results tbody tr").filter(has_text="registry.version_created")).to_have_count(3)
    portal.shot(page, "lead-audit-log")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    header, events = rows[0], rows[1:]
    assert "action" in header
    actions = [row[header.index("action")] for row in events]
    assert actions.count("registry.version_created") == 3
    assert {row[header.index("model_name")] for row in events} == {seeded.name}
