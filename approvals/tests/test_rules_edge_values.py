"""Rules on what real registries hold: NaN and ±inf metrics (and MLflow's ±1.8e308 stand-ins for inf),
versions MLflow has not finished registering, and metrics that live only on a LoggedModel."""

import json
import math
import sys

import pytest

from approvals.checks import VersionFacts, evaluate
from approvals.digest import version_content_digest
from approvals.models import CheckResult, CheckRun
from approvals.rules import FAILED, NOT_APPLICABLE, PASSED, build_rules, validate_stages
from registry.models import LoggedModel, ModelVersion
from tests.factories import make_logged_model

from .test_check_runs import run_now

pytestmark = pytest.mark.django_db

MAX = sys.float_info.max
ACCURACY = {"type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9}


def check(version, rule: dict, stage="Production"):
    (built,) = build_rules(validate_stages({stage: [rule]})[stage])
    return built.evaluate(VersionFacts(version, stage))


def with_logged_model(version, *, metrics, params=None) -> ModelVersion:
    """``version`` registered from a LoggedModel carrying ``metrics``, as sync mirrors it."""
    logged = make_logged_model(metrics=metrics, params=params)
    ModelVersion.objects.filter(pk=version.pk).update(logged_model=logged)
    return ModelVersion.objects.select_related("model", "run").get(pk=version.pk)


def with_status(version, status: str) -> ModelVersion:
    ModelVersion.objects.filter(pk=version.pk).update(status=status, status_message="artifact upload failed")
    return ModelVersion.objects.select_related("model", "run").get(pk=version.pk)


# --- non-finite metrics -----------------------------------------------------------------------------


def test_nan_metric_fails_threshold_rule_with_not_a_number(mirror):
    result = check(mirror.version(metrics={"accuracy": math.nan}), ACCURACY)
    assert (result.status, result.message) == (FAILED, "metric accuracy is NaN, not a number")
    assert result.evidence["value"] == "NaN"


@pytest.mark.parametrize(("value", "shown"), [(math.inf, "∞"), (MAX, "∞"), (-math.inf, "−∞"), (-MAX, "−∞")])
def test_infinite_metric_fails_threshold_rule_as_not_finite(mirror, value, shown):
    rule = {**ACCURACY, "op": "<=", "value": 1e9}  # ∞ would pass ">=" were it compared
    result = check(mirror.version(metrics={"accuracy": value}), rule)
    assert (result.status, result.message) == (FAILED, f"metric accuracy is {shown} (not a finite number)")


def test_a_param_spelling_nan_fails_as_not_a_number(mirror):
    rule = {"type": "metric_threshold", "metric": "rows", "op": ">=", "value": 10, "source": "param"}
    result = check(mirror.version(params={"rows": "nan"}), rule)
    assert (result.status, result.message) == (FAILED, "param rows is NaN, not a number")


def test_nan_fairness_metric_fails_as_not_a_number(mirror):
    rule = {"type": "fairness_bound", "metric": "demographic_parity_difference", "max": 0.1}
    result = check(mirror.version(metrics={"demographic_parity_difference": math.nan}), rule)
    assert (result.status, result.message) == (FAILED, "metric demographic_parity_difference is NaN, not a number")


def test_nan_per_group_metric_is_named_as_nan(mirror):
    rule = {"type": "fairness_bound", "metric": "gap", "max": 0.1, "group_metric": "rate"}
    result = check(mirror.version(metrics={"rate_north": 0.4, "rate_south": math.nan}), rule)
    assert (result.status, result.message) == (FAILED, "per-group metric not a number: rate_south (NaN)")
    assert result.evidence["groups"] == {"north": 0.4, "south": "NaN"}


def test_nan_candidate_fails_no_regression_with_not_a_number(mirror):
    mirror.version(stage="Production", metrics={"accuracy": 0.9})
    result = check(mirror.version(metrics={"accuracy": math.nan}), {"type": "no_regression", "metric": "accuracy"})
    assert (result.status, result.message) == (FAILED, "metric accuracy is NaN, not a number")


def test_nan_in_production_leaves_nothing_to_compare(mirror):
    mirror.version(stage="Production", metrics={"accuracy": math.nan})
    result = check(mirror.version(metrics={"accuracy": 0.9}), {"type": "no_regression", "metric": "accuracy"})
    assert (result.status, result.message) == (NOT_APPLICABLE, "Production v1 has accuracy is NaN, nothing to compare")
    assert result.evidence["production_value"] == "NaN"


def test_a_difference_beyond_float_range_still_decides_no_regression(mirror):
    mirror.version(stage="Production", metrics={"accuracy": -1e308})
    result = check(mirror.version(metrics={"accuracy": 1e308}), {"type": "no_regression", "metric": "accuracy"})
    assert result.status == PASSED
    assert "change +∞" in result.message
    assert result.evidence["delta"] == "∞"


def test_stored_evidence_never_holds_nan_or_infinity(mirror, owner, django_capture_on_commit_callbacks):
    mirror.version(stage="Production", metrics={"accuracy": math.nan})
    version = mirror.version(stage="Staging", metrics={"accuracy": math.inf})
    check_run = run_now(django_capture_on_commit_callbacks, version=version, stage="Production", actor=owner)
    assert check_run.status == CheckRun.FAILED
    stored = list(CheckResult.objects.filter(check_run=check_run).values_list("rule_id", "evidence"))
    assert dict(stored)["accuracy"]["value"] == "∞"
    for _, evidence in stored:
        json.dumps(evidence, allow_nan=False)  # raises on any NaN or infinity


def test_the_digest_of_nan_metrics_is_stable_across_a_round_trip(mirror):
    version = mirror.version(metrics={"accuracy": math.nan, "loss": math.inf, "f1": -math.inf})
    reloaded = ModelVersion.objects.select_related("model", "run").get(pk=version.pk)
    assert version_content_digest(version) == version_content_digest(reloaded) == version_content_digest(reloaded)
    assert version_content_digest(mirror.version(metrics={"accuracy": 0.5, "loss": math.inf, "f1": -math.inf})) != (
        version_content_digest(version)
    )


# --- version status ---------------------------------------------------------------------------------


def test_not_ready_version_fails_checks(ready, owner, django_capture_on_commit_callbacks):
    version = with_status(ready, "FAILED_REGISTRATION")
    check_run = run_now(django_capture_on_commit_callbacks, version=version, stage="Production", actor=owner)
    assert check_run.status == CheckRun.FAILED
    first = check_run.results.order_by("position").first()
    assert (first.rule_id, first.rule_type, first.status, first.message) == (
        "version-ready",
        "version_ready",
        "failed",
        "version status is FAILED_REGISTRATION, not READY",
    )
    assert first.evidence == {"status": "FAILED_REGISTRATION", "status_message": "artifact upload failed"}
    assert set(check_run.results.filter(status="failed").values_list("rule_id", flat=True)) == {"version-ready"}


def test_a_version_still_registering_fails_a_stage_whose_policy_cannot_fail(mirror):
    version = with_status(mirror.version(), "PENDING_REGISTRATION")
    evaluation = evaluate(version, "Archived")  # the default Archived policy: only approvals, not applicable
    assert not evaluation.passed
    assert [(v.rule.id, v.result.message) for v in evaluation.failed] == [
        ("version-ready", "version status is PENDING_REGISTRATION, not READY")
    ]
    assert evaluation.verdicts[0].rule.id == "version-ready"


def test_a_ready_version_gets_no_readiness_row(ready):
    evaluation = evaluate(with_status(ready, "READY"), "Production")
    assert evaluation.passed
    assert "version-ready" not in [v.rule.id for v in evaluation.verdicts]


# --- LoggedModel metrics ----------------------------------------------------------------------------


def test_logged_model_only_metric_satisfies_a_threshold_rule(mirror):
    version = with_logged_model(mirror.version(with_run=False), metrics={"accuracy": 0.95})
    result = check(version, ACCURACY)
    assert (result.status, result.message) == (PASSED, "accuracy = 0.95 (>= 0.9)")


def test_logged_model_metric_overrides_the_runs(mirror):
    version = with_logged_model(mirror.version(metrics={"accuracy": 0.95}), metrics={"accuracy": 0.5})
    assert check(version, ACCURACY).status == FAILED


def test_logged_model_param_is_a_rule_source(mirror):
    rule = {"type": "metric_threshold", "metric": "rows", "op": ">=", "value": 1000, "source": "param"}
    version = with_logged_model(mirror.version(with_run=False), metrics={}, params={"rows": "5000"})
    assert check(version, rule).status == PASSED


def test_no_regression_compares_against_productions_logged_model_metric(mirror):
    with_logged_model(mirror.version(stage="Production", with_run=False), metrics={"accuracy": 0.95})
    result = check(mirror.version(metrics={"accuracy": 0.9}), {"type": "no_regression", "metric": "accuracy"})
    assert result.status == FAILED
    assert result.evidence["production_value"] == 0.95


def test_a_logged_model_metric_change_changes_the_digest(mirror):
    version = with_logged_model(mirror.version(), metrics={"accuracy": 0.95})
    before = version_content_digest(version)
    LoggedModel.objects.filter(model_id=version.logged_model_id).update(metrics={"accuracy": 0.5})
    assert version_content_digest(ModelVersion.objects.get(pk=version.pk)) != before


# --- metric direction -------------------------------------------------------------------------------


def test_no_regression_without_direction_uses_the_metrics_direction(mirror):
    mirror.version(stage="Production", metrics={"log_loss": 0.30})
    result = check(mirror.version(metrics={"log_loss": 0.25}), {"type": "no_regression", "metric": "log_loss"})
    assert result.status == PASSED
    assert result.evidence["direction"] == "lower"


def test_no_regression_without_direction_follows_the_setting(mirror, settings):
    settings.METRIC_DIRECTIONS = {"latency p99": "lower"}
    mirror.version(stage="Production", metrics={"latency_p99": 120.0})
    rule = {"type": "no_regression", "metric": "latency_p99"}
    assert check(mirror.version(metrics={"latency_p99": 100.0}), rule).status == PASSED
    assert check(mirror.version(metrics={"latency_p99": 130.0}), rule).status == FAILED


def test_a_rules_own_direction_wins_over_the_guess(mirror):
    mirror.version(stage="Production", metrics={"log_loss": 0.30})
    rule = {"type": "no_regression", "metric": "log_loss", "direction": "higher"}
    assert check(mirror.version(metrics={"log_loss": 0.25}), rule).status == FAILED
