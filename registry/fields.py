"""A JSON field for ``{name: float}`` maps that MLflow fills with NaN and ±inf.

JSON has no NaN or infinity (SQLite's ``JSON_VALID`` and PostgreSQL's ``jsonb`` refuse them), so
non-finite floats are stored as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` and read back
as floats. MLflow metric values are always numbers, so the strings cannot be confused with a value.
MLflow's SQL stores keep ±inf as ±1.7976931348623157e308: a finite float, stored as it is.
"""

from __future__ import annotations

import math

from django.db import models

_ENCODED = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_float(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def decode_float(value):
    if isinstance(value, str):
        return _ENCODED.get(value, value)
    # PostgreSQL's jsonb prints large numbers without an exponent (1.797e308 as 309 digits), which JSON reads
    # back as an int: a metric is always a float in MLflow.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def encode_floats(mapping):
    if not isinstance(mapping, dict):
        return mapping
    return {key: encode_float(value) for key, value in mapping.items()}


def decode_floats(mapping):
    if not isinstance(mapping, dict):
        return mapping
    return {key: decode_float(value) for key, value in mapping.items()}


def same_floats(a: dict | None, b: dict | None) -> bool:
    """Equality where NaN equals NaN (plain ``==`` says two NaN metrics differ, so every sync would rewrite)."""
    return encode_floats(a or {}) == encode_floats(b or {})


class FloatMapField(models.JSONField):
    def get_prep_value(self, value):
        return super().get_prep_value(encode_floats(value))

    def from_db_value(self, value, expression, connection):
        return decode_floats(super().from_db_value(value, expression, connection))
