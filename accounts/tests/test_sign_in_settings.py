"""The sign-in settings read from the environment: a bad or incomplete value stops start-up naming the variable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "https://idp.example.com"
SSO = {
    "OIDC_RP_CLIENT_ID": "registry-portal",
    "OIDC_RP_CLIENT_SECRET": "secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{PROVIDER}/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": f"{PROVIDER}/token",
    "OIDC_OP_USER_ENDPOINT": f"{PROVIDER}/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": f"{PROVIDER}/jwks",
}
PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.OIDC_ENABLED, s.AUTHENTICATION_BACKENDS, s.OIDC_GROUP_MAP, s.AXES_FAILURE_LIMIT]))"
)


def start_django(**env) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OIDC_", "AXES_", "LOGIN_", "LOCAL_LOGIN")) and k not in ("DATABASE_URL",)
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**environment, **env, "DJANGO_SETTINGS_MODULE": "registry_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sso_is_off_by_default_and_password_sign_in_is_on():
    result = start_django()
    assert result.returncode == 0, result.stderr
    enabled, backends, group_map, limit = json.loads(result.stdout.strip().splitlines()[-1])
    assert (enabled, group_map, limit) == (False, {}, 5)
    assert backends == ["accounts.backends.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]


def test_sso_on_with_local_accounts_off():
    group_map = {"ml-reviewers": "reviewers", "portal-admins": "admin"}
    result = start_django(**SSO, OIDC_GROUP_MAP=json.dumps(group_map), LOCAL_LOGIN_ENABLED="false")
    assert result.returncode == 0, result.stderr
    enabled, backends, parsed_map, _ = json.loads(result.stdout.strip().splitlines()[-1])
    assert (enabled, parsed_map) == (True, group_map)
    assert backends == ["accounts.backends.LockoutBackend", "accounts.oidc.PortalOIDCBackend"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({**SSO, "OIDC_RP_CLIENT_SECRET": ""}, "OIDC_RP_CLIENT_SECRET"),
        ({**SSO, "OIDC_OP_USER_ENDPOINT": "idp.example.com/userinfo"}, "OIDC_OP_USER_ENDPOINT"),
        ({**SSO, "OIDC_OP_JWKS_ENDPOINT": ""}, "OIDC_OP_JWKS_ENDPOINT"),
        ({**SSO, "OIDC_OP_LOGOUT_ENDPOINT": "ftp://idp.example.com/logout"}, "OIDC_OP_LOGOUT_ENDPOINT"),
        ({**SSO, "OIDC_RP_SIGN_ALGO": "none"}, "OIDC_RP_SIGN_ALGO"),
        ({**SSO, "OIDC_RP_SCOPES": "email profile"}, "OIDC_RP_SCOPES"),
        ({**SSO, "OIDC_GROUP_MAP": "reviewers"}, "OIDC_GROUP_MAP"),
        ({**SSO, "OIDC_GROUP_MAP": '{"ml-reviewers": "superusers"}'}, "OIDC_GROUP_MAP"),
        ({"LOCAL_LOGIN_ENABLED": "false"}, "LOCAL_LOGIN_ENABLED"),
        ({"AXES_FAILURE_LIMIT": "0"}, "AXES_FAILURE_LIMIT"),
        ({"LOGIN_FAILURE_WINDOW_SECONDS": "10"}, "LOGIN_FAILURE_WINDOW_SECONDS"),
        ({"LOGIN_ADDRESS_FAILURE_LIMIT": "many"}, "LOGIN_ADDRESS_FAILURE_LIMIT"),
    ],
)
def test_a_bad_sign_in_setting_stops_start_up_naming_the_variable(env, variable):
    result = start_django(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.strip().splitlines()[-1]
