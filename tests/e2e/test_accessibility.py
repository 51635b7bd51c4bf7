"""axe-core on the main pages (no serious or critical violations, every form control labelled), and the
model page at a laptop's and a phone's width (nothing wider than the window but the tables, which scroll)."""

import pytest
from playwright.sync_api import expect

from .conftest import LAPTOP, PHONE, assert_accessible

pytestmark = [pytest.mark.e2e]


def test_main_pages_pass_axe_and_label_every_control(portal, people, seeded):
    anonymous = portal.page_for()
    anonymous.goto("/accounts/login/")
    expect(anonymous.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(anonymous, "the login page")

    page = portal.page_for(people.lead)
    pages = {
        "the model list": "/",
        "the model page": f"/models/{seeded.name}/",
        "the version page": f"/models/{seeded.name}/versions/2/",
        "the lineage page": f"/models/{seeded.name}/versions/2/lineage/",
        "the model card": f"/cards/{seeded.name}/2/",
        "the audit log": "/audit/",
        "the lineage search": f"/lineage/?q={seeded.dataset}",
    }
    for where, path in pages.items():
        response = page.goto(path)
        assert response.ok, f"{where}: HTTP {response.status}"
        assert_accessible(page, where)


@pytest.mark.parametrize(("label", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
def test_model_page_fits_laptop_and_phone(portal, people, seeded, label, viewport):
    page = portal.page_for(people.owner, viewport=viewport)
    page.goto(f"/models/{seeded.name}/")
    expect(page.get_by_role("heading", name=seeded.name, level=1)).to_be_visible()
    # The page itself never scrolls sideways; wide tables scroll inside their own box.
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the model page is {overflow}px wider than a {label} window"
    versions = page.locator("#versions .table-wrap")
    expect(versions).to_have_css("overflow-x", "auto")
    expect(page.locator("#versions tbody tr")).to_have_count(3)
    portal.shot(page, f"model-page-{label}")
