"""Each rule type: passed, failed, not applicable, and malformed inputs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.checks import VersionFacts
from approvals.rules import FAILED, NOT_APPLICABLE, PASSED, PolicyErrors, build_rules, validate_stages
from registry.models import StageChange
from tests.factories import complete_sections, write_card

pytestmark = pytest.mark.django_db


def check(version, rule: dict, stage="Production", now=None):
    (built,) = build_rules(validate_stages({stage: [rule]})[stage])
    return built.evaluate(VersionFacts(version, stage, now=now))


def invalid(rule: dict) -> list[str]:
    with pytest.raises(PolicyErrors) as caught:
        validate_stages({"Production": [rule]})
    return caught.value.messages


ACCURACY = {"type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9}


class TestMetricThreshold:
    def test_it_passes_at_the_bound(self, mirror):
        result = check(mirror.version(metrics={"accuracy": 0.9}), ACCURACY)
        assert result.status == PASSED
        assert result.evidence["value"] == 0.9

    def test_it_fails_below_the_bound(self, mirror):
        result = check(mirror.version(metrics={"accuracy": 0.85}), ACCURACY)
        assert (result.status, result.message) == (FAILED, "accuracy = 0.85, needs >= 0.9")

    def test_a_missing_metric_fails_with_not_logged(self, mirror):
        result = check(mirror.version(metrics={"f1": 0.99}), ACCURACY)
        assert (result.status, result.message) == (FAILED, "metric accuracy not logged")

    def test_a_version_without_run_fails_with_not_logged(self, mirror):
        result = check(mirror.version(with_run=False), ACCURACY)
        assert (result.status, result.message) == (FAILED, "metric accuracy not logged")

    def test_lower_is_better_metrics_use_the_other_operator(self, mirror):
        rule = {"type": "metric_threshold", "metric": "log_loss", "op": "<", "value": 0.3}
        assert check(mirror.version(metrics={"log_loss": 0.2}), rule).status == PASSED
        assert check(mirror.version(metrics={"log_loss": 0.3}), rule).status == FAILED

    def test_a_non_numeric_metric_fails_clearly(self, mirror):
        result = check(mirror.version(metrics={"accuracy": "high"}), ACCURACY)
        assert (result.status, result.message) == (FAILED, "metric accuracy is not a number: 'high'")

    def test_a_numeric_tag_can_be_the_source(self, mirror):
        rule = {"type": "metric_threshold", "metric": "training_rows", "op": ">=", "value": 1000, "source": "tag"}
        assert check(mirror.version(tags={"training_rows": "5000"}), rule).status == PASSED
        result = check(mirror.version(tags={"training_rows": "lots"}), rule)
        assert (result.status, result.message) == (FAILED, "tag training_rows is not a number: 'lots'")

    @pytest.mark.parametrize(
        "change, expected",
        [
            ({"op": "=>"}, "Production[0].op: must be one of >=, <=, >, <, got '=>'"),
            ({"value": "0.9"}, "Production[0].value: must be a number, got '0.9'"),
            ({"value": True}, "Production[0].value: must be a number, got True"),
            ({"metric": ""}, "Production[0].metric: must be a non-empty string, got ''"),
            (
                {"threshold": 1},
                "Production[0].threshold: unknown key for metric_threshold; allowed: id, type, metric, op, value, source",
            ),
        ],
    )
    def test_malformed_rules_are_refused_naming_the_key(self, change, expected):
        assert expected in invalid({**ACCURACY, **change})

    def test_a_required_parameter_is_named(self):
        assert invalid({"type": "metric_threshold", "metric": "accuracy", "op": ">="}) == [
            "Production[0].value: required by metric_threshold"
        ]


class TestNoRegression:
    RULE = {"type": "no_regression", "metric": "accuracy", "tolerance": 0.01}

    def test_not_applicable_without_a_production_version(self, mirror):
        result = check(mirror.version(stage="Staging"), self.RULE)
        assert (result.status, result.message) == (NOT_APPLICABLE, "no version of Churn is in Production")

    def test_not_applicable_for_the_production_version_itself(self, mirror):
        result = check(mirror.version(stage="Production"), self.RULE)
        assert result.status == NOT_APPLICABLE

    def test_it_passes_within_tolerance(self, mirror):
        mirror.version(stage="Production", metrics={"accuracy": 0.93})
        result = check(mirror.version(stage="Staging", metrics={"accuracy": 0.925}), self.RULE)
        assert result.status == PASSED
        assert result.evidence["production_value"] == 0.93

    def test_it_fails_beyond_tolerance(self, mirror):
        mirror.version(stage="Production", metrics={"accuracy": 0.93})
        result = check(mirror.version(stage="Staging", metrics={"accuracy": 0.91}), self.RULE)
        assert result.status == FAILED
        assert "worse by 0.02" in result.message

    def test_lower_is_better_direction(self, mirror):
        rule = {"type": "no_regression", "metric": "log_loss", "direction": "lower"}
        mirror.version(stage="Production", metrics={"log_loss": 0.30})
        assert check(mirror.version(metrics={"log_loss": 0.25}), rule).status == PASSED
        assert check(mirror.version(metrics={"log_loss": 0.35}), rule).status == FAILED

    def test_a_missing_metric_on_the_candidate_fails(self, mirror):
        mirror.version(stage="Production", metrics={"accuracy": 0.93})
        result = check(mirror.version(metrics={}), self.RULE)
        assert (result.status, result.message) == (FAILED, "metric accuracy not logged")

    def test_nothing_to_compare_in_production_is_not_applicable(self, mirror):
        mirror.version(stage="Production", metrics={"f1": 0.5})
        result = check(mirror.version(), self.RULE)
        assert (result.status, result.message) == (NOT_APPLICABLE, "Production v1 has no numeric accuracy to compare")

    def test_a_negative_tolerance_is_refused(self):
        assert invalid({**self.RULE, "tolerance": -0.1}) == ["Production[0].tolerance: must be >= 0, got -0.1"]


class TestRequiredTags:
    RULE = {"type": "required_tags", "tags": ["mlflow.source.git.commit", "dataset_version"]}

    def test_run_or_version_tags_satisfy_it(self, mirror):
        version = mirror.version(tags={"mlflow.source.git.commit": "abc"}, version_tags={"dataset_version": "v3"})
        result = check(version, self.RULE)
        assert result.status == PASSED
        assert result.evidence["tags"] == {"mlflow.source.git.commit": "abc", "dataset_version": "v3"}

    def test_missing_and_empty_tags_fail(self, mirror):
        result = check(mirror.version(tags={"mlflow.source.git.commit": "  "}), self.RULE)
        assert (result.status, result.message) == (
            FAILED,
            "missing or empty run or version tag: mlflow.source.git.commit, dataset_version",
        )

    def test_scope_version_ignores_run_tags(self, mirror):
        result = check(mirror.version(), {**self.RULE, "scope": "version"})
        assert result.status == FAILED

    def test_tags_must_be_a_list_of_strings(self):
        assert invalid({"type": "required_tags", "tags": "dataset_version"}) == [
            "Production[0].tags: must be a non-empty list of non-empty strings, got 'dataset_version'"
        ]


class TestDatasetDigest:
    def test_it_passes_with_a_digest(self, mirror):
        result = check(mirror.version(), {"type": "dataset_digest"})
        assert (result.status, result.message) == (PASSED, "dataset logged: churn-data@d1g3st")

    def test_it_fails_without_datasets(self, mirror):
        result = check(mirror.version(datasets=()), {"type": "dataset_digest"})
        assert result.status == FAILED
        assert result.message.startswith("no dataset logged on run ")

    def test_it_fails_when_the_digest_is_empty(self, mirror):
        result = check(mirror.version(datasets=[("raw", "")]), {"type": "dataset_digest"})
        assert (result.status, result.message) == (FAILED, "dataset logged without a digest")

    def test_context_narrows_it(self, mirror):
        result = check(mirror.version(), {"type": "dataset_digest", "context": "evaluation"})
        assert (result.status, result.message[:28]) == (FAILED, "no evaluation dataset logged")

    def test_it_fails_without_a_run(self, mirror):
        assert check(mirror.version(with_run=False), {"type": "dataset_digest"}).status == FAILED


class TestModelCardComplete:
    def test_no_card_fails_listing_what_is_missing(self, mirror):
        result = check(mirror.version(), {"type": "model_card_complete"})
        assert result.status == FAILED
        assert result.message.startswith("model card 0% complete: missing Intended Use")

    def test_a_complete_card_passes(self, mirror):
        version = mirror.version()
        write_card(version, complete_sections())
        result = check(version, {"type": "model_card_complete"})
        assert (result.status, result.evidence["percent"]) == (PASSED, 100)

    def test_placeholders_fail(self, mirror):
        version = mirror.version()
        sections = complete_sections()
        sections["intended_use"] = "**Primary use:** [TO BE FILLED]"
        write_card(version, sections)
        result = check(version, {"type": "model_card_complete"})
        assert result.status == FAILED
        assert "placeholders left in Intended Use" in result.message

    def test_it_takes_no_parameters(self):
        assert invalid({"type": "model_card_complete", "sections": ["x"]}) == [
            "Production[0].sections: unknown key for model_card_complete; allowed: id, type"
        ]


class TestFairnessBound:
    RULE = {
        "type": "fairness_bound",
        "metric": "demographic_parity_difference",
        "max": 0.1,
        "group_metric": "selection_rate",
    }

    def test_a_logged_difference_within_bound_passes(self, mirror):
        result = check(mirror.version(metrics={"demographic_parity_difference": 0.04}), self.RULE)
        assert result.status == PASSED
        assert result.evidence["computed"] is False

    def test_a_logged_difference_beyond_bound_fails(self, mirror):
        result = check(mirror.version(metrics={"demographic_parity_difference": 0.2}), self.RULE)
        assert (result.status, result.message) == (FAILED, "demographic_parity_difference = 0.2, needs <= 0.1")

    def test_it_computes_max_minus_min_over_groups(self, mirror):
        metrics = {"selection_rate_north": 0.40, "selection_rate_south": 0.25, "selection_rate_east": 0.33}
        result = check(mirror.version(metrics=metrics), self.RULE)
        assert result.status == FAILED
        assert result.evidence["value"] == pytest.approx(0.15)
        assert "north 0.4 − south 0.25" in result.message
        metrics["selection_rate_south"] = 0.35
        assert check(mirror.version(metrics=metrics), self.RULE).status == PASSED

    def test_nothing_logged_fails_clearly(self, mirror):
        result = check(mirror.version(metrics={"accuracy": 0.95}), self.RULE)
        assert result.status == FAILED
        assert result.message == (
            "fairness metric demographic_parity_difference not logged, "
            "and fewer than two per-group selection_rate_<group> metrics"
        )
        without_groups = {k: v for k, v in self.RULE.items() if k != "group_metric"}
        result = check(mirror.version(metrics={}), without_groups)
        assert result.message == "fairness metric demographic_parity_difference not logged"

    def test_a_non_numeric_group_metric_fails(self, mirror):
        metrics = {"selection_rate_north": 0.4, "selection_rate_south": "n/a"}
        result = check(mirror.version(metrics=metrics), self.RULE)
        assert (result.status, result.message) == (FAILED, "per-group metric not a number: selection_rate_south")

    def test_max_must_be_a_non_negative_number(self):
        assert invalid({**self.RULE, "max": "ten percent"}) == [
            "Production[0].max: must be a number, got 'ten percent'"
        ]


class TestStagingFirst:
    def test_from_staging_passes(self, mirror):
        assert check(mirror.version(stage="Staging"), {"type": "staging_first"}).status == PASSED

    def test_from_none_fails(self, mirror):
        result = check(mirror.version(stage="None"), {"type": "staging_first"})
        assert (result.status, result.message) == (FAILED, "in stage None: Production only from Staging")

    def test_not_applicable_for_other_targets(self, mirror):
        assert check(mirror.version(), {"type": "staging_first"}, stage="Staging").status == NOT_APPLICABLE

    def test_minimum_time_in_staging(self, mirror):
        now = timezone.now()
        rule = {"type": "staging_first", "min_hours": 24}
        young = mirror.version(stage="Staging", entered_staging=now - timedelta(hours=3))
        result = check(young, rule, now=now)
        assert (result.status, result.message) == (FAILED, "in Staging for 3.0 h, needs 24 h")
        old = mirror.version(stage="Staging", entered_staging=now - timedelta(hours=30))
        assert check(old, rule, now=now).status == PASSED

    def test_without_a_record_of_entering_staging_the_minimum_fails(self, mirror):
        version = mirror.version(stage="Staging")
        StageChange.objects.filter(model_name="Churn", version=version.version).delete()
        result = check(version, {"type": "staging_first", "min_hours": 1})
        assert (result.status, result.message) == (FAILED, "no record of when this version entered Staging")

    def test_min_hours_must_be_a_number(self):
        assert invalid({"type": "staging_first", "min_hours": "a day"}) == [
            "Production[0].min_hours: must be a number, got 'a day'"
        ]


class TestRequiredApprovals:
    def test_it_reports_the_number_and_is_not_applicable_here(self, mirror):
        result = check(mirror.version(), {"type": "required_approvals", "count": 2})
        assert (result.status, result.evidence) == (NOT_APPLICABLE, {"required": 2})
        assert result.message == "needs 2 approvals from reviewers on the transition request"

    @pytest.mark.parametrize("count", [0, 1.5, "2"])
    def test_count_must_be_a_whole_number_of_at_least_one(self, count):
        (message,) = invalid({"type": "required_approvals", "count": count})
        assert message.startswith("Production[0].count: must be")

    def test_only_one_per_stage(self):
        with pytest.raises(PolicyErrors) as caught:
            validate_stages(
                {
                    "Staging": [
                        {"id": "a", "type": "required_approvals", "count": 1},
                        {"id": "b", "type": "required_approvals", "count": 2},
                    ]
                }
            )
        assert caught.value.messages == ["Staging: more than one required_approvals rule"]


def test_unknown_rule_types_and_stages_are_refused():
    with pytest.raises(PolicyErrors) as caught:
        validate_stages({"Prod": [], "Production": [{"type": "accuracy_at_least"}, "accuracy >= 0.9"]})
    assert caught.value.messages == [
        "Prod: unknown stage 'Prod'; stages are Staging, Production, Archived",
        "Production[0].type: unknown rule type 'accuracy_at_least'; types are metric_threshold, no_regression, "
        "required_tags, dataset_digest, model_card_complete, fairness_bound, staging_first, required_approvals, "
        "no_open_findings",
        "Production[1]: must be a mapping with a 'type', got 'accuracy >= 0.9'",
    ]


def test_duplicate_rule_ids_are_refused():
    with pytest.raises(PolicyErrors) as caught:
        validate_stages({"Production": [{**ACCURACY, "id": "x"}, {"type": "dataset_digest", "id": "x"}]})
    assert caught.value.messages == ["Production[1].id: duplicate rule id 'x' in Production"]
