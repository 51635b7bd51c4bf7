"""The sections of a model card (Mitchell et al. 2019, as in the course module's template).

Each section has Markdown prose written by the model's owners. Some sections also show
content generated from the mirror at render time (``cards.generated``); that part is never
stored in a revision and never hand-edited, so it always matches what MLflow says.

A section is *required* when governance demands prose for it. Model Details and References
are fully generated (type, params, owner, run id, commit ...): prose there is optional.
"""

from dataclasses import dataclass

SECTION_MAX_CHARS = 20_000
CARD_MAX_CHARS = 100_000


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    required: bool
    prompt: str


SECTIONS: tuple[Section, ...] = (
    Section(
        "model_details",
        "Model Details",
        False,
        "Anything about the model not shown above (architecture, training procedure).",
    ),
    Section(
        "intended_use",
        "Intended Use",
        True,
        "**Primary use:** [TO BE FILLED]\n\n**Primary users:** [TO BE FILLED]\n\n**Out-of-scope uses:** [TO BE FILLED]",
    ),
    Section(
        "factors",
        "Factors",
        True,
        "**Relevant factors** (groups, environments, instruments): [TO BE FILLED]\n\n"
        "**Evaluation factors:** [TO BE FILLED]",
    ),
    Section(
        "training_data",
        "Training Data",
        True,
        "**Time period:** [TO BE FILLED]\n\n**Preprocessing:** [TO BE FILLED]",
    ),
    Section(
        "evaluation_data",
        "Evaluation Data",
        True,
        "**Datasets and why they were chosen:** [TO BE FILLED]\n\n**Preprocessing:** [TO BE FILLED]",
    ),
    Section(
        "performance_metrics",
        "Performance Metrics",
        True,
        "**Why these metrics, decision thresholds:** [TO BE FILLED]",
    ),
    Section(
        "fairness_bias",
        "Fairness & Bias",
        True,
        "**Protected attributes:** [TO BE FILLED]\n\n**Bias metrics:** [TO BE FILLED]\n\n**Mitigation:** [TO BE FILLED]",
    ),
    Section("limitations", "Limitations", True, "[TO BE FILLED]"),
    Section("ethical_considerations", "Ethical Considerations", True, "[TO BE FILLED]"),
    Section("caveats_recommendations", "Caveats & Recommendations", True, "[TO BE FILLED]"),
    Section("references", "References", False, "Papers, documents, dashboards (links)."),
)

SECTIONS_BY_KEY = {section.key: section for section in SECTIONS}
SECTION_KEYS = tuple(SECTIONS_BY_KEY)
REQUIRED_SECTIONS = tuple(section for section in SECTIONS if section.required)
