"""Journey: single sign-on in the browser. A user with no portal account clicks "Sign in with …", completes the
identity provider's form (a real OpenID Connect provider on 127.0.0.1), lands signed in with the portal roles
their IdP groups map to, and signs out through the provider's end-session page back to the sign-in page."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts.tests.oidc_provider import PROVIDER_NAME, running_provider

# The journey points the portal at a provider it starts itself, through Django settings: the prod-local stack's
# processes have their own environment, so this one runs on the live server (CI's first browser step) only.
pytestmark = [pytest.mark.e2e, pytest.mark.live_server_only]


@pytest.fixture(scope="module")
def oidc_provider():
    with running_provider() as provider:
        yield provider


def test_sign_in_with_the_identity_provider_maps_groups_and_sign_out_ends_both_sessions(
    portal, oidc_provider, settings
):
    oidc_provider.configure(settings, LOCAL_LOGIN_ENABLED=False)
    oidc_provider.set_user(
        "sso-rita",
        preferred_username="rita",
        email="rita@example.com",
        given_name="Rita",
        groups=["ml-leads", "ml-reviewers", "finance"],
    )

    page = portal.page_for()
    page.goto("/accounts/login/")
    expect(page.get_by_label("Password")).to_have_count(0)  # local accounts are off
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()

    page.wait_for_url(re.compile(re.escape(f"{oidc_provider.url}/oauth2/authorize?")))
    page.get_by_placeholder("sub").fill("sso-rita")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{portal.url}/")
    expect(page.get_by_role("heading", name="Registered models")).to_be_visible()
    expect(page.locator("form.logout")).to_contain_text("rita")
    # ml-leads read the whole audit log: the mapped role is there, in the page as in the database.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")).to_be_visible()
    rita = User.objects.get(username="rita")
    assert set(rita.groups.values_list("name", flat=True)) == {"ml-leads", "reviewers"}
    assert (rita.email, rita.first_name) == ("rita@example.com", "Rita")
    portal.shot(page, "sso-signed-in")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(f"{oidc_provider.url}/oauth2/end_session?id_token_hint=")))
    page.get_by_role("button", name="End session").click()

    page.wait_for_url(f"{portal.url}/accounts/login/")
    expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
    page.goto("/accounts/tokens/")
    expect(page).to_have_url(re.compile(re.escape(f"{portal.url}/accounts/login/?next=")))
