"""Comparing versions: which way is better for a metric, deltas and param diffs against Production.

Whether higher or lower is better is a property of the metric's *name*. ``METRIC_DIRECTIONS`` names
the metrics where lower is better (and may force ``HIGHER`` for a name that would otherwise match);
the ``METRIC_DIRECTIONS`` setting (``METRIC_DIRECTIONS_JSON``) adds to it and wins over it. Names
match case-insensitively, and also by their last segments (separators are ``. _ / : -`` and spaces),
so ``val_loss``, ``Val Loss``, ``eval.rmse`` and ``test/log_loss`` are lower-is-better without being
listed. Everything else is higher-is-better.

Metric values are whatever MLflow holds: NaN, ±inf, and ±1.7976931348623157e308, the largest float,
which MLflow's SQL stores return in place of ±inf. None of those compare, plot or subtract
meaningfully, so ``as_number`` turns them into None and ``format_metric`` names them.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

HIGHER = "higher"
LOWER = "lower"

METRIC_DIRECTIONS: dict[str, str] = {
    "loss": LOWER,
    "log_loss": LOWER,
    "logloss": LOWER,
    "rmse": LOWER,
    "mse": LOWER,
    "mae": LOWER,
    "mape": LOWER,
    "error": LOWER,
    "error_rate": LOWER,
    "brier_score": LOWER,
    "perplexity": LOWER,
    "latency_ms": LOWER,
    "demographic_parity_difference": LOWER,
    "equalized_odds_difference": LOWER,
    "false_positive_rate": LOWER,
    "false_negative_rate": LOWER,
}

KEY_METRICS_LIMIT = 4
# Among metrics as common as each other, these headline metrics come first, in this order.
KEY_METRIC_PREFERENCE = (
    "accuracy",
    "f1",
    "roc_auc",
    "precision",
    "recall",
    "r2",
    "rmse",
    "mae",
    "log_loss",
    "loss",
)
_SEGMENT_SEPARATORS = re.compile(r"[\s._/:-]+")
# MLflow's SQL stores keep ±inf as ±FLOAT_MAX: at or beyond it, a value means infinity.
FLOAT_MAX = sys.float_info.max
# Beyond these magnitudes a number is written as 1.234e20 / 1.5e-7 rather than in full.
SCIENTIFIC_FROM = 1e15
SCIENTIFIC_BELOW = 1e-4


def format_metric(value) -> str:
    """Four significant digits below 1,000 (0.8123, 12.35), thousands separators above, scientific
    beyond 1e15 or below 1e-4 (1.0e300, 2.5e-7); "NaN", "∞", "−∞" for those; "—" if missing."""
    if value is None:
        return "—"
    label = non_finite_label(value)
    if label:
        return label
    number = as_number(value)
    if number is None:
        if isinstance(value, int) and not isinstance(value, bool):
            return _scientific(f"{Decimal(value):.3e}")  # an int beyond float range
        return str(value)
    magnitude = abs(number)
    if magnitude >= SCIENTIFIC_FROM or 0 < magnitude < SCIENTIFIC_BELOW:
        return _scientific(f"{number:.3e}")
    if number.is_integer():
        return f"{int(number):,}"
    if magnitude >= 1000:
        return f"{number:,.1f}"
    return f"{number:.4g}"


def _scientific(text: str) -> str:
    """``1.000e+300`` → ``1.0e300``, ``2.500e-07`` → ``2.5e-7``."""
    mantissa, exponent = text.lower().split("e")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}e{int(exponent)}"


def non_finite_label(value) -> str | None:
    """``NaN``, ``∞`` or ``−∞`` for a float MLflow uses to mean one of them; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, float):
        return None
    if math.isnan(value):
        return "NaN"
    if abs(value) >= FLOAT_MAX:
        return "∞" if value > 0 else "−∞"
    return None


def metric_direction(name: str) -> str:
    """``HIGHER`` or ``LOWER``: the setting's entry for the name, else the built-in one, else by its last
    segments (``val_log_loss`` → ``val_log_loss``, then ``log_loss``, then ``loss``), else ``HIGHER``."""
    directions = {**METRIC_DIRECTIONS, **_normalised(getattr(settings, "METRIC_DIRECTIONS", {}))}
    parts = _segments(name)
    for start in range(len(parts)):
        suffix = "_".join(parts[start:])
        if suffix in directions:
            return directions[suffix]
    return HIGHER


def _segments(name: str) -> list[str]:
    return [part for part in _SEGMENT_SEPARATORS.split(name.lower()) if part]


def _normalised(directions: dict[str, str]) -> dict[str, str]:
    """Setting keys as the lookup spells names: ``"Val Loss"`` → ``val_loss``."""
    return {"_".join(_segments(name)): direction for name, direction in directions.items()}


def as_number(value) -> float | None:
    """A finite float, or None for anything that cannot be compared (missing, NaN, ±inf and MLflow's
    ±FLOAT_MAX stand-ins for it, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return None
    return number if math.isfinite(number) and abs(number) < FLOAT_MAX else None


@dataclass(frozen=True)
class MetricDelta:
    """``value`` and ``baseline`` as logged (NaN and ∞ included, so the page can name them); the delta
    and verdict only compare finite numbers (``as_number``)."""

    name: str
    value: object
    baseline: object
    direction: str

    @property
    def delta(self) -> float | None:
        """None when either side is not a finite number, or when the difference is beyond float range
        (1e308 − (−1e308))."""
        value, baseline = as_number(self.value), as_number(self.baseline)
        if value is None or baseline is None:
            return None
        difference = value - baseline
        return difference if math.isfinite(difference) else None

    @property
    def relative(self) -> float | None:
        """The delta as a fraction of the baseline, None when the baseline is 0 or missing, or when the
        fraction is beyond float range (a baseline of 5e-324)."""
        delta, baseline = self.delta, as_number(self.baseline)
        if delta is None or not baseline:
            return None
        fraction = delta / abs(baseline)
        return fraction if math.isfinite(fraction) else None

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``same``, ``new`` (no baseline), ``missing`` (only the baseline has it);
        a side that is not a finite number counts as absent."""
        value, baseline = as_number(self.value), as_number(self.baseline)
        if value is None and baseline is None:
            return "unknown"
        if baseline is None:
            return "new"
        if value is None:
            return "missing"
        if math.isclose(value, baseline, rel_tol=1e-9, abs_tol=1e-12):
            return "same"
        improved = value > baseline if self.direction == HIGHER else value < baseline
        return "better" if improved else "worse"


def metric_deltas(metrics: dict, baseline: dict | None) -> list[MetricDelta]:
    """One row per metric of either side, sorted by name; ``baseline`` None means no Production version."""
    baseline = baseline or {}
    return [
        MetricDelta(name, metrics.get(name), baseline.get(name), metric_direction(name))
        for name in sorted(set(metrics) | set(baseline))
    ]


@dataclass(frozen=True)
class ParamDiff:
    name: str
    value: str | None
    baseline: str | None

    @property
    def status(self) -> str:
        if self.baseline is None:
            return "added"
        if self.value is None:
            return "removed"
        return "same" if self.value == self.baseline else "changed"


def params_diff(params: dict, baseline: dict | None) -> list[ParamDiff]:
    """Differences first (changed, added, removed), then unchanged; each group by name."""
    baseline = baseline or {}
    rows = [ParamDiff(name, params.get(name), baseline.get(name)) for name in set(params) | set(baseline)]
    order = {"changed": 0, "added": 1, "removed": 2, "same": 3}
    return sorted(rows, key=lambda row: (order[row.status], row.name))


def key_metric_names(metric_dicts, *, limit: int = KEY_METRICS_LIMIT, must_include: str = "") -> list[str]:
    """The metrics most versions have, headline metrics first: the columns worth showing in a versions table."""
    counts = Counter(name for metrics in metric_dicts for name in metrics)
    preference = {name: index for index, name in enumerate(KEY_METRIC_PREFERENCE)}

    def rank(item):
        name, count = item
        return (-count, preference.get(name, len(preference)), name)

    names = [name for name, _ in sorted(counts.items(), key=rank)[:limit]]
    if must_include and must_include not in names:
        names = [*names[: limit - 1], must_include]
    return names
