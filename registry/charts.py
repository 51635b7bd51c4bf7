"""Geometry for the server-rendered SVG chart of one metric across a model's versions.

Only numbers are computed here; the template writes the SVG, so every name and label goes through
Django's autoescaping like the rest of the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .metrics import FLOAT_MAX, as_number

WIDTH = 720
HEIGHT = 240
PAD_LEFT = 64
PAD_RIGHT = 16
PAD_TOP = 16
PAD_BOTTOM = 40
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Point:
    version: int
    value: float
    x: float
    y: float
    stage: str
    url: str


@dataclass(frozen=True)
class Tick:
    value: float
    y: float


@dataclass(frozen=True)
class Chart:
    metric: str
    points: list[Point]
    y_ticks: list[Tick]
    x_labels: list[Point]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = PAD_LEFT
    right: int = WIDTH - PAD_RIGHT
    top: int = PAD_TOP
    bottom: int = HEIGHT - PAD_BOTTOM

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round values from ``low`` to ``high``; any finite floats, however far apart or close."""
    if not low < high:
        return [low]
    raw = _span(low, high) / count
    if not raw > 0:  # an underflowed span: two neighbouring subnormals
        return [low, high]
    exponent = math.floor(math.log10(raw))
    magnitude = 10.0**exponent  # 0.0 below the smallest subnormal
    step = next((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), 0.0)
    if not step > 0:
        return [low, high]
    ticks = []
    value = math.ceil(low / step) * step
    limit = min(high + step * 1e-9, FLOAT_MAX)
    # Bounded: near the precision of a float, ``value + step`` may not move ``value`` at all.
    while value <= limit and len(ticks) <= count * 3:
        ticks.append(_rounded(value, 3 - exponent))
        value += step
    return ticks or [low]


def _span(low: float, high: float) -> float:
    """``high − low``, at most ``FLOAT_MAX`` (1e308 − (−1e308) would overflow to inf)."""
    return min(high - low, FLOAT_MAX)


def _rounded(value: float, digits: int) -> float:
    """``value`` without the float noise of repeated addition (0.30000000000000004 → 0.3)."""
    try:
        return round(value, digits)
    except OverflowError:  # rounding up past the largest float
        return value


def _padded(low: float, high: float) -> tuple[float, float]:
    """The y range: the values' range with 8% margins, or ±10% (±1 around 0) of a single value;
    clamped to finite floats."""
    if high == low:
        low, high = low - (abs(low) * 0.1 or 1), high + (abs(high) * 0.1 or 1)
    else:
        margin = _span(low, high) * 0.08
        low, high = low - margin, high + margin
    return max(low, -FLOAT_MAX), min(high, FLOAT_MAX)


def metric_chart(metric: str, versions) -> Chart | None:
    """``versions``: objects with ``version``, ``stage``, ``url`` and ``metrics`` (a dict).

    None when no version has a finite value for ``metric``; NaN, ±inf and MLflow's ±1.8e308 stand-ins
    for inf cannot be plotted, so those versions are left out.
    """
    values = [(v, as_number(v.metrics.get(metric))) for v in sorted(versions, key=lambda v: v.version)]
    values = [(v, value) for v, value in values if value is not None]
    if not values:
        return None
    low, high = _padded(min(value for _, value in values), max(value for _, value in values))
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    # Halved when the range is wider than the largest float, so no difference below overflows.
    scale = 1.0 if math.isfinite(high - low) else 0.5
    span = high * scale - low * scale

    def y_of(value: float) -> float:
        return round(PAD_TOP + (high * scale - value * scale) / span * inner_h, 2)

    step = inner_w / (len(values) - 1) if len(values) > 1 else 0
    points = [
        Point(
            version=v.version,
            value=value,
            x=round(PAD_LEFT + (index * step if len(values) > 1 else inner_w / 2), 2),
            y=y_of(value),
            stage=v.stage,
            url=v.url,
        )
        for index, (v, value) in enumerate(values)
    ]
    every = math.ceil(len(points) / MAX_X_LABELS)
    x_labels = [p for index, p in enumerate(points) if index % every == 0 or index == len(points) - 1]
    if len(x_labels) > 1 and x_labels[-1].x - x_labels[-2].x < inner_w / MAX_X_LABELS / 2:
        del x_labels[-2]
    ticks = [Tick(value, y_of(value)) for value in _nice_ticks(low, high)]
    return Chart(metric=metric, points=points, y_ticks=ticks, x_labels=x_labels)
