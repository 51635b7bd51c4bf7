"""A real OpenID Connect provider on 127.0.0.1 for the tests (oidc-provider-mock, a Flask app in a thread), and the
portal's single sign-on settings pointed at it."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import oidc_provider_mock
import requests
import werkzeug.serving

CLIENT_ID = "registry-portal"
CLIENT_SECRET = "test-client-secret"  # noqa: S105 - the mock provider accepts any secret
PROVIDER_NAME = "Example IdP"
GROUP_MAP = {"ml-reviewers": "reviewers", "ml-leads": "ml-leads", "model-owners": "owners", "portal-admins": "admin"}


@dataclass
class Provider:
    url: str

    def set_user(self, sub: str, **claims) -> None:
        """What the provider says about ``sub`` from now on (its userinfo and ID token claims)."""
        requests.put(f"{self.url}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """The provider's authorization form, submitted for ``sub``: returns the portal callback it redirects to."""
        assert authorize_url.startswith(f"{self.url}/oauth2/authorize?"), authorize_url
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def configure(self, settings, **overrides) -> None:
        """Turn single sign-on on in Django's ``settings`` (the pytest-django fixture), as the environment would."""
        values = {
            "OIDC_ENABLED": True,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/oauth2/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            "OIDC_OP_LOGOUT_ENDPOINT": f"{self.url}/oauth2/end_session",
            "OIDC_RP_SIGN_ALGO": "RS256",
            # The mock signs with one key and names none in its ID tokens (the signature is still checked).
            "OIDC_VERIFY_KID": False,
            "OIDC_PROVIDER_NAME": PROVIDER_NAME,
            "OIDC_GROUP_MAP": GROUP_MAP,
            "LOCAL_LOGIN_ENABLED": True,
            **overrides,
        }
        for name, value in values.items():
            setattr(settings, name, value)
        from registry_portal.env import sso_form_action

        policy = {
            **settings.CONTENT_SECURITY_POLICY,
            "DIRECTIVES": dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]),
        }
        policy["DIRECTIVES"]["form-action"] = sso_form_action(values["OIDC_OP_LOGOUT_ENDPOINT"])
        settings.CONTENT_SECURITY_POLICY = policy
        settings.AUTHENTICATION_BACKENDS = [
            "accounts.backends.LockoutBackend",
            *(["django.contrib.auth.backends.ModelBackend"] if values["LOCAL_LOGIN_ENABLED"] else []),
            "accounts.oidc.PortalOIDCBackend",
        ]


@contextmanager
def running_provider():
    """The provider listening on a free port of 127.0.0.1 until the block ends."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
