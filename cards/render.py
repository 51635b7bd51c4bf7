"""Markdown → sanitized HTML: the one renderer for card pages, live previews and the version page.

Card prose is written by users and the generated parts quote MLflow data that anyone with MLflow
access can set, so both are untrusted. Markdown may contain raw HTML; ``nh3`` (ammonia) then keeps
only the tags and attributes listed here, drops ``<script>``/``<style>`` with their content, allows
only http/https/mailto URLs (relative links stay) and adds ``rel="noopener noreferrer"`` to links.
Entities are decoded before URL schemes are checked, so ``jav&#x61;script:`` is caught too.
"""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Dropped together with their content (everything else not allowed is unwrapped, keeping its text).
CONTENT_DROPPED_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript", "title"}

MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
# Column alignment as an ``align`` attribute: the default ``style=`` would be stripped.
MARKDOWN_CONFIG = {"tables": {"use_align_attribute": True}}


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=CONTENT_DROPPED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(text or "", extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
    return mark_safe(sanitize(html))  # noqa: S308 - sanitized by nh3 with the allow-list above


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|~")


def escape_markdown(value) -> str:
    """Quote a value from MLflow into Markdown (e.g. a table cell) so it shows as text and keeps the table whole."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + ch if ch in MARKDOWN_SPECIALS else ch for ch in text)
