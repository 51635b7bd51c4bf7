import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template

from audit.selectors import can_view_whole_log
from registry.models import RegisteredModel

from .conftest import append, version_event

pytestmark = pytest.mark.django_db

PANEL = Template("{% load audit_tags %}{% activity_panel user model_name version=version limit=limit %}")


def render(user, model_name, version=None, limit=20) -> str:
    return PANEL.render(Context({"user": user, "model_name": model_name, "version": version, "limit": limit}))


@pytest.fixture
def churn():
    from audit.services import record_many

    RegisteredModel.objects.create(name="churn")
    RegisteredModel.objects.create(name="fraud")
    append(3, model="churn")
    record_many([version_event("fraud", 1), version_event("churn", 2, "review.approved", "system:worker")])


def test_it_shows_a_models_latest_events_to_any_signed_in_user(outsider, churn):
    html = render(outsider, "churn")

    assert html.count("<li>") == 4
    assert html.index("review.approved") < html.index("registry.version_created")
    assert "fraud" not in html
    assert "Full audit log" not in html


def test_it_narrows_to_one_version_and_a_limit(outsider, churn):
    assert render(outsider, "churn", version=2).count("<li>") == 2
    assert render(outsider, "churn", limit=1).count("<li>") == 1


def test_leads_get_a_link_to_the_filtered_log(lead, churn):
    assert 'href="/audit/?model=churn&amp;version=2"' in render(lead, "churn", version=2)


def test_nobody_sees_activity_of_models_they_cannot_see(churn, outsider):
    assert "No recorded activity yet." in render(AnonymousUser(), "churn")
    append(1, model="retired")  # no longer in the registry

    assert "No recorded activity yet." in render(outsider, "retired")


@pytest.mark.parametrize("events", [2, 30])
def test_it_costs_one_query_whatever_the_history(outsider, django_assert_num_queries, events):
    RegisteredModel.objects.create(name="churn")
    append(events)
    can_view_whole_log(outsider)  # on a real page the nav link has asked already

    with django_assert_num_queries(1):
        html = render(outsider, "churn")

    assert html.count("<li>") == min(events, 20)
