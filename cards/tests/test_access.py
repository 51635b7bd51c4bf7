"""Who may change a card: the model's owner and admins; reviewers, outsiders and anonymous visitors only read."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from cards.access import card_edit_refusal, card_publish_refusal
from cards.models import CardPublication
from cards.selectors import card_page
from cards.services import card_publication_retry, card_revision_create
from registry.selectors import version_get_for_user

pytestmark = pytest.mark.django_db

EDITORS = {"owner", "admin"}
PERSONAS = ("owner", "admin", "outsider", "reviewer", "staff", "anonymous")
REFUSALS = {
    card_edit_refusal: "only the model's owner or an admin may edit its card",
    card_publish_refusal: "only the model's owner or an admin may publish its card",
}


@pytest.fixture
def people(owner, admin_user, outsider, reviewer_a, staff):
    return {
        "owner": owner,
        "admin": admin_user,
        "outsider": outsider,
        "reviewer": reviewer_a,
        "staff": staff,
        "anonymous": AnonymousUser(),
    }


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("question", list(REFUSALS), ids=lambda question: question.__name__)
def test_only_the_owner_and_admins_change_a_card(people, churn_v1, question, persona):
    refusal = question(people[persona], churn_v1)

    if persona in EDITORS:
        assert refusal is None
    else:
        assert (refusal.message, refusal.status) == (REFUSALS[question], 403)


@pytest.mark.parametrize("question", list(REFUSALS), ids=lambda question: question.__name__)
def test_a_model_without_an_owner_is_changed_by_admins_only(people, question, mirror):
    ownerless = mirror.version("Orphan", owner="")

    assert question(people["admin"], ownerless) is None
    assert question(people["owner"], ownerless) is not None


def test_the_questions_ask_no_query(people, churn_v1, django_assert_num_queries):
    """As pages ask them: with the model's owners prefetched (``registry.selectors.version_get_for_user``)."""
    churn_v1 = version_get_for_user(people["owner"], churn_v1.model.name, churn_v1.version)
    with django_assert_num_queries(0):
        for question in REFUSALS:
            for persona in PERSONAS:
                question(people[persona], churn_v1)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_card_page_offers_editing_exactly_when_the_service_allows_it(people, churn_v1, persona):
    assert card_page(churn_v1, people[persona]).can_edit == (card_edit_refusal(people[persona], churn_v1) is None)


def test_the_services_refuse_with_the_same_message(people, churn_v1):
    outsider = people["outsider"]
    with pytest.raises(PermissionDenied, match=REFUSALS[card_edit_refusal]):
        card_revision_create(actor=outsider, version=churn_v1, changes={}, base_revision_id=None, summary="x")

    revision = card_revision_create(
        actor=people["owner"], version=churn_v1, changes={"factors": "Region."}, base_revision_id=None, summary="s"
    )
    CardPublication.objects.filter(revision=revision).update(status=CardPublication.FAILED)
    with pytest.raises(PermissionDenied, match=REFUSALS[card_publish_refusal]):
        card_publication_retry(actor=outsider, version=churn_v1, revision=revision)
    assert CardPublication.objects.get(revision=revision).status == CardPublication.FAILED
