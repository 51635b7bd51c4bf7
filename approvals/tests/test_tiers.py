"""Risk tiers: set by ML leads/admins (audited), and tier policies between a model's row and the default."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from approvals import policies, services
from approvals.models import ModelRiskTier, Policy
from audit.models import AuditEvent
from tests.factories import file_request, make_model, make_version

pytestmark = pytest.mark.django_db

TIER1 = {"Production": [{"id": "approvals", "type": "required_approvals", "count": 3}]}
TIER3 = {"Production": [{"id": "approvals", "type": "required_approvals", "count": 1}]}


@pytest.fixture
def tiered(db):
    Policy.objects.update_or_create(model_name="", defaults={"rules": policies.DEFAULT_RULES, "recertify_days": 180})
    Policy.objects.create(model_name="", tier=1, rules=TIER1, recertify_days=90)
    Policy.objects.create(model_name="", tier=3, rules=TIER3, recertify_days=365)


def test_resolution_model_row_over_tier_row_over_default(tiered, lead):
    services.risk_tier_set(actor=lead, model_name="Fraud", tier=1)
    assert policies.required_approvals("Fraud", "Production") == 3
    assert policies.stage_policy("Fraud", "Production").label == "tier 1 policy"
    # Stage by stage: tier 1 has no Staging rules, so the default's apply.
    assert policies.stage_policy("Fraud", "Staging").label == "default policy"
    assert policies.stage_policy("Untiered", "Production").required_approvals == 2
    Policy.objects.create(model_name="Fraud", rules={"Production": [{"type": "required_approvals", "count": 4}]})
    assert policies.required_approvals("Fraud", "Production") == 4
    settings = policies.policy_settings("Fraud")
    assert settings.recertify_days == 90 and settings.sources["recertify_days"] == "tier 1 policy"
    assert policies.policy_settings("Untiered").recertify_days == 180


def test_for_model_returns_no_tier_rows(tiered):
    assert all(p.tier is None for p in Policy.objects.for_model("Fraud"))


def test_tier_changes_required_approvals_of_a_filed_request(tiered, owner, lead):
    model = make_model("Churn", owner=owner)
    version = make_version(model)
    services.risk_tier_set(actor=lead, model_name="Churn", tier=3)
    assert file_request(owner, version, "Production").required_approvals == 1


def test_set_is_audited_and_refused_for_owners_and_reviewers(tiered, lead, owner, reviewer_a):
    for user in (owner, reviewer_a):
        with pytest.raises(PermissionDenied):
            services.risk_tier_set(actor=user, model_name="Fraud", tier=1)
    with pytest.raises(ValidationError):
        services.risk_tier_set(actor=lead, model_name="Fraud", tier=7)
    services.risk_tier_set(actor=lead, model_name="Fraud", tier=1, reason="credit")
    services.risk_tier_set(actor=lead, model_name="Fraud", tier=2)
    events = list(AuditEvent.objects.filter(action="model.risk_tier_set").order_by("seq"))
    assert [e.data["before"] and e.data["before"]["tier"] for e in events] == [None, 1]
    assert events[-1].data["after"]["tier"] == 2


def test_a_card_tier_never_replaces_a_manual_one(tiered, lead):
    services.risk_tier_set(actor=lead, model_name="Fraud", tier=1)
    assert services.risk_tier_set(actor="system:worker", model_name="Fraud", tier=3, source="card") is None
    assert ModelRiskTier.objects.get(model_name="Fraud").tier == 1


def test_rename_follows(tiered, lead):
    services.risk_tier_set(actor=lead, model_name="Old", tier=1)
    services.model_rename_follow(old_name="Old", new_name="New")
    assert ModelRiskTier.objects.get().model_name == "New"


def test_constraints(tiered):
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(model_name="", tier=1, rules={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(model_name="Fraud", tier=2, rules={})


def test_api_sets_the_tier(api, owner):
    make_model("Churn", owner=owner)
    lead, owner = "lead", "owner"
    assert api(owner, "put", "/models/Churn/risk-tier", json={"tier": 1}).status_code == 403
    assert api(lead, "put", "/models/Churn/risk-tier", json={"tier": 9}).status_code == 400
    answer = api(lead, "put", "/models/Churn/risk-tier", json={"tier": 1, "reason": "credit"})
    assert answer.status_code == 200 and answer.json()["tier"] == 1
    assert api(lead, "put", "/models/Missing/risk-tier", json={"tier": 1}).status_code == 404


TIERED_YAML = """\
default:
  stages: {}
tiers:
  1:
    description: high risk
    recertify_days: 90
    stages:
      Production:
        - {id: approvals, type: required_approvals, count: 2}
  3:
    recertify_days: 365
    stages: {}
"""


def test_yaml_round_trip_with_tiers(admin_user):
    found = policies.parse_yaml(TIERED_YAML)
    assert [(p.model_name, p.tier) for p in found] == [("", None), ("", 1), ("", 3)]
    services.policies_import(actor=admin_user, policies=found)
    assert Policy.objects.get(tier=1).recertify_days == 90
    again = policies.parse_yaml(policies.export_yaml(Policy.objects.all()))
    assert sorted((p.tier or 0, p.settings.get("recertify_days")) for p in again) == [(0, None), (1, 90), (3, 365)]
    # Importing again changes nothing; dropping a tier deletes its row.
    assert services.policies_import(actor=admin_user, policies=again) == []
    services.policies_import(actor=admin_user, policies=[p for p in again if p.tier != 3])
    assert not Policy.objects.filter(tier=3).exists()


def test_bad_tier_keys_are_refused_with_line_numbers():
    with pytest.raises(policies.PolicyDocumentError) as caught:
        policies.parse_yaml("default:\n  stages: {}\ntiers:\n  7:\n    stages: {}\n  1:\n    bogus: 1\n")
    assert any(m.startswith("line 4:") for m in caught.value.messages)
    assert any(m.startswith("line 7:") and "unknown key" in m for m in caught.value.messages)


CARD_RULE = {"section": "limitations", "rules": [{"contains": "credit decision", "tier": 1}], "default": 2}


def test_the_card_derives_the_tier_where_the_policy_says_so(tiered, owner, django_capture_on_commit_callbacks):
    from tests.factories import write_card

    Policy.objects.filter(model_name="", tier__isnull=True).update(tier_from_card=CARD_RULE)
    version = make_version(make_model("Churn", owner=owner))
    with django_capture_on_commit_callbacks(execute=True):
        write_card(version, {"limitations": "Used for a Credit Decision."})
    row = ModelRiskTier.objects.get(model_name="Churn")
    assert (row.tier, row.source, row.set_by) == (1, "card", "system:worker")
    assert AuditEvent.objects.filter(action="model.risk_tier_set", actor="system:worker").exists()


def test_tier_from_card_is_validated():
    with pytest.raises(policies.PolicyDocumentError) as caught:
        policies.parse_yaml("default:\n  stages: {}\n  tier_from_card: {section: nope, rules: []}\n")
    assert caught.value.messages[0].startswith("line 3:")
    assert policies.SETTING_CHECKS["tier_from_card"](CARD_RULE) is None
    assert policies.tier_from_card(CARD_RULE, {"limitations": "internal"}) == 2


def test_pages_show_the_tier(client, owner, lead):
    from django.urls import reverse

    model = make_model("Churn", owner=owner)
    services.risk_tier_set(actor=lead, model_name="Churn", tier=1)
    client.force_login(owner)
    assert "tier 1" in client.get(reverse("registry:model_list")).content.decode()
    assert "tier 1" in client.get(model.get_absolute_url()).content.decode()


def test_the_model_page_form_sets_and_clears_the_tier(client, lead, owner):
    from django.urls import reverse

    model = make_model("Churn", owner=owner)
    url = reverse("approvals:risk_tier_set", args=["Churn"])
    client.force_login(lead)
    page = client.get(model.get_absolute_url()).content.decode()
    assert f'action="{url}"' in page
    response = client.post(url, {"tier": "1", "reason": "credit decisions"})
    assert response.status_code == 302 and response["Location"] == model.get_absolute_url()
    assert ModelRiskTier.objects.get(model_name="Churn").tier == 1
    assert "tier 1" in client.get(model.get_absolute_url()).content.decode()
    response = client.post(url, {"tier": "", "reason": "no longer credit"})
    assert response.status_code == 302 and not ModelRiskTier.objects.exists()
    events = list(AuditEvent.objects.filter(action="model.risk_tier_set").order_by("seq"))
    assert [e.data["after"] for e in events] == [{"tier": 1, "source": "manual", "reason": "credit decisions"}, None]
    assert events[-1].data["reason"] == "no longer credit"


def test_the_form_answers_bad_input_with_400_and_others_with_403(client, lead, owner):
    from django.urls import reverse

    model = make_model("Churn", owner=owner)
    url = reverse("approvals:risk_tier_set", args=["Churn"])
    client.force_login(lead)
    response = client.post(url, {"tier": "9"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert client.post(url, {"tier": "x\x00"}).status_code == 400
    assert client.post(reverse("approvals:risk_tier_set", args=["Missing"]), {"tier": "1"}).status_code == 404
    client.force_login(owner)
    assert f'action="{url}"' not in client.get(model.get_absolute_url()).content.decode()
    assert client.post(url, {"tier": "1"}).status_code == 403
    assert not ModelRiskTier.objects.exists() and not AuditEvent.objects.filter(action="model.risk_tier_set").exists()


def test_clearing_a_model_without_a_tier_records_nothing(lead):
    assert services.risk_tier_set(actor=lead, model_name="Fraud", tier=None) is None
    assert not AuditEvent.objects.filter(action="model.risk_tier_set").exists()


def test_the_model_response_carries_its_risk_tier(api, lead, owner):
    make_model("Churn", owner=owner)
    assert api("lead", "get", "/models/Churn").json()["extras"]["risk_tier"] is None
    services.risk_tier_set(actor=lead, model_name="Churn", tier=2)
    body = api("lead", "get", "/models/Churn").json()
    assert body["extras"]["risk_tier"] == {"tier": 2, "source": "manual", "set_by": "lena-lead"}
