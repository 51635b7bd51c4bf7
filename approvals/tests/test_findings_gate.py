"""A Production request blocked by a finding and released when it is closed, through the pages as people use
them: the rule ``no_open_findings`` fails the checks, the finding's owner remediates, a reviewer closes it, the
checks run again by themselves, and the approved request is applied to a real MLflow store (eager tasks)."""

import pytest
from django.urls import reverse
from mlflow import MlflowClient

from approvals import services
from approvals.models import CheckRun, TransitionRequest
from approvals.tests.test_requests import simple_policy, world  # noqa: F401 - fixtures: Churn v1, v2 in MLflow
from audit.models import AuditEvent
from findings.models import Finding
from tests.factories import version_of

pytestmark = pytest.mark.django_db

RULES = {
    "Production": [
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "findings", "type": "no_open_findings", "min_severity": "high"},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ],
}


@pytest.fixture
def findings_policy(simple_policy):  # noqa: F811 - the imported fixture
    simple_policy.rules = RULES
    services.policy_save(actor="system:worker", policy=simple_policy)
    return simple_policy


def latest_checks(request) -> CheckRun:
    return CheckRun.objects.filter(version=request.version, stage="Production").order_by("-id").first()


def test_a_finding_blocks_a_production_request_until_it_is_closed(
    client,
    world,  # noqa: F811 - the imported fixture
    findings_policy,
    owner,
    lead,
    reviewer_a,
    reviewer_b,
    django_capture_on_commit_callbacks,
):
    def post(user, url, data=None):
        client.force_login(user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, data or {})
        assert response.status_code == 302, response.content.decode()[:2000]
        return response

    post(
        owner,
        reverse("approvals:request_create", args=["Churn", 2]),
        {"to_stage": "Production", "justification": "better"},
    )
    request = TransitionRequest.objects.get()
    assert latest_checks(request).status == CheckRun.PASSED

    # An ML lead opens a high finding: the checks run again at once and fail on it.
    post(
        lead,
        reverse("findings:finding_open", args=["Churn", 2]),
        {"title": "label leak", "severity": "high", "category": "validation_issue", "owner": owner.username},
    )
    finding = Finding.objects.get()
    checks = latest_checks(request)
    assert checks.status == CheckRun.FAILED
    assert checks.results.get(rule_id="findings").evidence == {"min_severity": "high", "findings": [finding.pk]}
    client.force_login(reviewer_a)
    page = client.get(request.get_absolute_url()).content.decode()
    assert "1 finding blocks this request" in page and "Approve is disabled: checks failing" in page

    # Two reviewers approve while it is blocked: quorum, but the failing checks keep it pending.
    post(reviewer_a, reverse("approvals:review_submit", args=[request.pk]), {"decision": "approve"})
    post(reviewer_b, reverse("approvals:review_submit", args=[request.pk]), {"decision": "approve"})
    assert TransitionRequest.objects.get(pk=request.pk).status == "pending"

    # Remediated is not resolved: still blocked. The owner may not close it; a reviewer does.
    post(owner, reverse("findings:finding_remediate", args=[finding.pk]), {"notes": "feature dropped, retrained"})
    assert latest_checks(request).status == CheckRun.FAILED
    client.force_login(owner)
    assert client.post(reverse("findings:finding_close", args=[finding.pk])).status_code == 403
    post(reviewer_a, reverse("findings:finding_close", args=[finding.pk]))

    # The re-run passes; the fresh approvals now make the quorum and the request is applied to MLflow.
    assert latest_checks(request).status == CheckRun.PASSED
    request.refresh_from_db()
    assert request.status == "applied", request.last_error
    mlflow = MlflowClient(world.uri, registry_uri=world.uri)
    assert mlflow.get_model_version("Churn", "2").current_stage == "Production"
    assert version_of("Churn", 2).stage == "Production"
    assert list(
        AuditEvent.objects.filter(action__startswith="finding.").order_by("seq").values_list("action", flat=True)
    ) == ["finding.opened", "finding.remediated", "finding.closed"]
