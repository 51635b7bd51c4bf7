"""Evaluate a stage's policy against what the mirror knows about one version (never MLflow).

``VersionFacts`` loads each fact once and only when a rule asks for it, so a policy of ten
rules costs a handful of queries: the policy, the run's datasets, the card, the Production
version, the Staging entry time.

Whatever the policy says, a version MLflow has not finished registering (status other than READY)
cannot pass: ``evaluate`` then puts a failed ``version-ready`` result first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.utils import timezone

from cards.completeness import version_card_completeness
from cards.models import CardRevision
from findings import selectors as findings_selectors
from registry.models import ModelVersion, StageChange

from . import rules_findings  # noqa: F401  (registers no_open_findings)
from .digest import digest_of, run_datasets, version_content
from .models import CheckResult, Waiver
from .policies import stage_policy
from .rules import FAILED, PASSED, Rule, RuleResult, json_safe

WAIVED = "waived"


class VersionFacts:
    def __init__(self, version: ModelVersion, target_stage: str, *, now=None):
        self.version = version
        self.target_stage = target_stage
        self.now = now or timezone.now()
        self.model_name = version.model.name
        self.run = version.mirrored_run
        self.run_id = version.run_id
        # The run's, overlaid by the LoggedModel's: a version registered from a LoggedModel logged
        # outside any run has metrics and params only there.
        self.metrics = version.metrics
        self.params = version.params
        self.run_tags = self.run.tags if self.run else {}

    def tag(self, name: str, scope: str = "any") -> str | None:
        """A tag's value from the run or the version (the version's wins when both have it)."""
        if scope in ("any", "version") and self.version.tags.get(name):
            return self.version.tags[name]
        if scope in ("any", "run"):
            return self.run_tags.get(name)
        return None

    def value(self, source: str, name: str):
        if source == "metric":
            return self.metrics.get(name)
        if source == "param":
            return self.params.get(name)
        return self.tag(name)

    @cached_property
    def datasets(self) -> list[dict]:
        return run_datasets(self.run)

    @cached_property
    def card_revision(self):
        return CardRevision.objects.latest_for(self.version)

    @cached_property
    def card_completeness(self):
        return version_card_completeness(self.version)

    @cached_property
    def content_digest(self) -> str:
        return digest_of(version_content(self.version, datasets=self.datasets, card_revision=self.card_revision))

    @cached_property
    def _unresolved_findings(self) -> list:
        return findings_selectors.open_findings(self.version)

    def open_findings(self, min_severity: str = "low") -> list:
        """Unresolved findings of the version at ``min_severity`` or above (one query, shared by every rule)."""
        from findings.models import severity_rank

        return [f for f in self._unresolved_findings if f.severity_rank >= severity_rank(min_severity)]

    @cached_property
    def production_version(self) -> ModelVersion | None:
        return ModelVersion.objects.production_of(self.version.model_id)

    @cached_property
    def staging_entered_at(self):
        change = (
            StageChange.objects.of_version(self.version)
            .filter(kind=StageChange.KIND_STAGE, to_value="Staging")
            .order_by("-seen_at", "-id")
            .first()
        )
        return (change.mlflow_timestamp or change.seen_at) if change else None


class VersionReady(Rule):
    """Not a policy rule: checked for every version, shown only when it fails."""

    type = "version_ready"

    def describe(self):
        return "version READY in MLflow"

    def evaluate(self, facts):
        version = facts.version
        evidence = {"status": version.status, "status_message": version.status_message}
        if version.is_ready:
            return RuleResult(PASSED, "version status is READY", evidence)
        return RuleResult(FAILED, f"version status is {version.status}, not READY", evidence)


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    result: RuleResult

    @property
    def status(self) -> str:
        return self.result.status


@dataclass(frozen=True)
class Evaluation:
    stage: str
    policy_label: str
    content_digest: str
    verdicts: list[Verdict]

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == FAILED]

    @property
    def passed(self) -> bool:
        return not self.failed

    def results(self, check_run=None) -> list[CheckResult]:
        """One ``CheckResult`` per rule, unsaved: stored by a check run, or only shown by a dry run."""
        return [
            CheckResult(
                check_run=check_run,
                position=position,
                rule_id=verdict.rule.id,
                rule_type=verdict.rule.type,
                description=verdict.rule.describe()[:300],
                status=verdict.status,
                message=verdict.result.message,
                evidence=json_safe(verdict.result.evidence),
            )
            for position, verdict in enumerate(self.verdicts)
        ]


def evaluate(version: ModelVersion, stage: str, *, now=None) -> Evaluation:
    """Every rule of the stage's policy for ``version``, in policy order; after a failed ``version-ready``
    check when MLflow has not finished registering the version."""
    policy = stage_policy(version.model.name, stage)
    facts = VersionFacts(version, stage, now=now)
    verdicts = [Verdict(rule, rule.evaluate(facts)) for rule in policy.rules]
    verdicts = apply_waivers(version, stage, verdicts, now=facts.now)
    readiness = VersionReady("version-ready")
    ready = readiness.evaluate(facts)
    if ready.status == FAILED:
        # Only a failure gets a row: on READY versions the results stay exactly the policy's rules.
        verdicts.insert(0, Verdict(readiness, ready))
    return Evaluation(stage, policy.label, facts.content_digest, verdicts)


def apply_waivers(version: ModelVersion, stage: str, verdicts: list[Verdict], *, now) -> list[Verdict]:
    """A failed rule with an active, unexpired waiver for this version and stage reports ``waived`` (the waiver
    in its evidence) and does not fail the run; one query."""
    if not any(v.status == FAILED for v in verdicts):
        return verdicts
    waivers = {
        w.rule_id: w
        for w in Waiver.objects.filter(version=version, stage=stage, status=Waiver.ACTIVE, expires_at__gt=now)
    }
    out = []
    for verdict in verdicts:
        waiver = waivers.get(verdict.rule.id)
        if verdict.status == FAILED and waiver is not None:
            evidence = {
                **(verdict.result.evidence or {}),
                "waiver": {
                    "id": waiver.pk,
                    "url": waiver.get_absolute_url(),
                    "expires_at": waiver.expires_at.isoformat(),
                },
            }
            result = RuleResult(
                WAIVED, f"waived until {waiver.expires_at:%Y-%m-%d %H:%M} UTC: {verdict.result.message}", evidence
            )
            verdict = Verdict(verdict.rule, result)
        out.append(verdict)
    return out
