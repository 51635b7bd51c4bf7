"""The Content-Security-Policy: every response carries it, with nothing ``unsafe-``; no template (and no page
rendered from one) has an inline script, style, event handler or style attribute for it to block."""

import re
from pathlib import Path

import pytest
from csp.utils import build_policy
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path

from tests.test_permission_matrix import world  # noqa: F401 - the fixture: a model, versions, requests, a card

ROOT = Path(__file__).resolve().parent.parent
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}
# What the policy would block in markup: <script> with a body or without src, <style>, style="", on*="",
# htmx's hx-on (evaluated with Function()), javascript: URLs.
INLINE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\btype=\"application/(ld\+)?json\")[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"\s(hx|data-hx)-on", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
TEMPLATES = sorted(
    [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")],
)
SAMPLES = {
    "name": "churn",
    "version": "2",
    "pk": "1",
    "object_id": "1",
    "id": "1",
    "content_type_id": "1",
    "section": "intended_use",
    "digest": "0123abcd",
    "prefix": "abcd1234",
    "request_id": "1",
    "waiver_id": "1",
    "recertification_id": "1",
    "finding_id": "1",
    "action": "close",
    "seq": "1",
    "sync_run_id": "1",
    "app_label": "auth",
    "rest": "nowhere",
    "url": "nowhere",
}


def directives(header: str | None) -> dict:
    return dict(part.strip().split(" ", 1) for part in (header or "").split(";") if part.strip())


def inline_constructs(html: str) -> list[str]:
    return [f"{kind}: {match.group(0)!r}" for kind, pattern in INLINE.items() for match in pattern.finditer(html)]


def concrete_paths(patterns=None, prefix="") -> list[str]:
    """Every URL pattern of the site with its parameters filled in from SAMPLES."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            found += concrete_paths(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLES[m.group(1)], route)
            route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLES[m.group(1)], route)
            found.append("/" + route)
    return found


def test_the_policy_is_the_documented_one_with_nothing_unsafe():
    assert directives(build_policy()) == POLICY
    assert "unsafe" not in build_policy()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_has_inline_script_or_style(template):
    assert inline_constructs(template.read_text()) == []


def test_the_template_check_catches_each_kind():
    found = inline_constructs(
        '<script>x()</script><script type="module">y()</script><script src="/s.js"></script>'
        '<script type="application/json" id="d">{}</script><style>p{}</style><p style="color:red">'
        '<a href="javascript:x()" onclick="x()">a</a><div hx-on::before-swap="x()"></div>'
    )
    assert [line.split(":")[0] for line in found] == [
        "inline script",
        "inline script",
        "style element",
        "style attribute",
        "event handler",
        "hx-on",
        "javascript",
    ]


def test_every_url_pattern_answers_with_the_policy(world, people):  # noqa: F811 - the imported fixture
    paths = concrete_paths()
    assert len(paths) > 100 and "/api/v1/docs" in paths and "/admin/" in paths
    pages = 0
    for persona in ("anonymous", "admin", "owner"):
        client = Client(raise_request_exception=False)
        if persona != "anonymous":
            client.force_login(people[persona])
        for url in paths:
            response = client.get(url)
            policy = directives(response.get("Content-Security-Policy"))
            assert policy == POLICY, (persona, url, response.status_code)
            if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
                pages += 1
                assert inline_constructs(response.content.decode()) == [], (persona, url)
    assert pages > 60  # the model, version, card, request, admin and docs pages rendered, not only refusals


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom)]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_server_error_page_carries_the_policy_too():
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert directives(response["Content-Security-Policy"]) == POLICY
