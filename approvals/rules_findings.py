"""Rule type ``no_open_findings``: fails while the version has unresolved findings (open, or remediated but not
closed) of ``min_severity`` or above. Registers into ``rules.RULE_TYPES`` when imported (by ``checks``)."""

from __future__ import annotations

from findings.models import SEVERITIES

from .rules import FAILED, PASSED, RULE_TYPES, Param, Rule, RuleResult


class NoOpenFindings(Rule):
    type = "no_open_findings"
    params = {"min_severity": Param("choice", required=False, default="high", choices=SEVERITIES)}

    def describe(self):
        return f"no open findings of severity {self.min_severity} or above"

    def evaluate(self, facts):
        blocking = facts.open_findings(self.min_severity)
        evidence = {"min_severity": self.min_severity, "findings": [f.pk for f in blocking]}
        if not blocking:
            return RuleResult(PASSED, f"no open findings of severity {self.min_severity} or above", evidence)
        listed = ", ".join(f"#{f.pk} ({f.severity}, {f.status})" for f in blocking)
        return RuleResult(FAILED, f"{len(blocking)} unresolved finding(s): {listed}", evidence)


RULE_TYPES[NoOpenFindings.type] = NoOpenFindings
