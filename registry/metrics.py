"""Comparing versions: which way is better for a metric, deltas and param diffs against Production.

Whether higher or lower is better is a property of the metric's *name*. ``METRIC_DIRECTIONS`` names
the metrics where lower is better (and may force ``HIGHER`` for a name that would otherwise match);
a name also matches by its last segment, so ``val_loss``, ``eval.rmse`` and ``test/log_loss`` are
lower-is-better without being listed. Everything else is higher-is-better.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

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
_SEGMENT_SEPARATORS = re.compile(r"[._/:-]")


def format_metric(value) -> str:
    """Four significant digits below 1,000 (0.8123, 12.35), thousands separators above; "—" if missing."""
    number = as_number(value)
    if number is None:
        return "—" if value is None else str(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.1f}"
    return f"{number:.4g}"


def metric_direction(name: str) -> str:
    if name in METRIC_DIRECTIONS:
        return METRIC_DIRECTIONS[name]
    # ``val_log_loss`` → try ``val_log_loss``, then ``log_loss``, then ``loss``.
    parts = _SEGMENT_SEPARATORS.split(name)
    for start in range(1, len(parts)):
        suffix = "_".join(parts[start:])
        if suffix in METRIC_DIRECTIONS:
            return METRIC_DIRECTIONS[suffix]
    return HIGHER


def as_number(value) -> float | None:
    """A finite float, or None for anything that cannot be compared (missing, NaN, text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class MetricDelta:
    name: str
    value: float | None
    baseline: float | None
    direction: str

    @property
    def delta(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        return self.value - self.baseline

    @property
    def relative(self) -> float | None:
        """The delta as a fraction of the baseline, None when the baseline is 0 or missing."""
        if self.delta is None or self.baseline == 0:
            return None
        return self.delta / abs(self.baseline)

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``same``, ``new`` (no baseline), ``missing`` (only the baseline has it)."""
        if self.value is None and self.baseline is None:
            return "unknown"
        if self.baseline is None:
            return "new"
        if self.value is None:
            return "missing"
        if math.isclose(self.value, self.baseline, rel_tol=1e-9, abs_tol=1e-12):
            return "same"
        improved = self.value > self.baseline if self.direction == HIGHER else self.value < self.baseline
        return "better" if improved else "worse"


def metric_deltas(metrics: dict, baseline: dict | None) -> list[MetricDelta]:
    """One row per metric of either side, sorted by name; ``baseline`` None means no Production version."""
    baseline = baseline or {}
    return [
        MetricDelta(name, as_number(metrics.get(name)), as_number(baseline.get(name)), metric_direction(name))
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
