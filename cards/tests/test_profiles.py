"""Regulation profiles: completeness per profile, choosing the profile, lifecycle changes, publication."""

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from cards.completeness import version_card_completeness
from cards.lifecycle import lifecycle_changes
from cards.models import CardPublication, CardRevision, ModelCard
from cards.profiles import (
    ANNEX_IV,
    DEFAULT,
    PROFILES_BY_KEY,
    completeness,
    point_sections,
    profile_completeness,
    profile_of,
)
from cards.sections import ANNEX_IV_SECTIONS, SECTION_KEYS, SECTIONS_BY_KEY, TEMPLATE_SECTIONS
from cards.services import card_profile_change
from registry.models import StageChange
from registry.sync import sync_registry
from tests.factories import card_save, complete_sections, make_owner, version_of

pytestmark = pytest.mark.django_db

DEFAULT_PROFILE, ANNEX = PROFILES_BY_KEY[DEFAULT], PROFILES_BY_KEY[ANNEX_IV]
TEMPLATE_COMPLETE = complete_sections()
EVERYTHING = {section.key: f"{section.title} written." for section in SECTIONS_BY_KEY.values()}


def card_of(version) -> ModelCard:
    return ModelCard.objects.for_version(version).get()


# ---- the profiles as data ---------------------------------------------------------------------
def test_the_default_profile_is_the_template_one_point_per_section():
    assert [p.sections for p in DEFAULT_PROFILE.points] == [(s.key,) for s in TEMPLATE_SECTIONS]
    assert [p.title for p in DEFAULT_PROFILE.points] == [s.title for s in TEMPLATE_SECTIONS]
    assert not any(p.generated for p in DEFAULT_PROFILE.points) and not DEFAULT_PROFILE.grouped


def test_annex_iv_has_its_nine_points_numbered_and_covers_every_section():
    assert [p.ref for p in ANNEX.points] == [f"Annex IV({n})" for n in range(1, 10)]
    assert [p.key for p in ANNEX.points if p.generated] == ["lifecycle_changes"]
    assert set(ANNEX.section_keys) == set(SECTION_KEYS)  # every template section and every Annex IV one
    assert all(section.help for section in ANNEX_IV_SECTIONS)


# ---- completeness per profile -----------------------------------------------------------------
def test_the_same_card_is_complete_under_the_default_and_incomplete_under_annex_iv(owner, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    card = card_of(churn_v1)

    default, annex = completeness(card, DEFAULT_PROFILE), completeness(card, ANNEX)

    assert (default.complete, default.percent, default.profile) == (True, 100, DEFAULT)
    # The Annex IV sections still hold the draft's prompts; the metrics point and the generated one are covered.
    assert (annex.complete, annex.percent, annex.profile) == (False, 22, ANNEX_IV)
    assert annex.placeholders == [s.title for s in ANNEX_IV_SECTIONS]
    states = {status.point.key: status.state for status in annex.points}
    assert states["metrics_appropriateness"] == states["lifecycle_changes"] == "ok"
    assert states["risk_management"] == "placeholder"
    assert completeness(card) == default  # the card follows the default until an owner changes it


def test_complete_under_annex_iv_implies_complete_under_the_default_so_the_converse_never_happens():
    """Annex IV maps every template section to a point, so a card it accepts the default accepts too."""
    assert profile_completeness(EVERYTHING, ANNEX).complete
    for section in TEMPLATE_SECTIONS:
        if section.required:
            blanked = EVERYTHING | {section.key: ""}
            assert not profile_completeness(blanked, ANNEX).complete, section.key
            assert not profile_completeness(blanked, DEFAULT_PROFILE).complete, section.key
    for section in ANNEX_IV_SECTIONS:
        blanked = EVERYTHING | {section.key: "TODO"}
        assert profile_completeness(blanked, DEFAULT_PROFILE).complete
        assert profile_completeness(blanked, ANNEX).placeholders == [section.title]


def test_a_generated_point_counts_once_its_data_exists():
    unsaved = profile_completeness(EVERYTHING, ANNEX, saved=False)
    assert (unsaved.complete, unsaved.missing, unsaved.percent) == (False, ["Changes over the lifecycle"], 88)
    assert profile_completeness(EVERYTHING, ANNEX, saved=True).complete


def test_points_count_when_generated_or_required_and_optional_prose_never_blocks():
    sections = EVERYTHING | {"model_details": "", "references": ""}  # optional prose, generated facts
    assert profile_completeness(sections, ANNEX).complete
    assert profile_completeness(sections, DEFAULT_PROFILE).complete
    assert {s.state for s in profile_completeness(sections, DEFAULT_PROFILE).points} == {"ok", "optional"}


def test_point_sections_map_each_point_to_the_cards_prose(owner, churn_v1):
    card_save(owner, churn_v1, EVERYTHING)
    card = card_of(churn_v1)
    card_profile_change(actor=owner, version=churn_v1, profile=ANNEX_IV)
    card.refresh_from_db()

    points = point_sections(card)

    assert [p.point.key for p in points] == [p.key for p in ANNEX.points]
    development = points[1]
    assert [(s.key, text) for s, text in development.sections] == [
        ("development_process", "Development Process written."),
        ("training_data", "Training Data written."),
        ("evaluation_data", "Evaluation Data written."),
        ("references", "References written."),
    ]
    assert points[5].sections == () and points[5].status.state == "ok"
    assert {p.status.state for p in points} == {"ok"}


# ---- choosing the profile ---------------------------------------------------------------------
def profile_url(version):
    return reverse("cards:profile_change", args=[version.model.name, version.version])


def test_an_owner_switches_the_card_to_annex_iv_as_a_new_audited_revision(client, owner, churn_v1):
    first = card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    client.force_login(owner)

    response = client.post(profile_url(churn_v1), {"profile": ANNEX_IV})

    assert response.status_code == 302
    card = card_of(churn_v1)
    latest = card.revisions.order_by("-number").first()
    assert (card.profile, latest.profile, latest.number, latest.sections) == (ANNEX_IV, ANNEX_IV, 2, first.sections)
    assert (first.profile, first.complete, latest.complete, latest.percent) == (DEFAULT, True, False, 22)
    assert CardPublication.objects.get(revision=latest).status == CardPublication.PENDING
    event = AuditEvent.objects.get(action="card.profile_changed")
    assert (event.actor, event.data["from"], event.data["to"], event.data["revision"]) == (
        owner.username,
        DEFAULT,
        ANNEX_IV,
        2,
    )
    assert version_card_completeness(churn_v1).profile == ANNEX_IV  # governance judges under the new profile
    page = client.get(response["Location"]).content.decode()
    assert "Profile: <strong>EU AI Act Annex IV technical documentation</strong>" in page
    assert "Annex IV(5) Risk management system" in page and 'id="point-lifecycle_changes"' in page
    assert "22% complete" in page


def test_a_draft_switched_to_annex_iv_saves_revision_one_from_the_draft(owner, churn_v1):
    revision = card_profile_change(actor=owner, version=churn_v1, profile=ANNEX_IV)

    assert (revision.number, revision.profile, profile_of(revision.card).key) == (1, ANNEX_IV, ANNEX_IV)
    assert revision.sections["risk_management"] == SECTIONS_BY_KEY["risk_management"].prompt


def test_the_profile_it_already_follows_changes_nothing(client, owner, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    client.force_login(owner)

    response = client.post(profile_url(churn_v1), {"profile": DEFAULT}, follow=True)

    assert response.status_code == 200
    assert "Nothing changed: the card already follows Model card (course template)." in response.content.decode()
    assert CardRevision.objects.count() == 1 and not AuditEvent.objects.filter(action="card.profile_changed")


def test_someone_who_may_not_edit_the_card_may_not_change_its_profile(client, outsider, owner, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    client.force_login(outsider)

    assert client.post(profile_url(churn_v1), {"profile": ANNEX_IV}).status_code == 403
    page = client.get(reverse("cards:card_detail", args=["Churn", 1])).content.decode()
    assert f'action="{profile_url(churn_v1)}"' not in page
    assert card_of(churn_v1).profile == DEFAULT and CardRevision.objects.count() == 1


@pytest.mark.parametrize("value", ["eu_ai_act", "", "default; drop table"])
def test_an_unknown_profile_is_a_form_error(client, owner, churn_v1, value):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    client.force_login(owner)

    response = client.post(profile_url(churn_v1), {"profile": value})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode() or "This field is required" in response.content.decode()
    assert CardRevision.objects.count() == 1


def test_the_service_refuses_an_unknown_profile(owner, churn_v1):
    with pytest.raises(ValueError):
        card_profile_change(actor=owner, version=churn_v1, profile="iso_42001")
    assert not ModelCard.objects.exists()


def test_the_api_says_which_profile_the_card_follows(client, owner, churn_v1):
    card_profile_change(actor=owner, version=churn_v1, profile=ANNEX_IV)
    client.force_login(owner)

    body = client.get("/api/v1/models/Churn/versions/1/card").json()

    assert (body["profile"], body["completeness"]["complete"]) == (ANNEX_IV, False)


# ---- changes over the lifecycle -----------------------------------------------------------------
def stage_change(version, to_value, seen_at, from_value="None"):
    change = StageChange.objects.create(
        model_name=version.model.name, version=version.version, kind="stage", from_value=from_value, to_value=to_value
    )
    StageChange.objects.filter(pk=change.pk).update(seen_at=seen_at)  # auto_now_add: set it as sync would have
    return change


def test_lifecycle_changes_are_what_happened_after_since(owner, churn_v1, django_assert_num_queries):
    r1 = card_save(owner, churn_v1, TEMPLATE_COMPLETE | {"limitations": "Not for new customers."})
    since = r1.created_at
    stage_change(churn_v1, "Staging", since - dt.timedelta(hours=1))
    later = stage_change(churn_v1, "Production", since + dt.timedelta(hours=1), from_value="Staging")
    r2 = card_save(owner, churn_v1, {"limitations": "Not for new customers, nor for B2B accounts."})
    r3 = card_profile_change(actor=owner, version=churn_v1, profile=ANNEX_IV)
    card = card_of(churn_v1)

    with django_assert_num_queries(4):  # revisions after since, the one current at since, the latest, stage changes
        changes = lifecycle_changes(card, since)

    assert changes.base == r1 and changes.latest == r3
    assert [r.number for r in changes.revisions] == [r2.number, r3.number]
    assert [c.pk for c in changes.stage_changes] == [later.pk]
    assert changes.diff.startswith("--- r1\n+++ r3\n")
    assert "-Not for new customers." in changes.diff
    assert "+Not for new customers, nor for B2B accounts." in changes.diff
    assert "-Profile: Model card (course template)" in changes.diff
    assert "+Profile: EU AI Act Annex IV technical documentation" in changes.diff
    assert ("add", "+Not for new customers, nor for B2B accounts.") in changes.diff_lines


def test_nothing_after_since_is_an_empty_change(owner, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)

    changes = lifecycle_changes(card_of(churn_v1), timezone.now())

    assert changes.is_empty and changes.diff == "" and changes.latest == changes.base


def test_since_none_is_the_whole_history(owner, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)
    stage_change(churn_v1, "Staging", timezone.now())

    changes = lifecycle_changes(card_of(churn_v1), None)

    assert changes.base is None and len(changes.revisions) == 1 and len(changes.stage_changes) == 1
    assert changes.diff.startswith("--- no card\n+++ r1\n") and "+Intended Use written." in changes.diff


def test_an_earlier_version_of_the_same_number_is_not_in_the_history(owner, churn_v1):
    stage_change(churn_v1, "Production", timezone.now() - dt.timedelta(days=30))
    type(churn_v1).objects.filter(pk=churn_v1.pk).update(mirrored_since=timezone.now() - dt.timedelta(days=1))
    now = stage_change(churn_v1, "Staging", timezone.now())
    card_save(owner, churn_v1, TEMPLATE_COMPLETE)

    assert [c.pk for c in lifecycle_changes(card_of(churn_v1), None).stage_changes] == [now.pk]


def test_the_card_page_shows_changes_since_the_models_last_production_change(client, owner, mirror, churn_v1):
    card_save(owner, churn_v1, TEMPLATE_COMPLETE | {"limitations": "Old limits."})
    other = mirror.version()  # v2 of the same model enters Production: the card page counts from then
    stage_change(other, "Production", timezone.now())
    card_save(owner, churn_v1, {"limitations": "New limits."})
    card_profile_change(actor=owner, version=churn_v1, profile=ANNEX_IV)
    client.force_login(owner)

    page = client.get(reverse("cards:card_detail", args=["Churn", 1])).content.decode()

    assert "when a version of this model last entered Production" in page
    assert "r2 by olga-owner" in page and "r3 by olga-owner" in page and "r1 by" not in page
    assert '<span class="del">-Old limits.</span>' in page and '<span class="add">+New limits.</span>' in page


@pytest.mark.parametrize("size", [1, 8])
def test_annex_iv_card_page_query_count_does_not_grow(client, owner, mirror, django_assert_num_queries, size):
    version = mirror.version(datasets=size)
    for i in range(size):
        card_save(owner, version, {"factors": f"rev {i}"})
        stage_change(version, "Production" if i == 0 else "Staging" if i % 2 else "None", timezone.now())
    card_profile_change(actor=owner, version=version, profile=ANNEX_IV)
    client.force_login(owner)

    # The default card page's 10 (test_card_pages) + the lifecycle point: the model's last Production change,
    # revisions since, the one current then, the version's stage changes (the latest revision is at hand).
    with django_assert_num_queries(14):
        assert client.get(reverse("cards:card_detail", args=["Churn", 1])).status_code == 200


# ---- publication ------------------------------------------------------------------------------
@pytest.fixture
def churn_in_mlflow(mlflow_store, owner):
    world = mlflow_store
    world.client.create_registered_model("Churn")
    number = world.create_version("Churn", world.create_run(metrics={"accuracy": 0.8}))
    assert sync_registry().status == "succeeded"
    make_owner("Churn", owner)
    return world, version_of("Churn", number)


def test_the_published_card_carries_its_profile(churn_in_mlflow, owner, tmp_path, django_capture_on_commit_callbacks):
    world, version = churn_in_mlflow
    card_save(owner, version, EVERYTHING, capture=django_capture_on_commit_callbacks)
    tags = world.client.get_model_version("Churn", str(version.version)).tags
    assert tags["model_card.profile"] == DEFAULT

    with django_capture_on_commit_callbacks(execute=True):
        revision = card_profile_change(actor=owner, version=version_of("Churn", version.version), profile=ANNEX_IV)

    assert CardPublication.objects.get(revision=revision).status == CardPublication.PUBLISHED
    tags = world.client.get_model_version("Churn", str(version.version)).tags
    assert (tags["model_card.profile"], tags["model_card.revision"], tags["model_card.complete"]) == (
        ANNEX_IV,
        "2",
        "true",
    )
    path = world.client.download_artifacts(version.run_id, "model_card/model_card.md", str(tmp_path / "download"))
    text = Path(path).read_text()
    assert "_Profile: EU AI Act Annex IV technical documentation._" in text
    assert "## Annex IV(5) Risk management system\n" in text
    assert "### Risk Management System\n\nRisk Management System written." in text
    assert "## Annex IV(6) Changes over the lifecycle\n\n_Generated by the portal" in text
    assert AuditEvent.objects.filter(action="card.published").last().data["profile"] == ANNEX_IV
