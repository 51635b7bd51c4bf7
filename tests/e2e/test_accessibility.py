"""axe-core on the main pages (no serious or critical violations, every form control labelled), and the
model page at a laptop's and a phone's width (nothing wider than the window but the tables, which scroll)."""

import pytest
from playwright.sync_api import expect

from findings.services import finding_open
from tests.factories import card_save, file_request, version_of

from .conftest import COMPLETE_CARD, LAPTOP, PHONE, assert_accessible, axe_violations

pytestmark = [pytest.mark.e2e]


def test_main_pages_pass_axe_and_label_every_control(portal, lead, seeded):
    anonymous = portal.page_for()
    anonymous.goto("/accounts/login/")
    expect(anonymous.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(anonymous, "the login page")

    finding = finding_open(
        actor=lead, version=version_of(seeded.name, 2), title="leak", severity="high", owner=lead, description="*x*"
    )
    page = portal.page_for(lead)
    pages = {
        "the model list": "/",
        "the model page": f"/models/{seeded.name}/",
        "the version page": f"/models/{seeded.name}/versions/2/",
        "the lineage page": f"/models/{seeded.name}/versions/2/lineage/",
        "the model card": f"/cards/{seeded.name}/2/",
        "the audit log": "/audit/",
        "the lineage search": f"/lineage/?q={seeded.dataset}",
        "the findings list": "/findings/",
        "a finding": finding.get_absolute_url(),
        "the open-a-finding form": f"/findings/models/{seeded.name}/versions/2/open/",
    }
    for where, path in pages.items():
        response = page.goto(path)
        assert response.ok, f"{where}: HTTP {response.status}"
        assert_accessible(page, where)


@pytest.mark.parametrize(("label", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
def test_model_page_fits_laptop_and_phone(portal, owner, seeded, label, viewport):
    page = portal.page_for(owner, viewport=viewport)
    page.goto(f"/models/{seeded.name}/")
    expect(page.get_by_role("heading", name=seeded.name, level=1)).to_be_visible()
    # The page itself never scrolls sideways; wide tables scroll inside their own box.
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the model page is {overflow}px wider than a {label} window"
    versions = page.locator("#versions .table-wrap")
    expect(versions).to_have_css("overflow-x", "auto")
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    portal.shot(page, f"model-page-{label}", full_page=True)


def test_every_main_page_fits_a_phone(portal, owner, lead, seeded):
    card_save(owner, version_of(seeded.name, 2), COMPLETE_CARD)
    request = file_request(owner, version_of(seeded.name, 2))
    finding = finding_open(actor=lead, version=version_of(seeded.name, 2), title="leak", severity="high", owner=owner)
    page = portal.page_for(lead, viewport=PHONE)
    for path in (
        "/",
        f"/models/{seeded.name}/",
        f"/models/{seeded.name}/versions/2/",
        f"/models/{seeded.name}/versions/2/lineage/",
        f"/cards/{seeded.name}/2/",
        f"/approvals/requests/{request.pk}/",
        "/approvals/queue/",
        "/audit/",
        "/findings/",
        finding.get_absolute_url(),
    ):
        page.goto(path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"


def test_review_pages_pass_axe_and_approving_needs_no_mouse(portal, owner, reviewer, seeded):
    from approvals.models import Review

    card_save(owner, version_of(seeded.name, 2), COMPLETE_CARD)
    request = file_request(owner, version_of(seeded.name, 2))
    page = portal.page_for(reviewer)
    page.goto("/approvals/queue/")
    expect(page.locator("tbody tr").filter(has_text=f"{seeded.name} v2")).to_have_count(1)
    assert_accessible(page, "the review queue")
    page.goto(f"/approvals/requests/{request.pk}/")
    assert_accessible(page, "the request page")
    page.goto(f"/models/{seeded.name}/versions/2/")
    assert_accessible(page, "the version page with an open request")

    # Keyboard only: Tab from the top of the request page to Approve, then Enter.
    page.goto(f"/approvals/requests/{request.pk}/")
    approve = page.get_by_role("button", name="Approve")
    for _ in range(300):
        page.keyboard.press("Tab")
        if approve.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the Approve button")
    expect(approve).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#decision .request-status")).to_contain_text("1 of 2 approvals")
    assert Review.objects.filter(request=request, reviewer=reviewer, decision="approve").count() == 1


def test_the_checks_can_fail(browser):
    """The harness itself: a page with an unlabelled control and unreadable text fails both checks."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        '<html lang="en"><head><title>bad</title></head><body><main><input type="text">'
        '<p style="color:#eee;background:#fff">faint</p></main></body></html>'
    )
    violations = {v["id"] for v in axe_violations(page)}
    assert {"label", "color-contrast"} <= violations
    with pytest.raises(AssertionError, match="label"):
        assert_accessible(page, "a bad page")
    context.close()
