"""Which rules apply to a model and stage; the default policy; policies as YAML.

The effective policy of a model is its override's stages over the default's: a model row that
lists only ``Production`` keeps the default ``Staging`` rules. When the default row is missing
(deleted by hand), the built-in ``DEFAULT_RULES`` apply: a missing policy never means "no rules".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from .models import ModelRiskTier, Policy
from .rules import PolicyErrors, RequiredApprovals, Rule, StagingFirst, build_rules, format_path, validate_stages

DEFAULT_DESCRIPTION = (
    "Course module 07: Staging needs a logged dataset with a digest and the code commit; Production "
    "additionally needs accuracy >= 0.90, a complete model card, dataset_version and commit tags, "
    "Staging first, no regression against the current Production version, and two approvals."
)
_STAGING_RULES = [
    {"id": "dataset-digest", "type": "dataset_digest"},
    {"id": "code-commit", "type": "required_tags", "tags": ["mlflow.source.git.commit"], "scope": "any"},
]
DEFAULT_RULES = {
    "Staging": [*_STAGING_RULES, {"id": "approvals", "type": "required_approvals", "count": 1}],
    "Production": [
        *_STAGING_RULES,
        {"id": "dataset-version", "type": "required_tags", "tags": ["dataset_version"], "scope": "any"},
        {"id": "accuracy", "type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.9},
        {"id": "model-card", "type": "model_card_complete"},
        {"id": "staging-first", "type": "staging_first", "min_hours": 0},
        {"id": "no-regression", "type": "no_regression", "metric": "accuracy", "direction": "higher", "tolerance": 0.0},
        {"id": "approvals", "type": "required_approvals", "count": 2},
    ],
    "Archived": [{"id": "approvals", "type": "required_approvals", "count": 1}],
}
# Without a required_approvals rule a transition still needs one reviewer: a policy never means "nobody".
FALLBACK_APPROVALS = 1
# Where the model's owners may not review its requests unless the policy says ``exclude_owners: false``.
EXCLUDE_OWNERS_BY_DEFAULT = ("Production",)


@dataclass(frozen=True)
class StagePolicy:
    label: str
    rules: list[Rule]
    stage: str = ""

    @property
    def required_approvals(self) -> int:
        counts = [int(rule.count) for rule in self.rules if isinstance(rule, RequiredApprovals)]
        return counts[0] if counts else FALLBACK_APPROVALS

    @property
    def excludes_owners(self) -> bool:
        """Whether the model's owners are kept from reviewing (the ``exclude_owners`` of ``required_approvals``;
        unset: on for Production only)."""
        chosen = [rule.exclude_owners for rule in self.rules if isinstance(rule, RequiredApprovals)]
        if chosen and chosen[0] is not None:
            return bool(chosen[0])
        return self.stage in EXCLUDE_OWNERS_BY_DEFAULT


def model_tier(model_name: str) -> int | None:
    """The model's risk tier, or None when it has none; one query."""
    if not model_name:
        return None
    return ModelRiskTier.objects.filter(model_name=model_name).values_list("tier", flat=True).first()


def _policy_rows(model_name: str) -> list:
    """Most specific first: the model's own row, its tier's row, the default row (those that exist); two queries."""
    tier = model_tier(model_name)
    rows = list(Policy.objects.for_model_and_tier(model_name, tier))
    own = next((p for p in rows if p.tier is None and model_name and p.model_name == model_name), None)
    of_tier = next((p for p in rows if tier is not None and p.tier == tier), None)
    default = next((p for p in rows if p.tier is None and p.model_name == ""), None)
    return [row for row in (own, of_tier, default) if row is not None]


def stage_policy(model_name: str, stage: str) -> StagePolicy:
    """The rules for moving a version of ``model_name`` to ``stage``: the model's row > its tier's row > the
    default row (stage by stage) > built-in; two queries."""
    rows = _policy_rows(model_name)
    for row in rows:
        if stage in row.rules or row.is_default:
            return StagePolicy(row.label, build_rules(row.rules.get(stage, [])), stage)
    return StagePolicy("built-in default policy", build_rules(validate_stages(DEFAULT_RULES).get(stage, [])), stage)


def _model_name(version_or_model_name) -> str:
    return version_or_model_name if isinstance(version_or_model_name, str) else version_or_model_name.model.name


def required_approvals(version_or_model_name, stage: str) -> int:
    """How many distinct reviewers must approve a move to ``stage`` (read by transition requests)."""
    return stage_policy(_model_name(version_or_model_name), stage).required_approvals


def excludes_owners(version_or_model_name, stage: str) -> bool:
    """Whether the model's owners may not review a request to move a version of it to ``stage``; one query."""
    return stage_policy(_model_name(version_or_model_name), stage).excludes_owners


def requires_staging_first(version_or_model_name) -> bool:
    """Whether the policy refuses a move to Production from any stage but Staging."""
    return any(
        isinstance(rule, StagingFirst) for rule in stage_policy(_model_name(version_or_model_name), "Production").rules
    )


# What a policy says beyond its stage rules when neither the model's row nor the default says it.
BUILT_IN_SETTINGS = {
    "recertify_days": None,
    "recertify_remind_days": 14,
    "out_of_band": "detect",
    "tier_from_card": None,
}


def _check_tier_from_card(value) -> str | None:
    """``{section: <card section key>, rules: [{contains: <text>, tier: <tier>}, ...], default: <tier>}``."""
    from cards.sections import SECTIONS

    from .models import allowed_tiers

    shape = "must be {section: <card section key>, rules: [{contains: <text>, tier: <n>}], default: <n>}"
    if not isinstance(value, dict) or set(value) - {"section", "rules", "default"}:
        return shape
    if value.get("section") not in {s.key for s in SECTIONS}:
        return f"section must be a card section key, got {value.get('section')!r}"
    tiers = allowed_tiers()
    rules = value.get("rules")
    if not isinstance(rules, list) or not rules:
        return shape
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) != {"contains", "tier"} or not isinstance(rule["contains"], str):
            return shape
        if rule["tier"] not in tiers or isinstance(rule["tier"], bool):
            return f"a rule's tier must be one of {', '.join(map(str, tiers))}, got {rule['tier']!r}"
    if "default" in value and (value["default"] not in tiers or isinstance(value["default"], bool)):
        return f"default must be one of {', '.join(map(str, tiers))}, got {value['default']!r}"
    return None


def tier_from_card(config: dict, sections: dict) -> int | None:
    """The tier the first rule whose text the section contains (case-insensitive) gives, else the default."""
    text = str(sections.get(config["section"]) or "").casefold()
    for rule in config["rules"]:
        if rule["contains"].casefold() in text:
            return rule["tier"]
    return config.get("default")


SETTING_CHECKS = {
    "recertify_days": lambda v: (
        None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1
        else f"must be a whole number of days >= 1, got {v!r}"
    ),
    "recertify_remind_days": lambda v: (
        None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0
        else f"must be a whole number of days >= 0, got {v!r}"
    ),
    "out_of_band": lambda v: None if v in ("detect", "revert") else f"must be detect or revert, got {v!r}",
    "tier_from_card": _check_tier_from_card,
}


@dataclass(frozen=True)
class PolicySettings:
    """The governance settings in force for one model, and the label of the policy each came from."""

    recertify_days: int | None
    recertify_remind_days: int
    out_of_band: str
    sources: dict
    tier_from_card: dict | None = None

    @property
    def reverts(self) -> bool:
        return self.out_of_band == "revert"


def policy_settings(model_name: str) -> PolicySettings:
    """The model's row's settings over its tier's over the default's over ``BUILT_IN_SETTINGS``; two queries."""
    chosen, sources = dict(BUILT_IN_SETTINGS), dict.fromkeys(BUILT_IN_SETTINGS, "built-in default")
    for row in reversed(_policy_rows(model_name)):
        if row is not None:
            given = row.settings()
            chosen.update(given)
            sources.update(dict.fromkeys(given, row.label))
    return PolicySettings(**chosen, sources=sources)


def default_policy_create() -> Policy:
    """The default policy as a fresh install has it (``manage.py policy reset-default``)."""
    return Policy(model_name="", description=DEFAULT_DESCRIPTION, rules=validate_stages(DEFAULT_RULES))


# --- YAML ---------------------------------------------------------------------------------------
#
# One document holds every policy:
#
#   default:
#     description: ...
#     stages:
#       Production:
#         - {id: accuracy, type: metric_threshold, metric: accuracy, op: ">=", value: 0.9}
#   models:
#     FraudDetector:
#       stages: {Production: [...]}


@dataclass(frozen=True)
class PolicyData:
    model_name: str
    description: str
    rules: dict
    settings: dict = field(default_factory=dict)
    tier: int | None = None


class PolicyDocumentError(ValueError):
    """The YAML document is invalid; ``messages`` name each bad key and, where known, its line."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


def export_yaml(policies) -> str:
    document: dict = {}
    for policy in policies:
        entry = {"description": policy.description, **policy.settings(), "stages": policy.rules}
        if policy.tier is not None:
            document.setdefault("tiers", {})[policy.tier] = entry
        elif policy.is_default:
            document["default"] = entry
        else:
            document.setdefault("models", {})[policy.model_name] = entry
    header = "# Registry Portal governance policies (manage.py policy import FILE). See docs/governance.md.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def parse_yaml(text: str) -> list[PolicyData]:
    """Every policy in the document, validated; raises ``PolicyDocumentError`` with line numbers."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyDocumentError([f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PolicyDocumentError(["the document must be a mapping with a 'default' policy and optional 'models'"])
    errors: list[tuple[tuple, str]] = []
    policies: list[PolicyData] = []
    for key in data:
        if key not in ("default", "models", "tiers"):
            errors.append(((key,), "unknown key; the document has 'default', 'tiers' and 'models'"))
    if "default" not in data:
        errors.append(((), "the default policy ('default:') is required"))
    else:
        policies += _policy_entry("", data["default"], ("default",), errors)
    models = data.get("models") or {}
    if not isinstance(models, dict):
        errors.append((("models",), "must be a mapping of model name to policy"))
    else:
        for name, entry in models.items():
            if not isinstance(name, str) or not name.strip():
                errors.append((("models", name), "a model name must be a non-empty string"))
                continue
            policies += _policy_entry(name, entry, ("models", name), errors)
    tiers = data.get("tiers") or {}
    if not isinstance(tiers, dict):
        errors.append((("tiers",), "must be a mapping of risk tier to policy"))
    else:
        from .models import allowed_tiers

        for tier, entry in tiers.items():
            if isinstance(tier, bool) or tier not in allowed_tiers():
                errors.append((("tiers", tier), f"a tier must be one of {', '.join(map(str, allowed_tiers()))}"))
                continue
            found = _policy_entry("", entry, ("tiers", tier), errors)
            policies += [PolicyData("", p.description, p.rules, p.settings, tier) for p in found]
    if errors:
        raise PolicyDocumentError([_with_line(root, path, message) for path, message in errors])
    return policies


def _policy_entry(model_name: str, entry, path: tuple, errors: list) -> list[PolicyData]:
    if not isinstance(entry, dict):
        errors.append((path, "must be a mapping with 'stages' and an optional 'description'"))
        return []
    for key in entry:
        if key not in ("description", "stages", *Policy.SETTINGS):
            errors.append(
                (
                    (*path, key),
                    "unknown key; a policy has "
                    + ", ".join(f"'{k}'" for k in ("description", "stages", *Policy.SETTINGS)),
                )
            )
    description = entry.get("description") or ""
    if not isinstance(description, str):
        errors.append(((*path, "description"), f"must be text, got {description!r}"))
    settings = {key: entry[key] for key in Policy.SETTINGS if key in entry and entry[key] is not None}
    bad = [((*path, key), SETTING_CHECKS[key](value)) for key, value in settings.items() if SETTING_CHECKS[key](value)]
    errors += bad
    try:
        rules = validate_stages(entry.get("stages") or {}, (*path, "stages"))
    except PolicyErrors as exc:
        errors += exc.errors
        return []
    if bad:
        return []
    return [PolicyData(model_name, description if isinstance(description, str) else "", rules, settings)]


def _with_line(root, path: tuple, message: str) -> str:
    where = format_path(path)
    line = _line_of(root, path)
    prefix = f"line {line}: " if line else ""
    return f"{prefix}{where}: {message}" if where else f"{prefix}{message}"


def _line_of(node, path: tuple) -> int | None:
    """The 1-based line of the deepest node on ``path`` (mapping keys and sequence indexes)."""
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            key, node = match
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
