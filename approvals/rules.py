"""Governance rule types and the validation of a policy's rules.

A policy's rules are plain data, ``{stage: [rule, ...]}``, where each rule is a dict with a
``type`` (one of ``RULE_TYPES``), an optional ``id`` (defaults to the type; unique within the
stage) and the parameters of its type. ``validate_stages`` turns such data into its normalised
form (defaults filled in) or raises ``PolicyErrors`` naming every bad key.

Each rule type evaluates a ``checks.VersionFacts`` (what the mirror knows about one version) and
returns a ``RuleResult``. Rules read facts only: no queries of their own beyond what the facts
load lazily, and never MLflow.

A metric that is NaN, ±inf or ±1.7976931348623157e308 (how MLflow's SQL stores keep ±inf) is not a
number to compare: rules that read it fail and say so. Evidence is stored as JSON, which has no NaN
or infinity, so such values appear in it as the strings ``"NaN"``, ``"∞"``, ``"−∞"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from registry import metrics as registry_metrics
from registry.metrics import non_finite_label

STAGES = ("Staging", "Production", "Archived")
PASSED, FAILED, NOT_APPLICABLE = "passed", "failed", "not_applicable"
OPERATORS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True)
class RuleResult:
    status: str
    message: str
    evidence: dict = field(default_factory=dict)


class PolicyErrors(ValueError):
    """A policy is invalid. Each error names the bad key by its path, e.g. ``("Production", 2, "op")``."""

    def __init__(self, errors: list[tuple[tuple, str]]):
        self.errors = errors
        super().__init__("; ".join(self.messages))

    @property
    def messages(self) -> list[str]:
        return [f"{format_path(path)}: {message}" if path else message for path, message in self.errors]


def format_path(path: tuple) -> str:
    """``("Production", 2, "op")`` → ``Production[2].op``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Param:
    kind: str  # "text", "texts", "number", "choice" or "bool"
    required: bool = True
    default: object = None
    choices: tuple = ()
    minimum: float | None = None
    integer: bool = False


def as_number(value) -> float | None:
    """A finite number from a metric, param or tag value; None when it is not one (NaN and ±inf, and
    the ±1.8e308 MLflow stores for ±inf, are not)."""
    return registry_metrics.as_number(_parsed(value))


def _parsed(value):
    """A param's or tag's text as the float it spells (``"0.9"``, ``"nan"``); anything else as it is."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _check_param(param: Param, value) -> str | None:
    """The problem with ``value``, or None when it fits ``param``."""
    if param.kind == "text":
        if not isinstance(value, str) or not value.strip():
            return f"must be a non-empty string, got {value!r}"
    elif param.kind == "texts":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            return f"must be a non-empty list of non-empty strings, got {value!r}"
    elif param.kind == "choice":
        if value not in param.choices:
            return f"must be one of {', '.join(map(str, param.choices))}, got {value!r}"
    elif param.kind == "bool":
        if not isinstance(value, bool):
            return f"must be true or false, got {value!r}"
    elif param.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a number, got {value!r}"
        if param.integer and value != int(value):
            return f"must be a whole number, got {value!r}"
        if param.minimum is not None and value < param.minimum:
            return f"must be >= {param.minimum:g}, got {value!r}"
    return None


class Rule:
    type: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, rule_id: str, **params):
        self.id = rule_id
        self.options = {key: params.get(key, param.default) for key, param in self.params.items()}

    def __getattr__(self, name):
        try:
            return self.__dict__["options"][name]
        except KeyError:
            raise AttributeError(name) from None

    def evaluate(self, facts) -> RuleResult:
        raise NotImplementedError

    def describe(self) -> str:
        return self.type.replace("_", " ")


def _number_of(facts, source: str, name: str) -> tuple[object, float | None]:
    """(raw value or None when absent, the number or None when not numeric)."""
    raw = facts.value(source, name)
    return raw, (None if raw is None else as_number(raw))


def _not_logged(source: str, name: str, facts) -> RuleResult:
    return RuleResult(FAILED, f"{source} {name} not logged", {"run_id": facts.run_id, source: name})


def _not_numeric(source: str, name: str, raw, facts) -> RuleResult:
    label = non_finite_label(_parsed(raw))
    if label == "NaN":
        message = f"{source} {name} is NaN, not a number"
    elif label:
        message = f"{source} {name} is {label} (not a finite number)"
    else:
        message = f"{source} {name} is not a number: {raw!r}"
    return RuleResult(FAILED, message, {"run_id": facts.run_id, source: name, "value": json_safe(raw)})


def json_safe(value):
    """``value`` with every NaN or infinite float replaced by its label (``"NaN"``, ``"∞"``, ``"−∞"``):
    evidence is stored as JSON, which has neither. MLflow's ±1.8e308 stand-ins are finite and kept."""
    if isinstance(value, float) and not math.isfinite(value):
        return non_finite_label(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _g(number: float) -> str:
    """``0.02``; ``∞`` for a difference beyond float range (1e308 − (−1e308) overflows to inf)."""
    return f"{number:g}" if math.isfinite(number) else non_finite_label(number)


def _signed(number: float) -> str:
    return f"{number:+g}" if math.isfinite(number) else ("+" if number > 0 else "") + non_finite_label(number)


class MetricThreshold(Rule):
    """``accuracy >= 0.90``: any logged metric (or a numeric param/tag) against a bound."""

    type = "metric_threshold"
    params = {
        "metric": Param("text"),
        "op": Param("choice", choices=tuple(OPERATORS)),
        "value": Param("number"),
        "source": Param("choice", required=False, default="metric", choices=("metric", "param", "tag")),
    }

    def describe(self):
        return f"{self.metric} {self.op} {self.value:g}"

    def evaluate(self, facts):
        raw, number = _number_of(facts, self.source, self.metric)
        if raw is None:
            return _not_logged(self.source, self.metric, facts)
        if number is None:
            return _not_numeric(self.source, self.metric, raw, facts)
        evidence = {
            "run_id": facts.run_id,
            self.source: self.metric,
            "value": number,
            "op": self.op,
            "bound": self.value,
        }
        if OPERATORS[self.op](number, self.value):
            return RuleResult(PASSED, f"{self.metric} = {number:g} ({self.op} {self.value:g})", evidence)
        return RuleResult(FAILED, f"{self.metric} = {number:g}, needs {self.op} {self.value:g}", evidence)


class NoRegression(Rule):
    """The metric may not be worse than the current Production version's by more than ``tolerance``."""

    type = "no_regression"
    params = {
        "metric": Param("text"),
        # Unset: the metric's direction by name (``registry.metrics.metric_direction``).
        "direction": Param("choice", required=False, choices=("higher", "lower")),
        "tolerance": Param("number", required=False, default=0.0, minimum=0),
    }

    def describe(self):
        return f"no {self.metric} regression vs Production"

    def evaluate(self, facts):
        production = facts.production_version
        if production is None:
            return RuleResult(NOT_APPLICABLE, f"no version of {facts.model_name} is in Production", {})
        if production.pk == facts.version.pk:
            return RuleResult(NOT_APPLICABLE, "this version is the current Production version", {})
        raw, current = _number_of(facts, "metric", self.metric)
        if raw is None:
            return _not_logged("metric", self.metric, facts)
        if current is None:
            return _not_numeric("metric", self.metric, raw, facts)
        direction = self.direction or registry_metrics.metric_direction(self.metric)
        baseline_raw = production.metrics.get(self.metric)
        baseline = as_number(baseline_raw)
        evidence = {
            "metric": self.metric,
            "value": current,
            "production_version": production.version,
            "production_value": json_safe(baseline_raw) if baseline is None else baseline,
            "direction": direction,
            "tolerance": self.tolerance,
        }
        if baseline is None:
            label = non_finite_label(baseline_raw)
            what = f"{self.metric} is {label}, nothing" if label else f"no numeric {self.metric}"
            return RuleResult(NOT_APPLICABLE, f"Production v{production.version} has {what} to compare", evidence)
        delta = current - baseline if direction == registry_metrics.HIGHER else baseline - current
        evidence["delta"] = json_safe(delta)
        comparison = f"{self.metric} {current:g} vs {baseline:g} in Production v{production.version}"
        if delta >= -self.tolerance:
            return RuleResult(PASSED, f"{comparison} (change {_signed(delta)}, tolerance {self.tolerance:g})", evidence)
        return RuleResult(FAILED, f"{comparison}: worse by {_g(-delta)} (tolerance {self.tolerance:g})", evidence)


class RequiredTags(Rule):
    """Each tag present and non-empty on the run or the version (``scope``)."""

    type = "required_tags"
    params = {
        "tags": Param("texts"),
        "scope": Param("choice", required=False, default="any", choices=("any", "run", "version")),
    }

    def describe(self):
        return "tags " + ", ".join(self.tags)

    def evaluate(self, facts):
        found = {tag: facts.tag(tag, self.scope) for tag in self.tags}
        missing = [tag for tag, value in found.items() if not (value or "").strip()]
        where = {"any": "run or version", "run": "run", "version": "version"}[self.scope]
        evidence = {"scope": self.scope, "tags": found}
        if missing:
            return RuleResult(FAILED, f"missing or empty {where} tag: {', '.join(missing)}", evidence)
        return RuleResult(PASSED, f"{where} tags set: " + ", ".join(f"{k}={v}" for k, v in found.items()), evidence)


class DatasetDigest(Rule):
    """At least one dataset logged on the run with a digest (``mlflow.log_input``)."""

    type = "dataset_digest"
    params = {"context": Param("text", required=False)}

    def describe(self):
        return f"{self.context or 'a'} dataset with digest"

    def evaluate(self, facts):
        if facts.run is None:
            return RuleResult(FAILED, "the version has no mirrored run, so no logged dataset", {"run_id": facts.run_id})
        datasets = [d for d in facts.datasets if not self.context or d["context"] == self.context]
        with_digest = [d for d in datasets if d["digest"].strip()]
        evidence = {"run_id": facts.run_id, "datasets": datasets}
        what = f"{self.context} dataset" if self.context else "dataset"
        if with_digest:
            names = ", ".join(f"{d['name']}@{d['digest']}" for d in with_digest)
            return RuleResult(PASSED, f"{what} logged: {names}", evidence)
        if datasets:
            return RuleResult(FAILED, f"{what} logged without a digest", evidence)
        return RuleResult(FAILED, f"no {what} logged on run {facts.run_id}", evidence)


class ModelCardComplete(Rule):
    """The version's model card has every required section filled, no template placeholders left."""

    type = "model_card_complete"

    def describe(self):
        return "model card complete"

    def evaluate(self, facts):
        card = facts.card_completeness
        evidence = {"percent": card.percent, "missing": list(card.missing), "placeholders": list(card.placeholders)}
        if card.complete:
            return RuleResult(PASSED, "model card complete", evidence)
        problems = []
        if card.missing:
            problems.append("missing " + ", ".join(card.missing))
        if card.placeholders:
            problems.append("placeholders left in " + ", ".join(card.placeholders))
        detail = "; ".join(problems) or "not complete"
        return RuleResult(FAILED, f"model card {card.percent}% complete: {detail}", evidence)


class FairnessBound(Rule):
    """A logged disparity metric within ``max``; else max − min over per-group metrics ``<group_metric>_<group>``."""

    type = "fairness_bound"
    params = {
        "metric": Param("text"),
        "max": Param("number", minimum=0),
        "group_metric": Param("text", required=False),
    }

    def describe(self):
        return f"{self.metric} <= {self.max:g}"

    def evaluate(self, facts):
        raw, number = _number_of(facts, "metric", self.metric)
        if raw is not None:
            if number is None:
                return _not_numeric("metric", self.metric, raw, facts)
            evidence = {"metric": self.metric, "value": number, "max": self.max, "computed": False}
            return self._verdict(abs(number), f"{self.metric} = {number:g}", evidence)
        if not self.group_metric:
            return RuleResult(FAILED, f"fairness metric {self.metric} not logged", {"run_id": facts.run_id})
        prefix = self.group_metric + "_"
        groups = {key[len(prefix) :]: value for key, value in facts.metrics.items() if key.startswith(prefix)}
        if len(groups) < 2:
            return RuleResult(
                FAILED,
                f"fairness metric {self.metric} not logged, and fewer than two per-group {prefix}<group> metrics",
                {"run_id": facts.run_id, "groups": groups},
            )
        bad = {group: value for group, value in groups.items() if as_number(value) is None}
        if bad:
            labels = {group: non_finite_label(value) for group, value in bad.items()}
            names = ", ".join(
                prefix + group + (f" ({labels[group]})" if labels[group] else "") for group in sorted(bad)
            )
            return RuleResult(FAILED, f"per-group metric not a number: {names}", {"groups": json_safe(groups)})
        numbers = {group: as_number(value) for group, value in groups.items()}
        high, low = max(numbers, key=numbers.get), min(numbers, key=numbers.get)
        difference = numbers[high] - numbers[low]  # inf when beyond float range: fails any bound
        evidence = {
            "metric": self.metric,
            "value": json_safe(difference),
            "max": self.max,
            "computed": True,
            "groups": numbers,
        }
        label = f"{self.metric} computed from {prefix}<group> = {_g(difference)} ({high} {numbers[high]:g} − {low} {numbers[low]:g})"
        return self._verdict(difference, label, evidence)

    def _verdict(self, value: float, label: str, evidence: dict) -> RuleResult:
        if value <= self.max:
            return RuleResult(PASSED, f"{label} (<= {self.max:g})", evidence)
        return RuleResult(FAILED, f"{label}, needs <= {self.max:g}", evidence)


class StagingFirst(Rule):
    """Production only from Staging, after at least ``min_hours`` there (as recorded by sync)."""

    type = "staging_first"
    params = {"min_hours": Param("number", required=False, default=0, minimum=0)}

    def describe(self):
        return f"Staging first ({self.min_hours:g} h)" if self.min_hours else "Staging first"

    def evaluate(self, facts):
        stage = facts.version.stage
        if facts.target_stage != "Production":
            return RuleResult(NOT_APPLICABLE, "only a move to Production must come from Staging", {"stage": stage})
        if stage == "Production":
            return RuleResult(NOT_APPLICABLE, "already in Production", {"stage": stage})
        if stage != "Staging":
            return RuleResult(FAILED, f"in stage {stage}: Production only from Staging", {"stage": stage})
        if not self.min_hours:
            return RuleResult(PASSED, "in Staging", {"stage": stage})
        entered = facts.staging_entered_at
        if entered is None:
            return RuleResult(
                FAILED, "no record of when this version entered Staging", {"stage": stage, "min_hours": self.min_hours}
            )
        hours = (facts.now - entered).total_seconds() / 3600
        evidence = {"stage": stage, "entered_staging": entered.isoformat(), "hours": hours, "min_hours": self.min_hours}
        if hours >= self.min_hours:
            return RuleResult(PASSED, f"in Staging for {hours:.1f} h (>= {self.min_hours:g} h)", evidence)
        return RuleResult(FAILED, f"in Staging for {hours:.1f} h, needs {self.min_hours:g} h", evidence)


class RequiredApprovals(Rule):
    """How many reviewers must approve; counted on the transition request, not here.

    ``exclude_owners``: the model's owners may not review its requests (``approvals.access.review_refusal``);
    unset, it is on for Production and off for the other stages (``policies.StagePolicy.excludes_owners``).
    """

    type = "required_approvals"
    params = {
        "count": Param("number", minimum=1, integer=True),
        "exclude_owners": Param("bool", required=False),
    }

    def describe(self):
        return f"{int(self.count)} approval{'s' if self.count != 1 else ''}"

    def evaluate(self, facts):
        count = int(self.count)
        return RuleResult(
            NOT_APPLICABLE, f"needs {self.describe()} from reviewers on the transition request", {"required": count}
        )


RULE_TYPES: dict[str, type[Rule]] = {
    cls.type: cls
    for cls in (
        MetricThreshold,
        NoRegression,
        RequiredTags,
        DatasetDigest,
        ModelCardComplete,
        FairnessBound,
        StagingFirst,
        RequiredApprovals,
    )
}


def validate_stages(data, path: tuple = ()) -> dict:
    """Normalised ``{stage: [rule, ...]}`` from ``data``; raises ``PolicyErrors`` naming every bad key."""
    errors: list[tuple[tuple, str]] = []
    if not isinstance(data, dict):
        raise PolicyErrors([(path, f"must be a mapping of stage to rules, got {type(data).__name__}")])
    normalised = {}
    for stage, rules in data.items():
        where = (*path, stage)
        if stage not in STAGES:
            errors.append((where, f"unknown stage {stage!r}; stages are {', '.join(STAGES)}"))
            continue
        if not isinstance(rules, list):
            errors.append((where, f"must be a list of rules, got {type(rules).__name__}"))
            continue
        normalised[stage] = _validate_rules(rules, where, errors)
    if errors:
        raise PolicyErrors(errors)
    return normalised


def _validate_rules(rules: list, where: tuple, errors: list) -> list[dict]:
    out, ids, approvals = [], set(), 0
    for index, rule in enumerate(rules):
        at = (*where, index)
        if not isinstance(rule, dict):
            errors.append((at, f"must be a mapping with a 'type', got {rule!r}"))
            continue
        rule_type = rule.get("type")
        cls = RULE_TYPES.get(rule_type) if isinstance(rule_type, str) else None
        if cls is None:
            errors.append(((*at, "type"), f"unknown rule type {rule_type!r}; types are {', '.join(RULE_TYPES)}"))
            continue
        rule_id = rule.get("id", rule_type)
        if not isinstance(rule_id, str) or not rule_id.strip():
            errors.append(((*at, "id"), f"must be a non-empty string, got {rule_id!r}"))
        elif rule_id in ids:
            errors.append(((*at, "id"), f"duplicate rule id {rule_id!r} in {format_path(where)}"))
        else:
            ids.add(rule_id)
        approvals += cls is RequiredApprovals
        clean = {"id": rule_id, "type": rule_type}
        for key in rule:
            if key not in ("id", "type") and key not in cls.params:
                allowed = ", ".join(["id", "type", *cls.params])
                errors.append(((*at, key), f"unknown key for {rule_type}; allowed: {allowed}"))
        for key, param in cls.params.items():
            if key not in rule:
                if param.required:
                    errors.append(((*at, key), f"required by {rule_type}"))
                elif param.default is not None:
                    clean[key] = param.default
                continue
            problem = _check_param(param, rule[key])
            if problem:
                errors.append(((*at, key), problem))
            clean[key] = rule[key]
        out.append(clean)
    if approvals > 1:
        errors.append((where, "more than one required_approvals rule"))
    return out


def build_rules(rules: list[dict]) -> list[Rule]:
    """Rule objects from normalised rule data."""
    return [
        RULE_TYPES[rule["type"]](rule["id"], **{k: v for k, v in rule.items() if k not in ("id", "type")})
        for rule in rules
    ]
