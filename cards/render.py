"""Markdown → sanitized HTML: the one renderer for card pages, live previews and the version page.

Card prose is written by users and the generated parts quote MLflow data that anyone with MLflow
access can set, so both are untrusted. Markdown may contain raw HTML; ``nh3`` (ammonia) then keeps
only the tags and attributes listed here, drops ``<script>``/``<style>`` with their content, allows
only http/https/mailto URLs (relative links stay) and adds ``rel="noopener noreferrer"`` to links.
Entities are decoded before URL schemes are checked, so ``jav&#x61;script:`` is caught too.

Images load only from our own origin (a relative URL) or inline as ``data:image/(png|gif|jpeg|webp);base64``:
an image from elsewhere is a tracking pixel that tells its host who read the card and when. Such an ``<img>``
becomes the text "[external image removed: host]", so the author sees why it is missing. The
Content-Security-Policy's ``img-src 'self' data:`` blocks them in the browser too (docs/security.md).
"""

import html
import re
from urllib.parse import quote, unquote, urlsplit

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
# data: passes nh3's scheme check so that inline images can; _filter_attribute keeps it on images only.
URL_SCHEMES = {"http", "https", "mailto", "data"}
INLINE_IMAGE = re.compile(r"data:image/(png|gif|jpeg|webp);base64,[a-z0-9+/=]*", re.IGNORECASE)
# What an <img> from elsewhere carries out of nh3, to be replaced by its visible note (never a URL a browser loads).
REMOVED_IMAGE = "#external-image-removed:"
REMOVED_IMAGE_TAG = re.compile(r'<img\b[^>]*\bsrc="' + REMOVED_IMAGE + r'([^"]*)"[^>]*>')
# Ignored by browsers wherever they appear in a URL (tab, newline) or around it (controls, space).
URL_IGNORED = re.compile(r"[\t\n\r]")
URL_TRIMMED = "".join(map(chr, range(0x21)))
# Dropped together with their content (everything else not allowed is unwrapped, keeping its text).
CONTENT_DROPPED_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript", "title"}

MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "sane_lists"]
# Column alignment as an ``align`` attribute: the default ``style=`` would be stripped.
MARKDOWN_CONFIG = {"tables": {"use_align_attribute": True}}


def foreign_image_note(src: str) -> str | None:
    """Why an image URL may not load, as the browser would read the URL; None for our origin or inline data."""
    url = URL_IGNORED.sub("", src).strip(URL_TRIMMED).replace("\\", "/")  # a browser reads \ in a URL as /
    if INLINE_IMAGE.fullmatch(url):
        return None
    if url.startswith("//"):  # scheme-relative: another host over our scheme, however many slashes
        return f"external image removed: {urlsplit('//' + url.lstrip('/')).hostname or 'another host'}"
    parts = urlsplit(url)
    if parts.netloc:
        return f"external image removed: {parts.hostname or parts.netloc}"
    if parts.scheme.lower() == "data":
        return "image removed: inline images must be PNG, GIF, JPEG or WebP in base64"
    if parts.scheme:
        return f"image removed: {parts.scheme.lower()}: URLs are not allowed"
    return None


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src":
        note = foreign_image_note(value)
        return value if note is None else REMOVED_IMAGE + quote(note, safe="")
    if attribute == "href" and URL_IGNORED.sub("", value).strip(URL_TRIMMED).lower().startswith("data:"):
        return None  # nh3 lets data: through for the images above; a data: link stays out as before
    return value


def _removed_image_note(match: re.Match) -> str:
    return f'<span class="image-removed">[{html.escape(unquote(match.group(1)))}]</span>'


def sanitize(html: str) -> str:
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=CONTENT_DROPPED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    # nh3's output quotes every attribute value and escapes its < > " &, so one tag is exactly one match here.
    return REMOVED_IMAGE_TAG.sub(_removed_image_note, cleaned)


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(text or "", extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
    return mark_safe(sanitize(html))  # noqa: S308 - sanitized by nh3 with the allow-list above


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|~")


def escape_markdown(value) -> str:
    """Quote a value from MLflow into Markdown (e.g. a table cell) so it shows as text and keeps the table whole."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + ch if ch in MARKDOWN_SPECIALS else ch for ch in text)
