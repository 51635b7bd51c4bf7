"""The sections of a model card: the course module's template (Mitchell et al. 2019) and the sections
the EU AI Act's Annex IV needs beyond it (``cards.profiles`` says which profile shows which).

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
    help: str = ""  # shown beside the section: what to write, and what in the regulation asks for it


TEMPLATE_SECTIONS: tuple[Section, ...] = (
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

# Regulation (EU) 2024/1689, Annex IV: what technical documentation needs that the template has no place for.
ANNEX_IV_SECTIONS: tuple[Section, ...] = (
    Section(
        "system_description",
        "System Description",
        True,
        "**How the system is placed on the market or put into service:** [TO BE FILLED]\n\n"
        "**Hardware and software it runs on or interacts with (and their versions):** [TO BE FILLED]\n\n"
        "**User interface and instructions for use (link):** [TO BE FILLED]",
        "Annex IV 1(b)-(h): the forms in which the system is placed on the market, the hardware and software it "
        "interacts with, the user interface given to deployers, and the instructions for use.",
    ),
    Section(
        "development_process",
        "Development Process",
        True,
        "**Methods and steps, pre-trained models or third-party tools used:** [TO BE FILLED]\n\n"
        "**Design choices and their rationale, what the system optimises:** [TO BE FILLED]\n\n"
        "**Architecture and computational resources:** [TO BE FILLED]\n\n"
        "**Validation and testing procedures:** [TO BE FILLED]\n\n**Cybersecurity measures:** [TO BE FILLED]",
        "Annex IV 2(a)-(c), (f)-(h): how the system was built, the key design choices and trade-offs, the "
        "architecture and compute, pre-determined changes, how it was validated and tested, and cybersecurity.",
    ),
    Section(
        "human_oversight",
        "Human Oversight",
        True,
        "**Oversight measures (Article 14):** [TO BE FILLED]\n\n"
        "**How deployers interpret the output:** [TO BE FILLED]\n\n**Input data specifications:** [TO BE FILLED]",
        "Annex IV 2(e) and 3: the human oversight measures of Article 14, the technical measures that help "
        "deployers interpret the output, and the specifications of the input data.",
    ),
    Section(
        "risk_management",
        "Risk Management System",
        True,
        "**Known and foreseeable risks:** [TO BE FILLED]\n\n**Measures adopted:** [TO BE FILLED]\n\n"
        "**Residual risks:** [TO BE FILLED]",
        "Annex IV 5: the risk management system of Article 9 (risks to health, safety and fundamental rights, "
        "their estimation and evaluation, the measures taken, the residual risk).",
    ),
    Section(
        "standards_applied",
        "Standards Applied",
        True,
        "**Harmonised standards applied (in full or in part):** [TO BE FILLED]\n\n"
        "**Otherwise, the solutions adopted and other standards or specifications:** [TO BE FILLED]",
        "Annex IV 7: the harmonised standards applied, with their references; where none was applied, how the "
        "requirements of Chapter III, Section 2 are met and which other standards or specifications were used.",
    ),
    Section(
        "declaration_of_conformity",
        "EU Declaration of Conformity",
        True,
        "**Declaration (link to the signed copy), date and signatory:** [TO BE FILLED]",
        "Annex IV 8: a copy of the EU declaration of conformity of Article 47 (link the signed document).",
    ),
    Section(
        "post_market_monitoring",
        "Post-Market Monitoring Plan",
        True,
        "**What is monitored in operation, and how often:** [TO BE FILLED]\n\n"
        "**Thresholds and who acts on them:** [TO BE FILLED]",
        "Annex IV 9: the system that evaluates the performance in the post-market phase, with the post-market "
        "monitoring plan of Article 72(3).",
    ),
)

SECTIONS: tuple[Section, ...] = TEMPLATE_SECTIONS + ANNEX_IV_SECTIONS
SECTIONS_BY_KEY = {section.key: section for section in SECTIONS}
SECTION_KEYS = tuple(SECTIONS_BY_KEY)
# The template's required sections: what the default profile demands (``cards.profiles``).
REQUIRED_SECTIONS = tuple(section for section in TEMPLATE_SECTIONS if section.required)
