"""The pack's faces: the printable page, evidence.zip, evidence.pdf, the API and ``manage.py evidence_pack``."""

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.services import record_many
from audit.tests.conftest import version_event
from evidence import verify_evidence
from tests.factories import rename

pytestmark = pytest.mark.django_db


@pytest.fixture
def churn(mirror):
    version = mirror.version()
    record_many([version_event("Churn", 1, note=f"n{n}") for n in range(3)])
    return version


def _url(kind, name="Churn", version=1):
    return reverse(f"evidence:{kind}", args=[name, version])


def test_the_page_shows_the_pack_and_links_its_downloads(client, outsider, churn):
    client.force_login(outsider)  # whoever may read the version page
    response = client.get(_url("pack"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Evidence pack: Churn version 1" in html and "3 audit events about this version" in html
    for kind in ("zip", "pdf"):
        assert f'href="{_url(kind)}"' in html
    assert 'href="/api/v1/models/Churn/versions/1/evidence"' in html
    assert 'href="/static/css/evidence.css"' in html


def test_the_zip_holds_what_an_auditor_needs_and_verifies(client, outsider, churn):
    client.force_login(outsider)
    response = client.get(_url("zip"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="evidence-Churn-v1.zip"' in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = set(archive.namelist())
        pack = json.loads(archive.read("pack.json"))
        script = archive.read("verify_evidence.py").decode()
        key = archive.read("public_key.txt").decode().strip()
        page = archive.read("pack.html").decode()
        css = archive.read("evidence.css").decode()
    assert '<link rel="stylesheet" href="evidence.css">' in page and "/static/" not in page  # styled offline
    assert "@media print" in css or "@page" in css
    assert names == {
        "pack.json",
        "verify_evidence.py",
        "public_key.txt",
        "public_key.pem",
        "README.txt",
        "card.md",
        "pack.html",
        "evidence.css",
    }
    assert "import django" not in script and "from audit" not in script
    assert key == pack["audit"]["public_key"]["ed25519"]
    assert verify_evidence.verify_pack(pack) == []


def test_the_pdf_is_made_from_the_same_template(client, outsider, churn):
    client.force_login(outsider)
    response = client.get(_url("pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


def test_the_api_answers_the_pack_as_json(api, churn):
    response = api("outsider", "get", "/models/Churn/versions/1/evidence")
    assert response.status_code == 200
    pack = response.json()
    assert pack["audit"]["event_count"] == 3 and verify_evidence.verify_pack(pack) == []
    missing = api("outsider", "get", "/models/Churn/versions/9/evidence")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api("anonymous", "get", "/models/Churn/versions/1/evidence").status_code == 401


@pytest.mark.parametrize("kind", ["pack", "zip", "pdf"])
def test_unknown_model_or_version_is_404_and_anonymous_is_sent_to_sign_in(client, outsider, churn, kind):
    assert client.get(_url(kind))["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(_url(kind, version=9)).status_code == 404
    assert client.get(_url(kind, name="Nope")).status_code == 404


def test_a_renamed_model_redirects_to_its_new_name(client, outsider, churn):
    rename("Old", "Churn", churn.model)
    client.force_login(outsider)
    response = client.get(_url("pack", name="Old"))
    assert response.status_code == 302 and response["Location"] == _url("pack")


@pytest.mark.parametrize("suffix", [".zip", ".pdf", ".json", ".html"])
def test_manage_py_evidence_pack_writes_the_kind_its_extension_names(churn, tmp_path, suffix):
    path = tmp_path / f"pack{suffix}"
    out = io.StringIO()
    call_command("evidence_pack", "Churn", "1", "-o", str(path), stdout=out)
    assert "3 audit events" in out.getvalue()
    data = path.read_bytes()
    expected = {".zip": b"PK", ".pdf": b"%PDF", ".json": b"{", ".html": b"<!doctype html>"}[suffix]
    assert data.startswith(expected)
    if suffix in (".zip", ".json"):
        assert verify_evidence.main([str(path)], out=io.StringIO()) == 0


def test_manage_py_evidence_pack_refuses_a_bad_extension_and_an_unknown_version(churn, tmp_path):
    with pytest.raises(CommandError, match="must end in one of .json, .html, .pdf, .zip"):
        call_command("evidence_pack", "Churn", "1", "-o", str(tmp_path / "pack.docx"))
    with pytest.raises(CommandError, match="no version 9 of a model named 'Churn'"):
        call_command("evidence_pack", "Churn", "9", "-o", str(tmp_path / "pack.zip"))
    assert not (tmp_path / "pack.zip").exists()


def test_the_version_page_links_the_pack(client, outsider, churn):
    client.force_login(outsider)
    html = client.get(reverse("registry:version_detail", args=["Churn", 1])).content.decode()
    for kind in ("pack", "zip", "pdf"):
        assert f'href="{_url(kind)}"' in html
