import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from approvals.checks import evaluate
from approvals.models import Policy
from approvals.rules import PolicyErrors, validate_stages
from audit.models import AuditEvent
from findings import services
from findings.models import Finding
from tests.factories import make_model, make_version

RULES = {"Production": [{"type": "no_open_findings"}]}


@pytest.fixture
def version(db, owner):
    return make_version(make_model("Churn", owner=owner), 1)


@pytest.fixture
def policy(db):
    policy = Policy.objects.get(model_name="")
    policy.rules = RULES
    policy.save()
    return policy


def open_high(actor, version, owner, severity="high"):
    return services.finding_open(actor=actor, version=version, title="leaky feature", severity=severity, owner=owner)


def rule_status(version):
    verdict = next(v for v in evaluate(version, "Production").verdicts if v.rule.type == "no_open_findings")
    return verdict.status, verdict.result.evidence


def test_lifecycle_is_audited_and_the_rule_blocks_until_closed(version, owner, lead, reviewer_a, policy):
    finding = open_high(lead, version, owner)
    assert rule_status(version) == ("failed", {"min_severity": "high", "findings": [finding.pk]})
    services.finding_remediate(actor=owner, finding_id=finding.pk, notes="dropped the feature")
    assert rule_status(version)[0] == "failed"
    with pytest.raises(PermissionDenied, match="you own finding"):
        services.finding_close(actor=owner, finding_id=finding.pk)
    services.finding_close(actor=reviewer_a, finding_id=finding.pk)
    assert rule_status(version)[0] == "passed"
    actions = list(AuditEvent.objects.filter(action__startswith="finding.").values_list("action", flat=True))
    assert actions == ["finding.opened", "finding.remediated", "finding.closed"]


def test_below_min_severity_does_not_block(version, owner, lead, policy):
    open_high(lead, version, owner, severity="medium")
    assert rule_status(version)[0] == "passed"


def test_min_severity_must_be_a_severity():
    with pytest.raises(PolicyErrors):
        validate_stages({"Production": [{"type": "no_open_findings", "min_severity": "huge"}]})


def test_only_reviewers_leads_admins_open(version, owner, outsider):
    with pytest.raises(PermissionDenied):
        open_high(outsider, version, owner)
    with pytest.raises(PermissionDenied):
        open_high(owner, version, owner)


def test_bad_severity_refused(version, owner, lead):
    with pytest.raises(ValidationError):
        open_high(lead, version, owner, severity="huge")


def test_reopen_and_accept(version, owner, lead, reviewer_a):
    finding = open_high(lead, version, owner)
    services.finding_remediate(actor=owner, finding_id=finding.pk, notes="fixed")
    services.finding_reopen(actor=reviewer_a, finding_id=finding.pk)
    assert Finding.objects.get(pk=finding.pk).status == "open"
    services.finding_accept(actor=reviewer_a, finding_id=finding.pk)
    assert Finding.objects.get(pk=finding.pk).status == "accepted"
    with pytest.raises(Exception, match="already accepted"):
        services.finding_close(actor=reviewer_a, finding_id=finding.pk)


def test_carry_over_by_owner(version, owner, lead, outsider):
    finding = open_high(lead, version, owner)
    newer = make_version(version.model, 2)
    with pytest.raises(PermissionDenied):
        services.findings_carry_over(actor=outsider, from_version=version, to_version=newer, finding_ids=[finding.pk])
    [carried] = services.findings_carry_over(
        actor=owner, from_version=version, to_version=newer, finding_ids=[finding.pk]
    )
    assert carried.carried_from_id == finding.pk and carried.version == newer and carried.status == "open"


def test_api_create_list_close(api, version, owner, policy):
    made = api(
        "lead",
        "post",
        "/models/Churn/versions/1/findings",
        {"title": "t", "severity": "critical", "owner": owner.username},
    )
    assert made.status_code == 201, made.content
    fid = made.json()["id"]
    assert api(
        "lead", "post", "/models/Churn/versions/1/findings", {"title": "t", "severity": "x", "owner": "owner"}
    ).status_code in (400, 422)
    assert (
        api(
            "outsider",
            "post",
            "/models/Churn/versions/1/findings",
            {"title": "t", "severity": "low", "owner": owner.username},
        ).status_code
        == 403
    )
    assert [f["id"] for f in api("outsider", "get", "/findings", severity="high").json()] == [fid]
    assert api("outsider", "get", "/findings", severity="bogus").status_code in (400, 422)
    assert api("owner", "post", f"/findings/{fid}/close").status_code == 403
    assert api("reviewer_a", "post", f"/findings/{fid}/close").json()["status"] == "closed"
    version_answer = api("outsider", "get", "/models/Churn/versions/1").json()
    assert version_answer["extras"]["findings"][0]["id"] == fid


def test_a_finding_change_rechecks_the_open_request(version, owner, lead, policy, django_capture_on_commit_callbacks):
    from approvals.models import CheckRun, TransitionRequest

    request = TransitionRequest.objects.create(
        version=version,
        model_name="Churn",
        version_number=1,
        from_stage="None",
        to_stage="Production",
        justification="j",
        requested_by=owner,
        required_approvals=2,
    )
    with django_capture_on_commit_callbacks(execute=True):
        open_high(lead, version, owner)
    run = CheckRun.objects.get(request_id=request.pk)
    assert run.stage == "Production"
