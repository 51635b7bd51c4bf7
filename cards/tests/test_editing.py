import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cards.models import CardPublication, CardRevision, ModelCard
from cards.sections import CARD_MAX_CHARS, SECTION_KEYS, SECTION_MAX_CHARS
from cards.selectors import card_draft_sections, card_revision_latest
from cards.services import EditConflict, card_revision_create

pytestmark = pytest.mark.django_db


def edit_url(version, section="intended_use"):
    return reverse("cards:section_edit", args=[version.model.name, version.version, section])


def card_url(version):
    return reverse("cards:card_detail", args=[version.model.name, version.version])


def save(client, version, text, *, base="", section="intended_use", summary="edit"):
    return client.post(edit_url(version, section), {"text": text, "summary": summary, "base_revision": base})


def test_owner_saves_a_section_as_revision_one(client, owner, churn_v1, django_capture_on_commit_callbacks):
    client.force_login(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = save(client, churn_v1, "Scoring churn risk for retention offers.", summary="first words")

    assert response.status_code == 302
    revision = CardRevision.objects.get()
    assert revision.number == 1
    assert revision.author == owner.username
    assert revision.summary == "first words"
    assert revision.base_revision is None
    assert revision.sections["intended_use"] == "Scoring churn risk for retention offers."
    # The rest of the draft (prompts) is saved with it, so the card says what is still to do.
    assert "[TO BE FILLED]" in revision.sections["limitations"]
    assert set(revision.sections) == set(SECTION_KEYS)
    assert revision.card.model_version == churn_v1
    assert revision.publication.status == CardPublication.PENDING
    publishing = [c for c in callbacks if getattr(c, "__qualname__", "").startswith("card_revision_create")]
    assert len(publishing) == 1  # queued after commit
    event = AuditEvent.objects.get(action="card.revised")
    assert (event.actor, event.model_name, event.version) == (owner.username, "Churn", 1)
    assert event.data["sections_changed"] == ["intended_use"] and event.data["revision"] == 1


def test_each_save_builds_on_the_last(client, owner, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "first")
    first = card_revision_latest(churn_v1)
    response = save(client, churn_v1, "Known blind spot: new customers.", base=first.pk, section="limitations")

    assert response.status_code == 302
    second = card_revision_latest(churn_v1)
    assert (second.number, second.base_revision) == (2, first)
    assert second.sections["intended_use"] == "first"
    assert second.sections["limitations"] == "Known blind spot: new customers."


def test_two_editors_from_the_same_base_the_second_gets_a_conflict(client, owner, admin_user, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "base text")
    base = card_revision_latest(churn_v1)

    save(client, churn_v1, "Olga's text", base=base.pk, summary="olga")
    client.force_login(admin_user)
    response = save(client, churn_v1, "Ada's text <b>bold</b>", base=base.pk, summary="ada")

    assert response.status_code == 409
    assert CardRevision.objects.count() == 2  # nothing of Ada's was written ...
    assert card_revision_latest(churn_v1).sections["intended_use"] == "Olga's text"  # ... nor overwritten
    page = response.content.decode()
    assert "Olga&#x27;s text" in page  # theirs
    assert "Ada&#x27;s text &lt;b&gt;bold&lt;/b&gt;" in page  # yours, escaped, ready to merge
    assert f'name="base_revision" value="{card_revision_latest(churn_v1).pk}"' in page

    merged = save(client, churn_v1, "Merged", base=card_revision_latest(churn_v1).pk, summary="merge")
    assert merged.status_code == 302
    assert card_revision_latest(churn_v1).sections["intended_use"] == "Merged"


def test_the_first_save_conflicts_when_someone_created_the_card_meanwhile(client, owner, admin_user, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "Olga first")
    client.force_login(admin_user)
    response = save(client, churn_v1, "Ada also first", base="")

    assert response.status_code == 409
    assert ModelCard.objects.count() == 1
    assert CardRevision.objects.count() == 1


def test_a_stale_base_is_refused_by_the_service_too(owner, churn_v1):
    card_revision_create(actor=owner, version=churn_v1, changes={"factors": "a"}, base_revision_id=None, summary="1")

    with pytest.raises(EditConflict) as conflict:
        card_revision_create(
            actor=owner, version=churn_v1, changes={"factors": "b"}, base_revision_id=None, summary="2"
        )
    assert conflict.value.latest.number == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_non_owners_may_not_edit(client, outsider, churn_v1, method):
    client.force_login(outsider)
    response = getattr(client, method)(edit_url(churn_v1), {"text": "x", "summary": "x", "base_revision": ""})

    assert response.status_code == 403
    assert not CardRevision.objects.exists()


def test_non_owners_may_not_preview_but_may_read(client, outsider, churn_v1):
    client.force_login(outsider)
    preview = client.post(reverse("cards:preview", args=["Churn", 1]), {"text": "x"})
    page = client.get(card_url(churn_v1))

    assert preview.status_code == 403
    assert page.status_code == 200
    assert edit_url(churn_v1) not in page.content.decode()


def test_admins_may_edit_any_card(client, admin_user, churn_v1):
    client.force_login(admin_user)
    assert save(client, churn_v1, "by an admin").status_code == 302


def test_anonymous_users_are_sent_to_sign_in(client, churn_v1):
    assert client.get(card_url(churn_v1)).status_code == 302
    assert save(client, churn_v1, "x").status_code == 302
    assert not CardRevision.objects.exists()


def test_an_oversize_section_is_a_form_error_and_nothing_is_saved(client, owner, churn_v1):
    client.force_login(owner)
    response = save(client, churn_v1, "x" * (SECTION_MAX_CHARS + 1))

    assert response.status_code == 400
    assert response.context["form"].errors["text"] == [
        f"Keep a section under {SECTION_MAX_CHARS:,} characters (this one has {SECTION_MAX_CHARS + 1})."
    ]
    assert not CardRevision.objects.exists()
    assert "x" * 100 in response.content.decode()  # the text comes back, not lost


def test_an_oversize_card_is_a_form_error_and_nothing_is_saved(client, owner, churn_v1):
    sections = dict.fromkeys(SECTION_KEYS, "")
    sections.update(dict.fromkeys(SECTION_KEYS[:5], "y" * (SECTION_MAX_CHARS - 1)))
    base = card_revision_create(actor=owner, version=churn_v1, changes=sections, base_revision_id=None, summary="big")
    client.force_login(owner)

    response = save(client, churn_v1, "z" * 10, base=base.pk, section="limitations")

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        f"The card would be {5 * (SECTION_MAX_CHARS - 1) + 10:,} characters; the limit is {CARD_MAX_CHARS:,} per card."
    ]
    assert CardRevision.objects.count() == 1


def test_saving_without_changes_says_so(client, owner, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "same")
    response = save(client, churn_v1, "same", base=card_revision_latest(churn_v1).pk)

    assert response.status_code == 400
    assert response.context["form"].errors["text"] == ["Nothing changed: edit the text before saving."]
    assert CardRevision.objects.count() == 1


def test_a_summary_is_required(client, owner, churn_v1):
    client.force_login(owner)
    response = save(client, churn_v1, "text", summary="")

    assert response.context["form"].errors["summary"] == ["This field is required."]
    assert not CardRevision.objects.exists()


def test_the_preview_returns_a_sanitized_fragment(client, owner, churn_v1):
    client.force_login(owner)
    response = client.post(
        reverse("cards:preview", args=["Churn", 1]),
        {"text": "**bold** <script>alert(1)</script> [x](javascript:alert(1))"},
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith('<div id="preview"')
    assert "<html" not in body
    assert "<strong>bold</strong>" in body
    assert "<script" not in body and "javascript:" not in body


def test_the_preview_of_an_oversize_section_shows_the_error(client, owner, churn_v1):
    client.force_login(owner)
    response = client.post(reverse("cards:preview", args=["Churn", 1]), {"text": "x" * (SECTION_MAX_CHARS + 1)})

    assert "Keep a section under 20,000 characters" in response.content.decode()


def test_the_edit_form_has_a_debounced_live_preview(client, owner, churn_v1):
    client.force_login(owner)
    page = client.get(edit_url(churn_v1)).content.decode()

    assert 'hx-trigger="input changed delay:500ms"' in page
    assert f'hx-post="{reverse("cards:preview", args=["Churn", 1])}"' in page
    assert "maxlength" not in page.split('id="id_text"')[1].split(">")[0]  # long pastes are never cut silently


def test_a_new_versions_draft_carries_forward_the_previous_card(client, owner, churn_v1, mirror):
    card_revision_create(
        actor=owner,
        version=churn_v1,
        changes={"intended_use": "Retention offers.", "limitations": "Not for new customers."},
        base_revision_id=None,
        summary="v1 card",
    )
    v2 = mirror.version()
    client.force_login(owner)

    page = client.get(card_url(v2))
    form = client.get(edit_url(v2)).context["form"]

    body = page.content.decode()
    assert "carries forward the prose of" in body
    assert "Carried forward from v1 — please review" in form.initial["text"]
    assert "Retention offers." in form.initial["text"]
    # Saving one section keeps the other carried sections marked, so they still count as placeholders.
    save(client, v2, "Retention offers, reviewed.")
    revision = card_revision_latest(v2)
    assert "Carried forward from v1" in revision.sections["limitations"]
    assert "Limitations" in client.get(card_url(v2)).context["page"].completeness.placeholders
    assert "Intended Use" not in client.get(card_url(v2)).context["page"].completeness.placeholders


def test_carrying_forward_twice_keeps_one_mark(owner, churn_v1, mirror):
    card_revision_create(
        actor=owner, version=churn_v1, changes={"factors": "Region."}, base_revision_id=None, summary="1"
    )
    v2 = mirror.version()
    card_revision_create(actor=owner, version=v2, changes={"limitations": "x"}, base_revision_id=None, summary="2")
    v3 = mirror.version()

    sections, carried_from = card_draft_sections(v3)
    assert carried_from == 2
    assert sections["factors"].count("Carried forward") == 1
    assert sections["factors"].startswith("_Carried forward from v2")


def test_history_lists_revisions_and_diffs_them_escaped(client, owner, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "line one\n<script>old</script>", summary="first")
    save(
        client,
        churn_v1,
        "line one\n<img src=x onerror=alert(1)>",
        base=card_revision_latest(churn_v1).pk,
        summary="second",
    )

    response = client.get(reverse("cards:history", args=["Churn", 1]), {"a": 1, "b": 2})

    body = response.content.decode()
    assert response.status_code == 200
    assert [r.number for r in response.context["revisions"]] == [2, 1]
    assert '<span class="del">-&lt;script&gt;old&lt;/script&gt;</span>' in body
    assert '<span class="add">+&lt;img src=x onerror=alert(1)&gt;</span>' in body
    assert "<script>old" not in body


def test_history_with_unknown_revisions_says_so(client, owner, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "x")
    response = client.get(reverse("cards:history", args=["Churn", 1]), {"a": 1, "b": 9})

    assert response.status_code == 200
    assert "Choose two revisions of this card to compare." in response.content.decode()
    assert response.context["diff"] is None


def test_unknown_section_is_404(client, owner, churn_v1):
    client.force_login(owner)
    assert client.get(edit_url(churn_v1, "nope")).status_code == 404


def test_unknown_version_is_404(client, owner, churn_v1):
    client.force_login(owner)
    assert client.get(reverse("cards:card_detail", args=["Churn", 99])).status_code == 404


def test_only_owners_may_publish_again(client, owner, outsider, churn_v1):
    card_revision_create(actor=owner, version=churn_v1, changes={"factors": "x"}, base_revision_id=None, summary="s")
    client.force_login(outsider)

    assert client.post(reverse("cards:publish_again", args=["Churn", 1])).status_code == 403


def test_a_tampered_base_revision_is_a_clear_error(client, owner, churn_v1):
    client.force_login(owner)
    response = save(client, churn_v1, "text", base="not-a-number")

    assert response.status_code == 400
    assert "The revision you edited is not valid" in response.content.decode()
    assert not CardRevision.objects.exists()


def test_a_leading_newline_survives_the_round_trip(client, owner, churn_v1):
    client.force_login(owner)
    save(client, churn_v1, "\n    indented code\n")
    form_page = client.get(edit_url(churn_v1)).content.decode()

    assert 'hx-sync="this:replace">\n\n    indented code\n</textarea>' in form_page
