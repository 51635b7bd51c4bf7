"""Policies as data: the default, per-model overrides, admin edits and YAML import/export, all audited."""

import json
import textwrap

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from approvals import policies
from approvals.models import Policy
from approvals.policies import DEFAULT_RULES, required_approvals, requires_staging_first, stage_policy
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

OVERRIDE_YAML = textwrap.dedent(
    """\
    default:
      description: house rules
      stages:
        Production:
          - {id: accuracy, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
          - {id: approvals, type: required_approvals, count: 2}
    models:
      Fraud:
        description: fraud is measured by recall
        stages:
          Production:
            - {id: recall, type: metric_threshold, metric: recall, op: ">=", value: 0.8}
            - {id: approvals, type: required_approvals, count: 3}
    """
)


def import_text(tmp_path, text: str, name="policy.yaml"):
    path = tmp_path / name
    path.write_text(text)
    call_command("policy", "import", str(path))


def stored() -> dict:
    return {p.model_name: (p.description, p.rules) for p in Policy.objects.all()}


def test_a_fresh_install_enforces_the_course_rules():
    default = Policy.objects.get(model_name="")
    assert default.rules == policies.validate_stages(DEFAULT_RULES)
    production = {rule["id"]: rule for rule in default.rules["Production"]}
    assert production["accuracy"] == {
        "id": "accuracy",
        "type": "metric_threshold",
        "metric": "accuracy",
        "op": ">=",
        "value": 0.9,
        "source": "metric",
    }
    assert {r["type"] for r in default.rules["Production"]} == {
        "dataset_digest",
        "required_tags",
        "metric_threshold",
        "model_card_complete",
        "staging_first",
        "no_regression",
        "required_approvals",
    }
    assert production["dataset-version"]["tags"] == ["dataset_version"]
    assert production["code-commit"]["tags"] == ["mlflow.source.git.commit"]
    assert [r["type"] for r in default.rules["Staging"]] == ["dataset_digest", "required_tags", "required_approvals"]
    assert (required_approvals("Any", "Staging"), required_approvals("Any", "Production")) == (1, 2)
    assert requires_staging_first("Any")


def test_a_per_model_override_wins_for_its_stages_only(tmp_path):
    import_text(tmp_path, OVERRIDE_YAML)
    fraud = stage_policy("Fraud", "Production")
    assert fraud.label == "policy for Fraud"
    assert [r.id for r in fraud.rules] == ["recall", "approvals"]
    assert required_approvals("Fraud", "Production") == 3
    assert required_approvals("Churn", "Production") == 2
    assert stage_policy("Fraud", "Staging").label == "default policy"
    assert not requires_staging_first("Fraud")


def test_required_approvals_accepts_a_version(mirror):
    assert required_approvals(mirror.version(), "Production") == 2


def test_without_any_stored_policy_the_built_in_default_applies():
    Policy.objects.all().delete()
    production = stage_policy("Churn", "Production")
    assert production.label == "built-in default policy"
    assert production.required_approvals == 2


def test_a_stage_without_an_approvals_rule_still_needs_one_reviewer(tmp_path):
    import_text(tmp_path, "default:\n  stages:\n    Staging: []\n")
    assert required_approvals("Churn", "Staging") == 1


def test_saving_invalid_rules_is_refused_and_nothing_is_stored():
    policy = Policy(model_name="Churn", rules={"Production": [{"type": "metric_threshold", "metric": "accuracy"}]})
    with pytest.raises(ValidationError) as caught:
        policy.save()
    assert caught.value.message_dict["rules"] == [
        "Production[0].op: required by metric_threshold",
        "Production[0].value: required by metric_threshold",
    ]
    assert not Policy.objects.filter(model_name="Churn").exists()


class TestYaml:
    def test_export_then_import_changes_nothing(self, tmp_path):
        import_text(tmp_path, OVERRIDE_YAML)
        before, events = stored(), AuditEvent.objects.count()
        out = tmp_path / "out.yaml"
        call_command("policy", "export", str(out))
        assert "metric_threshold" in out.read_text()
        import_text(tmp_path, out.read_text(), "again.yaml")
        assert stored() == before
        assert AuditEvent.objects.count() == events

    def test_import_audits_each_change_with_before_and_after(self, tmp_path):
        old_default = Policy.objects.get(model_name="").rules
        import_text(tmp_path, OVERRIDE_YAML)
        events = {e.target_id: e for e in AuditEvent.objects.filter(action="policy.changed")}
        assert set(events) == {"default", "Fraud"}
        assert events["default"].data["before"]["rules"] == old_default
        assert events["default"].data["after"]["description"] == "house rules"
        assert events["Fraud"].data["before"] is None
        assert events["Fraud"].model_name == "Fraud"

    def test_import_removes_overrides_the_file_no_longer_has(self, tmp_path):
        import_text(tmp_path, OVERRIDE_YAML)
        import_text(tmp_path, OVERRIDE_YAML.split("models:")[0], "without-models.yaml")
        assert set(stored()) == {""}
        deleted = AuditEvent.objects.filter(action="policy.changed", target_id="Fraud").order_by("seq").last()
        assert deleted.data["after"] is None

    @pytest.mark.parametrize(
        "bad, expected",
        [
            (
                OVERRIDE_YAML.replace(
                    "type: metric_threshold, metric: recall", "type: recall_at_least, metric: recall"
                ),
                "line 12: models.Fraud.stages.Production[0].type: unknown rule type 'recall_at_least'",
            ),
            (
                OVERRIDE_YAML.replace("count: 3", "count: three"),
                "line 13: models.Fraud.stages.Production[1].count: must be a number, got 'three'",
            ),
            (
                OVERRIDE_YAML.replace("value: 0.8}", "value: 0.8, direction: up}"),
                "line 12: models.Fraud.stages.Production[0].direction: unknown key for metric_threshold",
            ),
            (
                OVERRIDE_YAML.replace(
                    "    stages:\n      Production:\n        - {id: recall",
                    "    stagse:\n      Production:\n        - {id: recall",
                ),
                "line 10: models.Fraud.stagse: unknown key; a policy has 'description', 'stages', 'recertify_days'",
            ),
            (OVERRIDE_YAML.replace("default:", "defaults:"), "the default policy ('default:') is required"),
            (
                OVERRIDE_YAML.replace("Production:\n      - {id: accuracy", "Prod:\n      - {id: accuracy"),
                "line 4: default.stages.Prod: unknown stage",
            ),
            ("default: [unclosed", "not valid YAML"),
            ("- just\n- a list\n", "the document must be a mapping"),
        ],
    )
    def test_a_bad_file_is_refused_naming_key_and_line_and_the_old_policy_is_kept(self, tmp_path, bad, expected):
        import_text(tmp_path, OVERRIDE_YAML)
        before, events = stored(), AuditEvent.objects.count()
        with pytest.raises(CommandError) as caught:
            import_text(tmp_path, bad, "bad.yaml")
        assert "nothing was changed" in str(caught.value) or "not valid YAML" in str(caught.value)
        assert expected in str(caught.value)
        assert stored() == before
        assert AuditEvent.objects.count() == events

    def test_every_error_is_listed(self, tmp_path):
        bad = OVERRIDE_YAML.replace('op: ">="', 'op: "=>"').replace("count: 3", "count: 0")
        with pytest.raises(CommandError) as caught:
            import_text(tmp_path, bad)
        message = str(caught.value)
        assert "line 5: default.stages.Production[0].op: must be one of >=, <=, >, <, got '=>'" in message
        assert "line 13: models.Fraud.stages.Production[1].count: must be >= 1, got 0" in message

    def test_an_unreadable_file_is_a_clear_error(self, tmp_path):
        with pytest.raises(CommandError, match="cannot read"):
            call_command("policy", "import", str(tmp_path / "missing.yaml"))

    def test_reset_default_restores_the_fresh_install_policy(self, tmp_path):
        import_text(tmp_path, OVERRIDE_YAML)
        call_command("policy", "reset-default")
        assert Policy.objects.get(model_name="").rules == policies.validate_stages(DEFAULT_RULES)
        assert AuditEvent.objects.filter(action="policy.changed", target_id="default").count() == 2


class TestAdmin:
    def url(self, policy=None):
        return f"/admin/approvals/policy/{policy.pk}/change/" if policy else "/admin/approvals/policy/add/"

    def post(self, client, policy, rules, description="edited"):
        data = {"model_name": policy.model_name if policy else "Churn", "description": description}
        data["rules"] = rules if isinstance(rules, str) else json.dumps(rules)
        return client.post(self.url(policy), data)

    def test_an_admin_edit_is_saved_and_audited_with_before_and_after(self, client, admin_user):
        client.force_login(admin_user)
        default = Policy.objects.get(model_name="")
        rules = {"Production": [{"type": "required_approvals", "count": 3}]}
        response = self.post(client, default, rules)
        assert response.status_code == 302
        default.refresh_from_db()
        assert default.rules == {"Production": [{"id": "required_approvals", "type": "required_approvals", "count": 3}]}
        assert default.updated_by == "ada-admin"
        event = AuditEvent.objects.get(action="policy.changed")
        assert event.actor == "ada-admin"
        assert event.data["before"]["rules"] == policies.validate_stages(DEFAULT_RULES)
        assert event.data["after"]["rules"] == default.rules

    @pytest.mark.parametrize(
        "rules, error",
        [
            ({"Production": [{"type": "accuracy"}]}, "Production[0].type: unknown rule type &#x27;accuracy&#x27;"),
            ({"Production": [{"type": "required_approvals", "count": "two"}]}, "Production[0].count: must be a number"),
            ("{not json", "Enter a valid JSON."),
        ],
    )
    def test_invalid_rules_show_the_error_and_keep_the_old_policy(self, client, admin_user, rules, error):
        client.force_login(admin_user)
        default = Policy.objects.get(model_name="")
        before = default.rules
        response = self.post(client, default, rules)
        assert response.status_code == 200
        assert error in response.content.decode()
        default.refresh_from_db()
        assert default.rules == before
        assert not AuditEvent.objects.filter(action="policy.changed").exists()

    def test_an_override_can_be_added_and_deleted_but_the_default_cannot_be_deleted(self, client, admin_user):
        client.force_login(admin_user)
        response = self.post(client, None, {"Production": [{"type": "required_approvals", "count": 3}]})
        assert response.status_code == 302
        override = Policy.objects.get(model_name="Churn")
        response = client.post(f"/admin/approvals/policy/{override.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
        assert not Policy.objects.filter(model_name="Churn").exists()
        actions = list(AuditEvent.objects.filter(action="policy.changed").values_list("data__after", flat=True))
        assert actions[-1] is None
        default = Policy.objects.get(model_name="")
        assert client.post(f"/admin/approvals/policy/{default.pk}/delete/", {"post": "yes"}).status_code == 403
        assert Policy.objects.filter(model_name="").exists()

    def test_non_staff_cannot_reach_the_admin(self, client, outsider):
        client.force_login(outsider)
        assert client.get(self.url()).status_code == 302
