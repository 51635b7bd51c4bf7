"""Card images load from our origin or inline data only: any other source would be a tracking pixel that tells
its host who read the card. What is removed leaves a visible note, so the author sees why."""

import re

import pytest

from cards.render import render_markdown

PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

EXTERNAL = [
    ("![p](https://tracker.example/p.png)", "tracker.example"),
    ("![p](http://tracker.example/p.png)", "tracker.example"),
    ("![p](HTTPS://TRACKER.EXAMPLE/p.png)", "tracker.example"),
    ("![p](HtTp://tracker.example:8080/p.png)", "tracker.example"),
    ("![p](//tracker.example/p.png)", "tracker.example"),
    ('<img src="///tracker.example/p.png">', "tracker.example"),
    ('<img src="/\\tracker.example/p.png">', "tracker.example"),
    ('<img src="\\\\tracker.example/p.png">', "tracker.example"),
    ('<img src="  https://tracker.example/p.png  ">', "tracker.example"),
    ('<img src="ht&#x09;tps://tracker.example/p.png">', "tracker.example"),
    ('<img src="https&#58;//tracker.example/p.png">', "tracker.example"),
    ('<img src="&#104;&#116;&#116;&#112;&#115;://tracker.example/p.png">', "tracker.example"),
    ("<IMG SRC=https://tracker.example/p.png>", "tracker.example"),
    ('<img alt="a > b" title=\'say "hi"\' src="https://tracker.example/p.png">', "tracker.example"),
    ("![p][pixel]\n\n[pixel]: https://tracker.example/p.png", "tracker.example"),
    ('![p][pixel]\n\n[pixel]: <//tracker.example/p.png> "Title"', "tracker.example"),
    ("[![p](https://tracker.example/p.png)](/cards/)", "tracker.example"),
    ("| a |\n|---|\n| ![p](https://tracker.example/p.png) |", "tracker.example"),
    ("![p](https://user:pw@tracker.example/p.png)", "tracker.example"),
]

OTHER_SCHEMES = [
    "![p](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
    "![p](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![p](DATA:image/svg+xml,%3Csvg%3E)",
    "![p](data:image/png,rawbytes)",
    '<img src="https:p.png">',
]

DROPPED = [
    "![p](javascript:alert(1))",
    '<img src="JaVaScRiPt:alert(1)">',
    '<img src="java&#x09;script:alert(1)">',
    '<img src="vbscript:msgbox(1)">',
    '<img src="ftp://tracker.example/p.png">',
]

KEPT = [
    ("![chart](/static/chart.png)", "/static/chart.png"),
    ("![chart](chart.png)", "chart.png"),
    ("![chart](../media/chart.png?v=2#x)", "../media/chart.png?v=2#x"),
    (f"![dot](data:image/png;base64,{PIXEL})", f"data:image/png;base64,{PIXEL}"),
    ("![dot](data:image/gif;base64,R0lGODlhAQABAAAAACw=)", "data:image/gif;base64,R0lGODlhAQABAAAAACw="),
    ("![dot](DATA:IMAGE/JPEG;BASE64,/9j/4AAQ)", "DATA:IMAGE/JPEG;BASE64,/9j/4AAQ"),
    ('<img src="data:image/webp;base64,UklGRg==" alt="w">', "data:image/webp;base64,UklGRg=="),
]


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', html)


@pytest.mark.parametrize(("markdown", "host"), EXTERNAL)
def test_an_image_from_another_host_becomes_a_visible_note_naming_it(markdown, host):
    html = str(render_markdown(markdown))

    assert image_sources(html) == [], html
    assert f'<span class="image-removed">[external image removed: {host}]</span>' in html
    assert "tracker.example/p.png" not in html


@pytest.mark.parametrize("markdown", OTHER_SCHEMES)
def test_other_image_urls_become_a_visible_note_too(markdown):
    html = str(render_markdown(markdown))

    assert image_sources(html) == [], html
    assert '<span class="image-removed">[image removed: ' in html


@pytest.mark.parametrize("markdown", DROPPED)
def test_script_urls_never_reach_an_image(markdown):
    html = str(render_markdown(markdown))

    assert image_sources(html) == [], html
    assert "script" not in html.lower() and "tracker" not in html


@pytest.mark.parametrize(("markdown", "src"), KEPT)
def test_our_own_and_inline_images_stay(markdown, src):
    html = str(render_markdown(markdown))

    assert image_sources(html) == [src], html
    assert "image-removed" not in html


def test_srcset_never_offers_another_source():
    html = str(render_markdown('<img src="/static/chart.png" srcset="https://tracker.example/p.png 2x">'))

    assert html == '<p><img src="/static/chart.png"></p>'


def test_data_urls_stay_on_images_and_off_links():
    html = str(render_markdown(f"[x](data:image/png;base64,{PIXEL}) ![y](data:image/png;base64,{PIXEL})"))

    assert html.count("data:image/png") == 1 and "<a rel" in html


def test_a_forged_note_is_only_text():
    html = str(render_markdown('<img src="#external-image-removed:%3Cscript%3Ealert(1)%3C%2Fscript%3E">'))

    assert html == '<p><span class="image-removed">[&lt;script&gt;alert(1)&lt;/script&gt;]</span></p>'
