"""Notifications journey: a request filed in the browser reaches the reviewers by email (the dispatcher following the audit
log, the worker sending), and the link in the mail opens the request. On ``PORTAL_E2E_STACK=prod-local`` it is
beat that runs the dispatcher and the stack's worker that sends, both processes of ``scripts/prod-local``."""

import re
import time

import pytest
from playwright.sync_api import expect

from .conftest import file_request_in_browser

pytestmark = [pytest.mark.e2e]


def mail_to(portal, address: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in portal.sent_mail() if address in m["To"]]
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"no mail to {address} within {timeout}s; sent: {[m['To'] for m in portal.sent_mail()]}")


def test_reviewers_are_emailed_a_link_to_the_new_request(portal, owner, reviewer_a, reviewer_b, seeded):
    owner_page = portal.page_for(owner)
    request_path = file_request_in_browser(owner_page, seeded.name, 2, "Production", "Beats v1 on accuracy.")
    portal.dispatch_notifications()

    (mail,) = mail_to(portal, reviewer_a.email)
    assert seeded.name in mail["Subject"], mail["Subject"]
    links = re.findall(r"Open it in the portal: (\S+)", mail.get_content())
    assert links == [f"{portal.url}{request_path}"], mail.get_content()
    mail_to(portal, reviewer_b.email)
    assert not [m for m in portal.sent_mail() if owner.email in m["To"]], "the owner is no reviewer"
    assert "notifications.tasks.deliver_subscription" in portal.worker.handled(), "sent by the worker"

    page = portal.page_for(reviewer_a)
    page.goto(links[0])
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{seeded.name} v2 → Production")
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
