"""Start-up refuses an unsafe production configuration; the production defaults pass ``check --deploy``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.settings import TEST_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_KEY = "Zq3v-8Ls_kP0wN5xR2yT7uB4mC9dF6gH1jK0lA3sD5fG7hJ9kL"
SHOWN = (
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
)


def run(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    """A fresh Python process on ``registry_portal.settings`` (not the test run's), with only ``env`` set on top."""
    # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser journeys' fixture for this process, never in a deployment.
    dropped = {*TEST_ENVIRONMENT, "DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECURE_PROXY_SSL_HEADER"}
    dropped |= {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    environment |= {"DJANGO_SETTINGS_MODULE": "registry_portal.settings", "PORTAL_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def settings_of(tmp_path, **env) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SHOWN!r}}}))"
    )
    result = run(["-c", code], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DEBUG="false",
        SECRET_KEY=PRODUCTION_KEY,
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_check_deploy_fails_on_what_it_should_catch(tmp_path):
    """The check above can fail: plain-HTTP cookies and no HSTS are reported."""
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        DEBUG="false",
        SECRET_KEY=PRODUCTION_KEY,
        SESSION_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
    )
    assert result.returncode != 0
    assert "security.W012" in result.stderr and "security.W004" in result.stderr


def test_production_defaults_when_debug_is_off(tmp_path):
    values = settings_of(tmp_path, DEBUG="false", SECRET_KEY=PRODUCTION_KEY)
    assert values == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
    }


def test_debug_keeps_the_demo_on_plain_http_without_a_key(tmp_path):
    values = settings_of(tmp_path, DEBUG="true")
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is False


def test_each_https_setting_comes_from_the_environment(tmp_path):
    values = settings_of(
        tmp_path,
        DEBUG="false",
        SECRET_KEY=PRODUCTION_KEY,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SECURE_HSTS_PRELOAD="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SESSION_COOKIE_SAMESITE="strict",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_REFERRER_POLICY="no-referrer",
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is values["SECURE_HSTS_PRELOAD"] is False
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is False
    assert values["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_REFERRER_POLICY"] == "no-referrer"


def test_start_up_refuses_debug_off_without_a_secret_key(tmp_path):
    result = run(["manage.py", "check"], tmp_path, DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "short-but-random-9f8e7d6c",
        "a" * 64,
        "django-insecure-" + "k2j3h4g5f6d7s8a9q0w1e2r3t4y5u6i7o8p9l0z",
        "insecure-dev-key-change-me" + "x1y2z3w4v5u6t7s8r9q0p1o2n3m4l5",
    ],
    ids=["too short", "too few different characters", "django-insecure prefix", "the development key"],
)
def test_start_up_refuses_a_weak_secret_key_with_debug_off(tmp_path, key):
    result = run(["manage.py", "check"], tmp_path, DEBUG="false", SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is too weak" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("SESSION_COOKIE_SAMESITE", "None"),
        ("SECURE_REFERRER_POLICY", "unsafe-url"),
    ],
)
def test_bad_security_values_stop_start_up_naming_the_variable(tmp_path, variable, value):
    result = run(["manage.py", "check"], tmp_path, DEBUG="false", SECRET_KEY=PRODUCTION_KEY, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr


@pytest.mark.django_db
def test_the_https_redirect_spares_the_probes(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    redirected = client.get("/models/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/models/"
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert client.get(probe).status_code != 301, probe
