"""The card as a document: generated parts from the mirror, the full Markdown, and the JSON export.

Generated parts (model type and params, metrics, per-group metrics, datasets with digests, run,
experiment, commit) are built here from the mirror at render time and never stored in a revision,
so they cannot drift from MLflow and nobody edits them by hand. Per-group metrics follow the naming
convention ``<metric>_<group>`` (``accuracy_region_north``): a metric is per-group when another
logged metric, or a well-known metric name, is a prefix of it followed by ``_``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import yaml
from django.conf import settings

from .profiles import DEFAULT_PROFILE, Profile
from .render import escape_markdown
from .sections import SECTIONS_BY_KEY

KNOWN_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_score",
    "auc",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "mse",
    "rmse",
    "mae",
    "r2",
    "tpr",
    "fpr",
    "selection_rate",
)
EVALUATION_CONTEXTS = ("evaluation", "eval", "test", "testing", "validation")
MODEL_TYPE_KEYS = ("model_type", "estimator_class", "estimator_name", "model_class", "algorithm")
FRAMEWORKS = (
    ("sklearn", "scikit-learn"),
    ("xgboost", "XGBoost"),
    ("lightgbm", "LightGBM"),
    ("catboost", "CatBoost"),
    ("torch", "PyTorch"),
    ("tensorflow", "TensorFlow"),
    ("keras", "Keras"),
    ("transformers", "Transformers"),
)
ARTIFACT_FILE = "model_card/model_card.md"


@dataclass(frozen=True)
class DatasetFact:
    name: str
    digest: str
    context: str
    source_type: str
    source: str


@dataclass(frozen=True)
class CardFacts:
    """What the mirror says about one version, gathered once per page (one query for datasets)."""

    model_name: str
    version: int
    stage: str
    aliases: list[str]
    owners: tuple[str, ...]  # the portal's owners (users, "group NAME"), not MLflow's owner tag
    description: str
    created_at: dt.datetime | None
    run_id: str
    experiment: str
    git_commit: str
    source_name: str
    model_type: str
    framework: str
    license: str
    task: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    group_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    datasets: list[DatasetFact] = field(default_factory=list)

    @property
    def training_datasets(self):
        return [d for d in self.datasets if d.context not in EVALUATION_CONTEXTS]

    @property
    def evaluation_datasets(self):
        return [d for d in self.datasets if d.context in EVALUATION_CONTEXTS]


def split_group_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """``{"accuracy": .8, "accuracy_region_north": .7}`` → overall ``{"accuracy": .8}``, groups ``{"accuracy": {"region_north": .7}}``."""
    bases = set(metrics) | set(KNOWN_METRICS)
    overall, groups = {}, {}
    for key in sorted(metrics):
        prefixes = [b for b in bases if key != b and key.startswith(b + "_") and key not in KNOWN_METRICS]
        if prefixes:
            base = max(prefixes, key=len)
            groups.setdefault(base, {})[key[len(base) + 1 :]] = metrics[key]
        else:
            overall[key] = metrics[key]
    return overall, groups


def _first(sources: list[dict], keys) -> str:
    for source in sources:
        for key in keys:
            if source.get(key):
                return str(source[key])
    return ""


def card_facts(version) -> CardFacts:
    """Facts about ``version`` (with ``model`` and ``run`` selected); one query for the run's datasets."""
    model = version.model
    run = version.mirrored_run
    params = run.params if run else {}
    run_tags = run.tags if run else {}
    tag_sources = [version.tags, model.tags, run_tags]
    model_type = _first([params, *tag_sources], MODEL_TYPE_KEYS)
    framework = _first(tag_sources, ("framework", "library"))
    if not framework:
        lowered = model_type.lower()
        framework = next((name for prefix, name in FRAMEWORKS if lowered.startswith(prefix)), "")
    overall, groups = split_group_metrics(run.metrics if run else {})
    datasets = []
    if run is not None:
        datasets = [
            DatasetFact(i.dataset.name, i.dataset.digest, i.context, i.dataset.source_type, i.dataset.source)
            for i in run.inputs.select_related("dataset").order_by("context", "dataset__name", "dataset__digest")
        ]
    return CardFacts(
        model_name=model.name,
        version=version.version,
        stage=version.stage,
        aliases=list(version.aliases),
        owners=tuple(row.label for row in model.owners.select_related("user", "group")),
        description=version.description or model.description,
        created_at=version.created_at,
        run_id=version.run_id or "",
        experiment=(run.experiment_name or run.experiment_id) if run else "",
        git_commit=run.git_commit if run else "",
        source_name=run.source_name if run else "",
        model_type=model_type,
        framework=framework,
        license=_first(tag_sources, ("license",)),
        task=_first(tag_sources, ("task", "pipeline_tag")),
        params=dict(params),
        metrics=overall,
        group_metrics=groups,
        datasets=datasets,
    )


# ---- generated Markdown -------------------------------------------------------------------
def _cell(value) -> str:
    return escape_markdown(value) if value not in (None, "") else "—"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _datasets_table(datasets: list[DatasetFact]) -> str:
    if not datasets:
        return "_No dataset logged on the run._"
    return _table(
        ["Dataset", "Digest", "Context", "Source"], [[d.name, d.digest, d.context, d.source] for d in datasets]
    )


def _group_table(groups: dict[str, dict[str, float]]) -> str:
    metrics = sorted(groups)
    names = sorted({group for values in groups.values() for group in values})
    rows = [[name, *(_number(groups[m][name]) if name in groups[m] else "" for m in metrics)] for name in names]
    gaps = [
        "max − min",
        *(_number(max(groups[m].values()) - min(groups[m].values())) for m in metrics),
    ]
    return _table(["Group", *metrics], [*rows, gaps])


def run_url(facts: CardFacts) -> str:
    if not (settings.MLFLOW_UI_URL and facts.run_id):
        return ""
    return f"{settings.MLFLOW_UI_URL}/#/runs/{facts.run_id}"


def generated_sections(facts: CardFacts) -> dict[str, str]:
    """Section key → Markdown generated from the mirror (sections without generated parts are absent)."""
    details = [
        f"- **Model:** {escape_markdown(facts.model_name)}",
        f"- **Version:** {facts.version}",
        f"- **Date:** {facts.created_at.date().isoformat() if facts.created_at else '—'}",
        f"- **Stage:** {escape_markdown(facts.stage)}"
        + (f" (aliases: {', '.join(escape_markdown(a) for a in facts.aliases)})" if facts.aliases else ""),
        f"- **Model type:** {_cell(facts.model_type)}",
        f"- **Framework:** {_cell(facts.framework)}",
        f"- **Owner:** {_cell(', '.join(facts.owners))}",
    ]
    if facts.license:
        details.append(f"- **License:** {escape_markdown(facts.license)}")
    if facts.description:
        details.append(f"\n{escape_markdown(facts.description)}")
    if facts.params:
        details.append("\n**Parameters**\n\n" + _table(["Parameter", "Value"], sorted(facts.params.items())))
    generated = {"model_details": "\n".join(details)}

    generated["training_data"] = _datasets_table(facts.training_datasets)
    generated["evaluation_data"] = (
        _datasets_table(facts.evaluation_datasets)
        if facts.evaluation_datasets
        else "_No evaluation dataset logged (context `evaluation`, `test` or `validation`)._"
    )
    if facts.metrics:
        generated["performance_metrics"] = _table(
            ["Metric", "Value"], [[k, _number(v)] for k, v in sorted(facts.metrics.items())]
        )
    else:
        generated["performance_metrics"] = "_No metrics logged on the run._"
    if facts.group_metrics:
        generated["performance_metrics"] += "\n\nPer-group metrics: see Fairness & Bias."
        generated["fairness_bias"] = "**Per-group metrics** (logged as `<metric>_<group>`)\n\n" + _group_table(
            facts.group_metrics
        )
    else:
        generated["fairness_bias"] = (
            "_No per-group metrics logged (name them `<metric>_<group>`, e.g. `accuracy_region_north`)._"
        )

    references = [
        f"- **Run ID:** {_cell(facts.run_id)}" + (f" ([MLflow]({run_url(facts)}))" if run_url(facts) else ""),
        f"- **Experiment:** {_cell(facts.experiment)}",
        f"- **Code:** {_cell(facts.git_commit)}"
        + (f" ({escape_markdown(facts.source_name)})" if facts.source_name else ""),
    ]
    generated["references"] = "\n".join(references)
    return generated


# ---- the whole document -------------------------------------------------------------------
def front_matter(facts: CardFacts) -> dict:
    """Hugging Face model card metadata: ``license`` (when known), ``datasets``, ``model-index``."""
    meta: dict = {}
    if facts.license:
        meta["license"] = facts.license
    names = list(dict.fromkeys(d.name for d in facts.datasets))
    if names:
        meta["datasets"] = names
    metrics = [{"name": k, "type": k, "value": v} for k, v in sorted(facts.metrics.items())]
    metrics += [
        {"name": f"{metric}_{group}", "type": metric, "value": value}
        for metric, values in sorted(facts.group_metrics.items())
        for group, value in sorted(values.items())
    ]
    if metrics:
        evaluated_on = (facts.evaluation_datasets or facts.training_datasets or [None])[0]
        dataset = (
            {"name": evaluated_on.name, "type": evaluated_on.name}
            if evaluated_on
            else {"name": "unknown", "type": "unknown"}
        )
        meta["model-index"] = [
            {
                "name": f"{facts.model_name} v{facts.version}",
                "results": [{"task": {"type": facts.task or "other"}, "dataset": dataset, "metrics": metrics}],
            }
        ]
    return meta


LIFECYCLE_NOTE = (
    "_Generated by the portal from the version's stage history and this card's revisions since the last "
    "approval: see the card page and the evidence pack._"
)


def card_markdown(
    facts: CardFacts, sections: dict[str, str], *, revision=None, profile: Profile = DEFAULT_PROFILE
) -> str:
    """The card as one Markdown file with YAML front matter (what MLflow gets as ``model_card.md``).

    Sections follow ``profile``; a profile with numbered points (Annex IV) puts each point's sections under it.
    """
    meta = front_matter(facts)
    generated = generated_sections(facts)
    parts = []
    if meta:
        parts.append("---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n")
    parts.append(f"# Model Card: {escape_markdown(facts.model_name)} v{facts.version}\n")
    if revision is not None:
        parts.append(
            f"_Card revision {revision.number} by {escape_markdown(revision.author)}, "
            f"{revision.created_at:%Y-%m-%d %H:%M} UTC._\n"
        )
    else:
        parts.append("_Draft: not saved yet._\n")
    parts.append(f"_Profile: {profile.title}._\n")

    def section_part(section, level):
        body = [text for text in (generated.get(section.key, ""), (sections.get(section.key) or "").strip()) if text]
        return f"{level} {section.title}\n\n" + ("\n\n".join(body) if body else "_Not written yet._") + "\n"

    if not profile.grouped:
        parts += [section_part(section, "##") for section in profile.sections]
        return "\n".join(parts)
    for point in profile.points:
        parts.append(f"## {point.ref} {point.title}\n")
        if point.generated:
            parts.append(LIFECYCLE_NOTE + "\n")
        parts += [section_part(SECTIONS_BY_KEY[key], "###") for key in point.sections]
    return "\n".join(parts)


def card_json(facts: CardFacts, sections: dict[str, str], *, revision=None) -> dict:
    """The card in the Model Card Toolkit JSON schema (v0.0.2 field names); prose stays Markdown."""

    def prose(key):
        return (sections.get(key) or "").strip()

    def described(*keys):
        return [{"description": prose(k)} for k in keys if prose(k)]

    references = [{"reference": url} for url in (run_url(facts),) if url]
    data = [
        {
            "name": d.name,
            **({"link": d.source} if d.source.startswith(("http://", "https://")) else {}),
            "description": f"{d.context or 'training'} dataset, digest {d.digest}, source {d.source or '—'}",
        }
        for d in facts.datasets
    ]
    data += [
        {"name": title, "description": prose(key)}
        for key, title in (("training_data", "Training data"), ("evaluation_data", "Evaluation data"))
        if prose(key)
    ]
    metrics = [{"type": k, "value": v} for k, v in sorted(facts.metrics.items())]
    metrics += [
        {"type": metric, "value": value, "slice": group}
        for metric, values in sorted(facts.group_metrics.items())
        for group, value in sorted(values.items())
    ]
    risks = [
        {"name": title, "mitigation_strategy": prose(key)}
        for key, title in (("ethical_considerations", "Ethical considerations"), ("fairness_bias", "Fairness & bias"))
        if prose(key)
    ]
    return {
        "schema_version": "0.0.2",
        "model_details": {
            "name": facts.model_name,
            "overview": facts.description,
            "documentation": "\n\n".join(
                t for t in (prose("model_details"), prose("factors"), prose("references")) if t
            ),
            "owners": [{"name": name} for name in facts.owners],
            "version": {
                "name": str(facts.version),
                **({"date": facts.created_at.date().isoformat()} if facts.created_at else {}),
                **({"diff": revision.summary} if revision is not None else {}),
            },
            "licenses": [{"identifier": facts.license}] if facts.license else [],
            "references": references,
            "citations": [],
        },
        "model_parameters": {"model_architecture": facts.model_type, "data": data},
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "graphics": {"description": prose("performance_metrics"), "collection": []},
        },
        "considerations": {
            "users": [],
            "use_cases": described("intended_use"),
            "limitations": described("limitations"),
            "tradeoffs": described("caveats_recommendations"),
            "ethical_considerations": risks,
        },
    }
