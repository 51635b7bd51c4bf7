"""API v1 for model cards: read by everyone signed in, written by the model's owners and admins, as on the page."""

import pytest

from cards.api import card_extra
from cards.models import CardRevision
from cards.sections import SECTION_KEYS
from tests.factories import complete_sections

pytestmark = pytest.mark.django_db
PERSONAS = ("anonymous", "outsider", "owner", "reviewer_a", "reviewer_b", "lead", "admin")
URL = "/api/v1/models/Churn/versions/1/card"


@pytest.fixture
def call(api):
    """``call(persona, method, json=None)`` on this version's card."""

    def _call(persona, method, json=None, url=URL):
        return api(persona, method, url.removeprefix("/api/v1"), json)

    return _call


@pytest.fixture
def version(mirror):
    return mirror.version("Churn")


def put(call, persona, sections, base_revision=None):
    return call(persona, "put", {"sections": sections, "base_revision": base_revision, "summary": "from CI"})


def test_a_card_never_saved_reads_as_its_draft(call, version):
    body = call("outsider", "get").json()
    assert (body["draft"], body["revision"], body["publication"], body["can_edit"]) == (True, None, None, False)
    assert set(body["sections"]) == set(SECTION_KEYS)
    assert body["completeness"]["complete"] is False
    assert call("owner", "get").json()["can_edit"] is True
    assert call("anonymous", "get").status_code == 401
    assert call("outsider", "get", url="/api/v1/models/Churn/versions/9/card").status_code == 404


@pytest.mark.parametrize("persona", PERSONAS)
def test_saving_answers_each_persona_as_the_page_does(call, version, persona):
    response = put(call, persona, {"intended_use": "Primary use: churn."})
    expected = {"anonymous": 401, "owner": 200, "admin": 200}.get(persona, 403)
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["detail"] == "only the model's owner or an admin may edit its card"
    assert CardRevision.objects.count() == (1 if expected == 200 else 0)


def test_a_save_makes_a_revision_then_the_next_builds_on_it(call, version):
    first = put(call, "owner", complete_sections()).json()
    assert (first["changed"], first["draft"], first["revision"]["number"]) == (True, False, 1)
    assert first["completeness"] == {"complete": True, "percent": 100, "missing": [], "placeholders": []}
    assert (first["publication"]["status"], first["revision"]["author"]) == ("pending", "olga-owner")

    second = put(call, "owner", {"factors": "Region and tenure."}, first["revision"]["id"]).json()
    assert (second["revision"]["number"], second["revision"]["base_revision_id"]) == (2, first["revision"]["id"])
    assert second["sections"]["factors"] == "Region and tenure."
    assert second["sections"]["intended_use"] == first["sections"]["intended_use"]  # kept
    read = call("outsider", "get").json()
    assert read["revision"] == second["revision"]


def test_a_stale_base_revision_is_a_409_with_the_current_card(call, version):
    first = put(call, "owner", complete_sections()).json()
    put(call, "admin", {"factors": "Admin's words."}, first["revision"]["id"])
    conflict = put(call, "owner", {"factors": "Owner's words."}, first["revision"]["id"])
    assert conflict.status_code == 409
    body = conflict.json()
    assert body["code"] == "edit_conflict"
    assert (body["current"]["revision"]["number"], body["current"]["sections"]["factors"]) == (2, "Admin's words.")
    assert "revision 2" in body["detail"]
    never_saved = put(call, "owner", {"factors": "x"}, 12345)
    assert never_saved.status_code == 409
    assert CardRevision.objects.count() == 2


def test_sending_the_same_card_again_changes_nothing_and_is_a_200(call, version):
    first = put(call, "owner", complete_sections()).json()
    again = put(call, "owner", complete_sections(), first["revision"]["id"])
    assert again.status_code == 200
    assert (again.json()["changed"], again.json()["revision"]["number"]) == (False, 1)
    assert CardRevision.objects.count() == 1


def test_bad_sections_are_a_400_naming_them(call, version, settings):
    unknown = put(call, "owner", {"secret_plans": "x"})
    assert (unknown.status_code, list(unknown.json()["errors"])) == (400, ["sections"])
    too_long = put(call, "owner", {"factors": "x" * 20_001})
    assert (too_long.status_code, list(too_long.json()["errors"])) == (400, ["factors"])
    assert call("owner", "put", {"sections": {"factors": 3}}).status_code == 422
    assert not CardRevision.objects.exists()


def test_the_version_extra_summarises_the_card(call, version, outsider):
    assert card_extra(outsider, version) == {"revision": None, "complete": False, "percent": 0, "publication": None}
    put(call, "owner", complete_sections())
    assert card_extra(outsider, version) == {"revision": 1, "complete": True, "percent": 100, "publication": "pending"}
