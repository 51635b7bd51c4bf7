import json

import pytest
import yaml
from django.template import Context, Template
from django.urls import reverse

from cards.completeness import sections_completeness, version_card_completeness
from cards.models import CardRevision, ImmutableRevision, ModelCard
from cards.panels import card_badges, card_panel_context
from cards.sections import REQUIRED_SECTIONS
from cards.selectors import card_revision_latest
from registry.models import ModelVersion
from registry.panels import PageObjects
from tests.factories import card_save, complete_sections

pytestmark = pytest.mark.django_db

COMPLETE = complete_sections()


# ---- completeness -------------------------------------------------------------------------
def test_a_card_with_every_required_section_written_is_complete():
    result = sections_completeness(COMPLETE)
    assert (result.complete, result.percent, result.missing, result.placeholders) == (True, 100, [], [])


@pytest.mark.parametrize(
    "text",
    [
        "[TO BE FILLED]",
        "Primary use: TODO",
        "[More Information Needed]",
        "_Carried forward from v3 — please review._\n\nx",
    ],
)
def test_placeholders_keep_a_card_incomplete(text):
    result = sections_completeness(COMPLETE | {"limitations": text})

    assert (result.complete, result.percent, result.placeholders) == (False, 88, ["Limitations"])


def test_empty_required_sections_are_missing_and_optional_ones_are_not():
    result = sections_completeness(COMPLETE | {"factors": "  \n", "references": "", "model_details": "TODO"})

    assert (result.complete, result.missing, result.placeholders) == (False, ["Factors"], [])


def test_a_version_without_a_card_is_incomplete_with_everything_missing(churn_v1, django_assert_num_queries):
    with django_assert_num_queries(1):
        result = version_card_completeness(churn_v1)
    assert (result.complete, result.percent) == (False, 0)
    assert result.missing == [s.title for s in REQUIRED_SECTIONS]


def test_a_version_card_completeness_follows_its_latest_revision(owner, churn_v1):
    card_save(owner, churn_v1, COMPLETE)
    assert version_card_completeness(churn_v1).complete
    card_save(owner, churn_v1, {"limitations": "TODO"})
    assert version_card_completeness(churn_v1).placeholders == ["Limitations"]


# ---- revisions are immutable; cards outlive the mirror --------------------------------------
def test_revisions_cannot_be_changed_or_deleted(owner, churn_v1):
    revision = card_save(owner, churn_v1, {"factors": "x"})

    revision.summary = "rewritten history"
    with pytest.raises(ImmutableRevision):
        revision.save()
    with pytest.raises(ImmutableRevision):
        revision.delete()
    with pytest.raises(ImmutableRevision):
        CardRevision.objects.filter(pk=revision.pk).update(summary="x")
    with pytest.raises(ImmutableRevision):
        CardRevision.objects.all().delete()
    assert CardRevision.objects.get().summary == "s"


def test_a_card_survives_its_versions_deletion_and_returns_when_the_same_run_comes_back(owner, churn_v1):
    card_save(owner, churn_v1, {"factors": "Region."})
    run_id = churn_v1.run_id
    churn_v1.delete()  # what sync does when MLflow deletes the version

    card = ModelCard.objects.get()
    assert card.model_version is None and card.revisions.count() == 1
    same = ModelVersion.objects.create(model_id=_model_id(), version=1, run_id=run_id)
    assert card_revision_latest(same).sections["factors"] == "Region."
    card_save(owner, same, {"factors": "Region, reviewed."})
    card.refresh_from_db()
    assert card.model_version == same  # adopted again on save
    assert card.revisions.count() == 2


def _model_id():
    from registry.models import RegisteredModel

    return RegisteredModel.objects.get(name="Churn").pk


def test_a_different_run_under_a_reused_version_number_gets_a_card_of_its_own(owner, churn_v1):
    card_save(owner, churn_v1, {"factors": "Old model."})
    churn_v1.delete()

    reused = ModelVersion.objects.create(model_id=_model_id(), version=1, run_id="another-run")
    assert card_revision_latest(reused) is None
    card_save(owner, reused, {"factors": "New model."})
    assert ModelCard.objects.count() == 2


# ---- pages --------------------------------------------------------------------------------
def test_the_card_page_shows_generated_facts_prose_completeness_and_status(client, owner, churn_v1):
    card_save(owner, churn_v1, {"intended_use": "Retention **offers**.", "limitations": "TODO"})
    client.force_login(owner)

    response = client.get(reverse("cards:card_detail", args=["Churn", 1]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong>offers</strong>" in body
    assert "sklearn.ensemble.RandomForest" in body and "scikit-learn" in body  # model type and framework
    assert "<td>region_north</td>" in body  # per-group metrics
    assert "d10000" in body  # dataset digest
    assert "abc123" in body  # commit
    page = response.context["page"]
    assert page.completeness.percent == 11
    assert "Limitations" in page.completeness.placeholders
    assert "Factors" in page.completeness.missing or "Factors" in page.completeness.placeholders
    assert 'value="11"' in body  # the meter
    assert "pending" in body and 'hx-trigger="every 2s"' in body
    assert reverse("cards:section_edit", args=["Churn", 1, "limitations"]) in body


def test_the_draft_page_says_nothing_is_saved(client, outsider, churn_v1):
    client.force_login(outsider)
    body = client.get(reverse("cards:card_detail", args=["Churn", 1])).content.decode()

    assert "No card has been saved for this version yet" in body
    assert "not saved yet" in body
    assert "0% complete" in body


@pytest.mark.parametrize("size", [1, 12])
def test_card_page_query_count_does_not_grow(client, owner, mirror, django_assert_num_queries, size):
    version = mirror.version(
        datasets=size, metrics={f"m{i}": 0.5 for i in range(size)} | {f"accuracy_g{i}": 0.5 for i in range(size)}
    )
    for i in range(size):
        card_save(owner, version, {"factors": f"rev {i}"})
    client.force_login(owner)

    # session, user, version, latest revision (+card, publication), datasets; base.html: leads group, last sync,
    # Reviews badge
    # + the model's owners (prefetched with the version), the card panel's ownership question
    with django_assert_num_queries(10):
        assert client.get(reverse("cards:card_detail", args=["Churn", 1])).status_code == 200


@pytest.mark.parametrize("size", [1, 12])
def test_draft_page_query_count_does_not_grow(client, owner, mirror, django_assert_num_queries, size):
    for n in range(1, size + 1):
        card_save(owner, mirror.version(datasets=size), {"factors": f"v{n}"})
    mirror.version(datasets=size)
    client.force_login(owner)

    # ... plus the previous version's card to carry forward
    # + the model's owners (prefetched), the ownership question
    with django_assert_num_queries(11):
        assert client.get(reverse("cards:card_detail", args=["Churn", size + 1])).status_code == 200


@pytest.mark.parametrize("size", [1, 12])
def test_history_query_count_does_not_grow(client, owner, django_assert_num_queries, churn_v1, size):
    for i in range(size):
        card_save(owner, churn_v1, {"factors": f"rev {i}"})
    client.force_login(owner)

    # session, user, version, latest revision, revisions with publication; base.html: leads group, last sync,
    # Reviews badge
    # + the model's owners (prefetched with the version)
    with django_assert_num_queries(9):
        response = client.get(reverse("cards:history", args=["Churn", 1]), {"a": 1, "b": size})
    assert len(response.context["revisions"]) == size


def test_the_markdown_export_has_hugging_face_front_matter(client, owner, churn_v1):
    card_save(owner, churn_v1, COMPLETE)
    client.force_login(owner)

    response = client.get(reverse("cards:export_markdown", args=["Churn", 1]))

    assert response["Content-Disposition"] == 'attachment; filename="Churn-v1-model_card.md"'
    _, front, body = response.content.decode().split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["datasets"] == ["churn-data-0"]
    assert {"name": "accuracy_region_north", "type": "accuracy", "value": 0.78} in meta["model-index"][0]["results"][0][
        "metrics"
    ]
    assert "## Intended Use\n\nIntended Use written." in body


def test_the_json_export_follows_the_model_card_toolkit_schema(client, owner, churn_v1):
    card_save(owner, churn_v1, COMPLETE, summary="all sections")
    client.force_login(owner)

    data = json.loads(client.get(reverse("cards:export_json", args=["Churn", 1])).content)

    assert set(data) == {
        "schema_version",
        "model_details",
        "model_parameters",
        "quantitative_analysis",
        "considerations",
    }
    assert data["model_details"]["name"] == "Churn"
    assert data["model_details"]["owners"] == [{"name": owner.username}]
    assert data["model_details"]["version"]["diff"] == "all sections"
    assert data["model_parameters"]["model_architecture"] == "sklearn.ensemble.RandomForest"
    assert {"type": "accuracy", "value": 0.78, "slice": "region_north"} in data["quantitative_analysis"][
        "performance_metrics"
    ]
    assert data["considerations"]["limitations"] == [{"description": "Limitations written."}]
    assert data["considerations"]["use_cases"] == [{"description": "Intended Use written."}]


# ---- panels -----------------------------------------------------------------------------
def test_the_panel_renders_the_card_with_an_edit_link_for_owners(rf, owner, outsider, churn_v1):
    card_save(owner, churn_v1, {"intended_use": "Retention."})
    template = Template('{% load registry_tags %}{% render_partial "cards/panel.html" card %}')

    def render(user):
        return template.render(Context({"card": card_panel_context(churn_v1, user), "user": user}))

    for_owner, for_outsider = render(owner), render(outsider)

    assert "Retention." in for_owner and "% complete" in for_owner
    edit = reverse("cards:section_edit", args=["Churn", 1, "intended_use"])
    assert edit in for_owner
    assert edit not in for_outsider and "Retention." in for_outsider


@pytest.mark.parametrize("size", [2, 10])
def test_the_status_badges_of_a_versions_table_cost_one_query(owner, mirror, django_assert_num_queries, size):
    versions = [mirror.version(with_run=False) for _ in range(size)]
    card_save(owner, versions[0], COMPLETE)
    card_save(owner, versions[1], {"factors": "x"})
    objects = PageObjects("model", owner, model=versions[0].model)

    with django_assert_num_queries(1):
        by_pk = card_badges(objects, versions)
    badges = [by_pk[v.pk].text for v in versions] + [""]

    assert "card complete" in badges[0]
    assert "card 11%" in badges[1]
    assert all("no card" in badge for badge in badges[2:-1])
