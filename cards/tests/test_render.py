import re
from html.parser import HTMLParser

import pytest

from cards.render import escape_markdown, render_markdown

XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<<script>script>alert(1)<</script>/script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](&#106;avascript:alert(1))",
    '<a href="jav&#x61;script:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">tab</a>',
    '<a href="java&#10;script:alert(1)">newline</a>',
    '<a href="JAVASCRIPT&colon;alert(1)">colon entity</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    "![img](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<a href="https://ok.example" onclick="alert(1)" onmouseover="alert(1)">x</a>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    "<style>body { display:none }</style>",
    '<div style="background:url(javascript:alert(1))">styled</div>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    '<form action="https://evil.example"><input name=x><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<details open ontoggle="alert(1)"><summary>x</summary></details>',
    '<body onload="alert(1)">',
    "<!-- <script>alert(1)</script> -->",
    "**bold <em onmouseover=alert(1)>nested</em>** and _<b onclick=alert(1)>x</b>_",
    "* list\n  * <script>alert(1)</script>\n  * [x](javascript:alert(1))",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "```html\n<script>alert(1)</script>\n```",
    "> quote <a href='javascript:alert(1)'>x</a>",
    '<a href="#" id="messages" class="messages" name="x">dom clobbering</a>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
]

SAFE_TAGS = {"a", "b", "blockquote", "br", "code", "em", "h1", "img", "li", "ol", "p", "pre", "strong", "table"}
SAFE_TAGS |= {"tbody", "td", "th", "thead", "tr", "ul", "i", "del", "hr", "sub", "sup", "abbr", "h2", "h3"}
SAFE_ATTRIBUTES = {"href", "src", "alt", "title", "rel", "align", "start"}


class ElementCollector(HTMLParser):
    """What a browser would build from the HTML: elements and attributes, entities decoded."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def dangerous_constructs(html: str) -> list[str]:
    collector = ElementCollector()
    collector.feed(html)
    found = []
    for tag, attrs in collector.elements:
        if (tag, attrs) == ("span", {"class": "image-removed"}):  # the renderer's note for a removed image
            continue
        if tag not in SAFE_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name not in SAFE_ATTRIBUTES:
                found.append(f"<{tag} {name}=...>")
            if name in ("href", "src"):
                url = "".join((value or "").split()).lower()
                scheme = url.split(":", 1)[0] if ":" in url.split("/", 1)[0] else ""
                inline_image = tag == "img" and re.fullmatch(r"data:image/(png|gif|jpeg|webp);base64,[\w+/=]*", url)
                if scheme not in ("", "http", "https", "mailto") and not inline_image:
                    found.append(f"<{tag} {name}={value!r}>")
        if tag == "a" and attrs.get("rel") != "noopener noreferrer":
            found.append("<a> without rel=noopener noreferrer")
    if re.search(r"<\s*/?\s*(script|iframe|style|svg)", html, re.I):
        found.append("raw dangerous tag in the markup")
    return found


@pytest.mark.parametrize("payload", XSS_CORPUS)
def test_the_xss_corpus_renders_inert(payload):
    html = str(render_markdown(payload))

    assert dangerous_constructs(html) == [], f"{payload!r} rendered as {html!r}"


def test_the_whole_corpus_at_once_renders_inert():
    html = str(render_markdown("\n\n".join(XSS_CORPUS)))

    assert dangerous_constructs(html) == []


def test_the_checker_itself_catches_dangerous_html():
    assert dangerous_constructs('<a href="javascript:alert(1)" onclick="x">x</a><svg></svg><script></script>') == [
        "<a href='javascript:alert(1)'>",
        "<a onclick=...>",
        "<a> without rel=noopener noreferrer",
        "<svg>",
        "<script>",
        "raw dangerous tag in the markup",
    ]


def test_escaped_html_stays_text_and_code_blocks_stay_code():
    html = str(render_markdown("&lt;script&gt;\n\n```\n<script>alert(1)</script>\n```"))

    assert "&lt;script&gt;" in html
    assert "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_features_survive_sanitizing():
    html = str(
        render_markdown(
            "# Title\n\n| metric | value |\n|:--|--:|\n| accuracy | 0.81 |\n\n"
            "1. one\n2. two\n\n- a\n- b\n\n**bold** _em_ `code`\n\n"
            '[paper](https://example.com/paper "Paper") [mail](mailto:ml@example.com) [relative](/cards/)\n\n'
            "![chart](/static/chart.png)"
        )
    )

    assert '<th align="left">metric</th>' in html
    assert '<td align="right">0.81</td>' in html
    assert "<ol>" in html and "<ul>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/paper" title="Paper" rel="noopener noreferrer">paper</a>' in html
    assert 'href="mailto:ml@example.com"' in html
    assert 'href="/cards/"' in html
    assert '<img alt="chart" src="/static/chart.png">' in html


def test_values_from_mlflow_are_quoted_into_markdown():
    cell = escape_markdown("a|b *not bold* <script>alert(1)</script> [x](javascript:alert(1))")
    html = str(render_markdown(f"| v |\n|---|\n| {cell} |"))

    assert "<td>a|b *not bold* &lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(1))</td>" in html
    assert "<a" not in html
