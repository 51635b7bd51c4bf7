"""Journey 5: someone moves a stage directly in MLflow, bypassing the portal; after the next sync the model
page (and the model list) shows a red banner naming the change."""

import pytest
from playwright.sync_api import expect

from .conftest import WAIT_MS

pytestmark = [pytest.mark.e2e]


def test_a_stage_moved_in_mlflow_shows_a_red_banner_after_sync(portal, lead, seeded):
    page = portal.page_for(lead)
    page.goto(f"/models/{seeded.name}/")
    expect(page.get_by_role("heading", name=seeded.name, level=1)).to_be_visible()
    expect(page.locator(".banner-danger")).to_have_count(0)

    # An MLflow user with EDIT rights promotes v3 straight to Production.
    portal.world.transition(seeded.name, 3, "Production", archive=True)
    assert portal.mlflow.get_model_version(seeded.name, "3").current_stage == "Production"

    # "Sync now", as a user would, from the model list; the worker runs the sync and the detection after it.
    page.goto("/")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-status .badge")).to_have_text("succeeded", timeout=WAIT_MS)
    from approvals.models import UnapprovedTransition

    portal.worker.wait(lambda: UnapprovedTransition.objects.filter(model_name=seeded.name).exists())
    changes = {u.describe() for u in UnapprovedTransition.objects.filter(model_name=seeded.name)}
    assert f"{seeded.name} v3: Staging → Production" in changes, changes

    page.goto(f"/models/{seeded.name}/")
    banner = page.locator(".banner-danger")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("v3")
    expect(banner).to_contain_text("Production")
    portal.shot(page, "out-of-band-banner")

    page.goto("/")
    expect(page.locator(".banner-danger").first).to_be_visible()
