"""The Content-Security-Policy in the browser: the pages outside the journeys (API docs, admin, login) run under
it without a violation, and the violation detector every journey carries does report one."""

import pytest
from csp.utils import build_policy

from .conftest import watch_csp_violations

pytestmark = pytest.mark.e2e

INLINE = (
    "<!doctype html><html><head><title>probe</title><style>p { color: red }</style></head><body>"
    '<p style="color: blue">styled</p><script>document.title = "ran"</script>'
    '<img alt="pixel" src="https://tracker.example/p.png"></body></html>'
)


def test_the_violation_detector_reports_inline_script_style_and_foreign_images(portal):
    context = portal.browser.new_context(base_url=portal.url)
    violations = []
    watch_csp_violations(context, violations)
    page = context.new_page()
    policy = build_policy()  # the settings' policy, as the middleware sends it
    page.route(
        "**/csp-probe/",
        lambda route: route.fulfill(
            status=200, content_type="text/html", headers={"Content-Security-Policy": policy}, body=INLINE
        ),
    )
    page.goto("/csp-probe/")
    expected = {"script-src-elem", "style-src-elem", "style-src-attr", "img-src"}
    for _ in range(100):  # the reports arrive as the page dispatches them; waiting lets Playwright deliver them
        if expected <= {v["directive"] for v in violations}:
            break
        page.wait_for_timeout(50)
    assert expected <= {v["directive"] for v in violations}, violations
    assert page.title() == "probe"  # the inline script did not run
    context.close()


def under_policy(page, path: str):
    response = page.goto(path)
    assert "script-src 'self';" in response.headers["content-security-policy"] + ";", path
    return response


def test_api_docs_admin_and_login_run_under_the_policy(portal, admin_user, owner):
    page = portal.page_for(admin_user)
    under_policy(page, "/api/v1/docs")
    page.locator(".swagger-ui .info").wait_for()
    page.get_by_text("/api/v1/models", exact=True).first.click()
    page.get_by_role("button", name="Try it out").wait_for()
    under_policy(page, "/admin/")
    page.get_by_role("heading", name="Site administration").wait_for()
    under_policy(page, "/admin/auth/user/")
    page.get_by_role("checkbox", name="Select all objects on this page for an action").check()
    under_policy(page, f"/admin/auth/user/{owner.pk}/change/")
    page.get_by_role("button", name="Save", exact=True).wait_for()
    under_policy(page, "/admin/auth/group/add/")
    anonymous = portal.page_for()
    under_policy(anonymous, "/accounts/login/")
    anonymous.get_by_label("Username").wait_for()
    assert under_policy(anonymous, "/no-such-page/").status == 404
    # the portal fixture's teardown fails the test on any violation these pages reported


def test_the_stage_history_is_laid_out_by_the_static_script(portal, owner, seeded):
    page = portal.page_for(owner)
    page.goto(f"/models/{seeded.name}/")
    bars = page.locator(".timeline .bar")
    bars.first.wait_for()
    placed = bars.evaluate_all("els => els.map(el => [el.dataset.left, el.style.left, el.style.width, el.style.top])")
    assert placed and all(left is not None and style_left == f"{float(left):g}%" for left, style_left, *_ in placed)
    assert all(width.endswith("%") and top.endswith("rem") for *_, width, top in placed), placed
    assert page.locator(".timeline .track").first.evaluate("el => el.style.height").endswith("rem")
