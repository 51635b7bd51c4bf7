"""The pack as files: JSON, the printable HTML page, the PDF (WeasyPrint, from the same template), the zip.

The zip holds what an auditor needs offline: ``pack.json``, ``verify_evidence.py`` (this app's standalone verifier,
copied as is), the public key, ``README.txt``, ``card.md`` and ``pack.html``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

TEMPLATE = "evidence/pack.html"
STYLESHEET = "css/evidence.css"
VERIFIER = Path(__file__).with_name("verify_evidence.py")
README = """Evidence pack: {model} version {version}, generated {generated_at}

pack.json           everything the portal holds about this version (card, lineage, checks, requests, reviews,
                    findings, waivers, stage history, the MLflow tags it wrote) and every audit event about it,
                    each with an inclusion proof against the signed tree head in audit.tree_head
verify_evidence.py  checks the events, proofs and head signature offline (Python 3.10+ and `cryptography`):
                        python3 -m pip install cryptography
                        python3 verify_evidence.py evidence.zip --public-key public_key.txt
                    prints PASS, or every check that failed, and exits non-zero
public_key.txt      the log's Ed25519 public key (raw, base64); public_key.pem the same as PEM. Compare it (or its
                    id, {key_id}) with the key the portal's operators publish: a pack proves
                    itself only against a key you did not take from the pack.
card.md             the model card's current revision as Markdown
pack.html           the pack as a printable page (evidence.css beside it)

Only the audit events are proven; the other sections are the portal's rows as they were when the pack was made,
and every change to them is one of the proven events.
"""


def pack_json(pack: dict) -> str:
    return json.dumps(pack, indent=1, ensure_ascii=False, sort_keys=True)


def render_html(pack: dict, *, request=None, links: bool = False, stylesheet: str | None = None) -> str:
    """The printable page; ``links``: the web page's own links (downloads, back to the version); ``stylesheet``:
    where the page finds its CSS (None: the site's static file; "": nowhere, the PDF is given it directly; the zip
    ships it beside the page so it opens styled offline)."""
    return render_to_string(TEMPLATE, {"pack": pack, "links": links, "stylesheet": stylesheet}, request=request)


def _no_fetching(url: str, *args, **kwargs):
    # The PDF is made from the pack alone: a card's Markdown must not make the server fetch anything.
    raise ValueError(f"the evidence PDF fetches nothing ({url})")


def render_pdf(pack: dict) -> bytes:
    from weasyprint import CSS, HTML

    html = render_html(pack, stylesheet="")
    stylesheet = CSS(filename=finders.find(STYLESHEET), url_fetcher=_no_fetching)
    return HTML(string=html, url_fetcher=_no_fetching).write_pdf(stylesheets=[stylesheet])


def render_zip(pack: dict) -> bytes:
    key = pack["audit"]["public_key"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pack.json", pack_json(pack))
        archive.writestr("verify_evidence.py", VERIFIER.read_text())
        archive.writestr("public_key.txt", key["ed25519"] + "\n")
        archive.writestr("public_key.pem", key["pem"])
        archive.writestr(
            "README.txt",
            README.format(
                model=pack["version"]["model_name"],
                version=pack["version"]["version"],
                generated_at=pack["generated_at"],
                key_id=key["key_id"],
            ),
        )
        archive.writestr("card.md", pack["card"]["markdown"] or "This version's card was never saved.\n")
        archive.writestr("pack.html", render_html(pack, stylesheet="evidence.css"))
        archive.writestr("evidence.css", Path(finders.find(STYLESHEET)).read_text())
    return buffer.getvalue()


FORMATS = {
    ".json": ("application/json", lambda pack: pack_json(pack).encode()),
    ".html": ("text/html; charset=utf-8", lambda pack: render_html(pack).encode()),
    ".pdf": ("application/pdf", render_pdf),
    ".zip": ("application/zip", render_zip),
}


def render(pack: dict, suffix: str) -> bytes:
    """The pack as the file type ``suffix`` names (``.json``, ``.html``, ``.pdf``, ``.zip``); KeyError otherwise."""
    return FORMATS[suffix][1](pack)
