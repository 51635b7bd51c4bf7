"""Policy settings beyond the stage rules (re-certification interval, reminder, out-of-band mode): inherited from
the default, overridden per model, validated and round-tripped through YAML."""

import textwrap

import pytest

from approvals import policies
from approvals.models import Policy
from approvals.services import policies_import

pytestmark = pytest.mark.django_db


def test_built_in_settings_apply_without_rows():
    Policy.objects.all().delete()
    chosen = policies.policy_settings("Fraud")
    assert (chosen.recertify_days, chosen.recertify_remind_days, chosen.out_of_band) == (None, 14, "detect")
    assert not chosen.reverts
    assert chosen.sources["out_of_band"] == "built-in default"


def test_a_model_row_overrides_the_default_setting_by_setting():
    Policy.objects.update_or_create(model_name="", defaults={"recertify_days": 365, "out_of_band": "revert"})
    Policy.objects.create(model_name="Fraud", rules={}, recertify_days=90)
    fraud, other = policies.policy_settings("Fraud"), policies.policy_settings("Other")
    assert (fraud.recertify_days, fraud.out_of_band, fraud.reverts) == (90, "revert", True)
    assert fraud.sources == {
        "recertify_days": "policy for Fraud",
        "recertify_remind_days": "built-in default",
        "out_of_band": "default policy",
        "tier_from_card": "built-in default",
    }
    assert (other.recertify_days, other.out_of_band) == (365, "revert")


DOCUMENT = textwrap.dedent(
    """\
    default:
      out_of_band: revert
      recertify_days: 365
      stages: {}
    models:
      Fraud:
        recertify_days: 90
        recertify_remind_days: 7
        stages: {}
    """
)


def test_settings_round_trip_through_yaml(admin_user):
    policies_import(actor=admin_user, policies=policies.parse_yaml(DOCUMENT))
    fraud = Policy.objects.get(model_name="Fraud")
    assert (fraud.recertify_days, fraud.recertify_remind_days, fraud.out_of_band) == (90, 7, "")
    again = policies.parse_yaml(policies.export_yaml(Policy.objects.all()))
    assert {p.model_name: p.settings for p in again} == {
        "": {"out_of_band": "revert", "recertify_days": 365},
        "Fraud": {"recertify_days": 90, "recertify_remind_days": 7},
    }
    # Importing a document without the setting clears it: the stored policies become exactly the file's.
    policies_import(actor=admin_user, policies=policies.parse_yaml("default:\n  stages: {}\n"))
    assert policies.policy_settings("Fraud").out_of_band == "detect"
    assert Policy.objects.get(model_name="").recertify_days is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("out_of_band: undo", "default.out_of_band: must be detect or revert, got 'undo'"),
        ("recertify_days: 0", "default.recertify_days: must be a whole number of days >= 1, got 0"),
        ("recertify_days: ninety", "default.recertify_days: must be a whole number of days >= 1, got 'ninety'"),
        ("recertify_remind_days: true", "default.recertify_remind_days: must be a whole number of days >= 0"),
        ("recertify_days: 1.5", "default.recertify_days: must be a whole number of days >= 1, got 1.5"),
        ("revert: yes", "default.revert: unknown key"),
    ],
)
def test_bad_settings_are_refused_with_their_line(line, message):
    with pytest.raises(policies.PolicyDocumentError) as caught:
        policies.parse_yaml(f"default:\n  {line}\n  stages: {{}}\n")
    assert any(message in m and m.startswith("line 2:") for m in caught.value.messages), caught.value.messages
