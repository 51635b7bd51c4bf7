"""Check runs: queued by a service, claimed and evaluated by the task, stale when the content changes."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from approvals import services, tasks
from approvals.digest import version_content_digest
from approvals.models import CheckResult, CheckRun
from audit.models import AuditEvent
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


def run_now(django_capture_on_commit_callbacks, **kwargs) -> CheckRun:
    with django_capture_on_commit_callbacks(execute=True):
        check_run = services.check_run_create(**kwargs)
    check_run.refresh_from_db()
    return check_run


def test_a_check_run_evaluates_every_rule_and_is_audited(ready, owner, django_capture_on_commit_callbacks):
    check_run = run_now(django_capture_on_commit_callbacks, version=ready, stage="Production", actor=owner)

    assert check_run.status == CheckRun.PASSED
    assert check_run.requested_by == "olga-owner"
    assert check_run.policy_label == "default policy"
    assert (check_run.model_name, check_run.version_number) == ("Churn", ready.version)
    assert check_run.started_at <= check_run.finished_at
    results = list(check_run.results.values_list("rule_id", "status"))
    assert results == [
        ("dataset-digest", "passed"),
        ("code-commit", "passed"),
        ("dataset-version", "passed"),
        ("accuracy", "passed"),
        ("model-card", "passed"),
        ("staging-first", "passed"),
        ("no-regression", "passed"),
        ("approvals", "not_applicable"),
    ]
    event = AuditEvent.objects.get(action="checks.completed")
    assert (event.actor, event.target_id, event.version) == ("system:worker", str(check_run.pk), ready.version)
    assert event.data["status"] == "passed"
    assert event.data["content_digest"] == version_content_digest(ready) == check_run.content_digest


def test_a_failing_rule_fails_the_run_and_names_it(mirror, owner, django_capture_on_commit_callbacks):
    version = mirror.version(stage="None", metrics={"f1": 0.7})
    check_run = run_now(django_capture_on_commit_callbacks, version=version, stage="Production", actor=owner)
    assert check_run.status == CheckRun.FAILED
    failed = dict(check_run.results.filter(status="failed").values_list("rule_id", "message"))
    assert failed["accuracy"] == "metric accuracy not logged"
    assert failed["staging-first"] == "in stage None: Production only from Staging"
    assert set(failed) == {"accuracy", "model-card", "staging-first"}
    assert AuditEvent.objects.get(action="checks.completed").data["failed"] == [
        "accuracy",
        "model-card",
        "staging-first",
    ]


def test_the_task_runs_once_whoever_delivers_it_twice(ready, owner, django_capture_on_commit_callbacks):
    check_run = run_now(django_capture_on_commit_callbacks, version=ready, stage="Staging", actor=owner)
    tasks.run_checks(check_run.pk)
    tasks.run_checks(check_run.pk + 1000)
    assert CheckResult.objects.filter(check_run=check_run).count() == 3
    assert AuditEvent.objects.filter(action="checks.completed").count() == 1


def test_a_double_click_queues_one_run(ready, owner):
    first = services.check_run_create(version=ready, stage="Production", actor=owner)
    second = services.check_run_create(version=ready, stage="Production", actor=owner)
    assert first.pk == second.pk
    assert CheckRun.objects.count() == 1


def test_a_version_deleted_before_the_worker_ran_is_an_error(ready, owner):
    check_run = services.check_run_create(version=ready, stage="Production", actor=owner)
    ModelVersion.objects.filter(pk=ready.pk).delete()
    tasks.run_checks(check_run.pk)
    check_run.refresh_from_db()
    assert check_run.status == CheckRun.ERROR
    assert check_run.error == f"Churn v{ready.version} is no longer in the registry"
    assert check_run.is_stale


def test_only_owners_reviewers_leads_and_admins_may_run_checks(ready, owner, reviewer, outsider):
    assert services.check_run_create(version=ready, stage="Staging", actor=reviewer)
    with pytest.raises(PermissionDenied):
        services.check_run_create(version=ready, stage="Production", actor=outsider)
    with pytest.raises(ValueError, match="unknown stage 'Prod'"):
        services.check_run_create(version=ready, stage="Prod", actor=owner)
    assert CheckRun.objects.count() == 1


def test_a_lost_run_is_queued_again_by_the_sweeper(ready, owner, django_capture_on_commit_callbacks):
    check_run = services.check_run_create(version=ready, stage="Staging", actor=owner)
    assert services.check_runs_sweep() == 0
    CheckRun.objects.filter(pk=check_run.pk).update(created_at=check_run.created_at - services.REQUEUE_AFTER * 2)
    assert services.check_runs_sweep() == 1
    check_run.refresh_from_db()
    assert check_run.status == CheckRun.PASSED


class TestGovernanceCommand:
    def test_it_prints_each_rule_and_exits_0_when_nothing_fails(self, ready, capsys):
        call_command("check_governance", "Churn", str(ready.version), "--stage", "Production")
        out = capsys.readouterr().out
        assert f"Churn v{ready.version} → Production (default policy)" in out
        assert "  PASS  accuracy         accuracy = 0.93 (>= 0.9)" in out
        assert "  N/A   approvals        needs 2 approvals" in out
        assert "PASSED" in out
        assert not CheckRun.objects.exists()

    def test_it_exits_1_when_a_rule_fails(self, mirror, capsys):
        version = mirror.version(metrics={"accuracy": 0.5})
        with pytest.raises(SystemExit) as exit_:
            call_command("check_governance", "Churn", str(version.version), "--stage", "Production")
        assert exit_.value.code == 1
        out = capsys.readouterr().out
        assert "FAIL  accuracy" in out
        assert "accuracy = 0.5, needs >= 0.9" in out

    def test_json_output(self, ready, capsys):
        import json

        call_command("check_governance", "Churn", str(ready.version), "--stage", "Staging", "--json")
        report = json.loads(capsys.readouterr().out)
        assert report["passed"] is True
        assert [r["id"] for r in report["rules"]] == ["dataset-digest", "code-commit", "approvals"]

    def test_an_unknown_version_exits_2(self, mirror):
        mirror.model("Churn")
        with pytest.raises(CommandError) as caught:
            call_command("check_governance", "Churn", "7")
        assert caught.value.returncode == 2
        assert "no version 7 of model 'Churn'" in str(caught.value)
