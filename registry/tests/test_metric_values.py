"""Metric values as real registries hold them: NaN, ±inf, MLflow's ±1.8e308 stand-ins for inf, and numbers
at the edges of float range, shown, compared, sorted and charted without raising; metric directions by name."""

import itertools
import math
import sys
from types import SimpleNamespace

import pytest

from registry.charts import _nice_ticks, metric_chart
from registry.metrics import HIGHER, LOWER, as_number, format_metric, metric_deltas, metric_direction
from registry.selectors import sort_versions
from registry.templatetags.registry_tags import percent, signed

from .test_configuration import start_django

MAX = sys.float_info.max
NAN, INF = math.nan, math.inf
EXTREMES = [1e308, -1e308, 5e-324, -5e-324, 1e-300, 1e300, 0.0, 1.0, MAX, -MAX, NAN, INF, -INF]


def version(number, value, metric="acc"):
    return SimpleNamespace(
        version=number, stage="None", url=f"/v/{number}/", metrics={} if value is None else {metric: value}
    )


# --- shown ----------------------------------------------------------------------------------------


def test_nan_metric_is_shown_as_NaN():
    assert format_metric(NAN) == "NaN"


@pytest.mark.parametrize(("value", "shown"), [(INF, "∞"), (MAX, "∞"), (-INF, "−∞"), (-MAX, "−∞")])
def test_infinity_and_mlflows_max_float_stand_in_are_shown_as_infinity(value, shown):
    assert format_metric(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e300, "1.0e300"),
        (1e-300, "1.0e-300"),
        (-1e308, "-1.0e308"),
        (5e-324, "4.941e-324"),
        (1.5e-7, "1.5e-7"),
        (1e15, "1.0e15"),
        (123456789012345678.0, "1.235e17"),
        (10**400, "1.0e400"),
    ],
)
def test_huge_and_tiny_magnitudes_are_shown_compactly(value, shown):
    assert format_metric(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.8123, "0.8123"), (12.3456, "12.35"), (1234.5, "1,234.5"), (42.0, "42"), (0.0, "0"), (None, "—"), ("x", "x")],
)
def test_ordinary_values_keep_their_formatting(value, shown):
    assert format_metric(value) == shown


@pytest.mark.parametrize("value", [NAN, INF, -INF, MAX, -MAX, 10**400, True, "0.9", None])
def test_non_finite_values_and_max_float_stand_ins_are_not_numbers(value):
    assert as_number(value) is None


@pytest.mark.parametrize("value", [1e308, -1e308, 5e-324, 0.0, 7])
def test_finite_extremes_are_numbers(value):
    assert as_number(value) == value


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.05, "+0.05"), (-0.05, "−0.05"), (0.0, "±0"), (1e300, "+1.0e300"), (-1234.5, "−1,234.5"), (INF, ""), (NAN, "")],
)
def test_signed_shows_a_delta_compactly_and_nothing_for_an_overflowed_one(value, shown):
    assert signed(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.125, "+12.5%"), (-0.5, "−50.0%"), (1e300, "+1.0e302%"), (1e307, ""), (INF, ""), (NAN, ""), (None, "")],
)
def test_percent_is_compact_and_empty_when_it_overflows(value, shown):
    assert percent(value) == shown


# --- compared -------------------------------------------------------------------------------------


def test_a_delta_beyond_float_range_is_left_out_but_the_verdict_stands():
    (row,) = metric_deltas({"acc": 1e308}, {"acc": -1e308})
    assert (row.delta, row.relative, row.verdict) == (None, None, "better")
    assert signed(row.delta) == percent(row.relative) == ""


def test_a_relative_change_beyond_float_range_is_left_out():
    (row,) = metric_deltas({"acc": 1.0}, {"acc": 5e-324})
    assert row.delta == 1.0
    assert row.relative is None


def test_delta_rows_keep_non_finite_values_for_display_and_compare_nothing():
    rows = {r.name: r for r in metric_deltas({"a": NAN, "b": MAX, "c": NAN}, {"a": 0.5, "b": 0.5, "c": INF})}
    assert [format_metric(rows[name].value) for name in "abc"] == ["NaN", "∞", "NaN"]
    assert format_metric(rows["c"].baseline) == "∞"
    assert [rows[name].verdict for name in "abc"] == ["missing", "missing", "unknown"]
    assert all(rows[name].delta is None for name in "abc")


@pytest.mark.parametrize(("value", "baseline"), itertools.product(EXTREMES, repeat=2))
def test_deltas_of_any_two_floats_never_raise(value, baseline):
    (row,) = metric_deltas({"acc": value}, {"acc": baseline})
    assert row.verdict in ("better", "worse", "same", "new", "missing", "unknown")
    for number in (row.delta, row.relative):
        assert number is None or math.isfinite(number)
        assert len(signed(number)) < 20 and len(percent(number)) < 20


def test_sorting_by_a_metric_puts_non_finite_values_last():
    versions = [
        version(1, NAN),
        version(2, 0.5),
        version(3, MAX),
        version(4, 1e308),
        version(5, -1e308),
        version(6, None),
    ]
    assert [v.version for v in sort_versions(versions, "metric:acc")] == [4, 2, 5, 6, 3, 1]
    assert [v.version for v in sort_versions(versions, "-metric:acc")] == [5, 2, 4, 6, 3, 1]


# --- charted --------------------------------------------------------------------------------------


def assert_drawable(chart):
    assert all(chart.left <= p.x <= chart.right and chart.top <= p.y <= chart.bottom for p in chart.points)
    assert chart.y_ticks
    assert all(math.isfinite(t.value) and chart.top <= t.y <= chart.bottom for t in chart.y_ticks)


def test_chart_with_max_float_does_not_overflow():
    chart = metric_chart("acc", [version(1, 1e308), version(2, -1e308), version(3, MAX), version(4, -MAX)])
    assert [p.version for p in chart.points] == [1, 2]  # the ±max-float stand-ins for inf are left out
    assert_drawable(chart)
    assert chart.points[0].y < chart.points[1].y


def test_chart_leaves_out_values_that_cannot_be_plotted():
    chart = metric_chart("acc", [version(1, NAN), version(2, 0.5), version(3, INF), version(4, -INF), version(5, 0.7)])
    assert [p.version for p in chart.points] == [2, 5]
    assert metric_chart("acc", [version(1, NAN), version(2, INF), version(3, MAX)]) is None


def test_chart_spanning_1e_minus_300_to_1e300_places_both_inside():
    chart = metric_chart("acc", [version(1, 1e-300), version(2, 1e300)])
    assert_drawable(chart)
    assert chart.points[1].y < chart.points[0].y


def test_chart_of_tiny_values_keeps_distinct_tick_labels():
    chart = metric_chart("acc", [version(1, 1e-300), version(2, 3e-300)])
    assert_drawable(chart)
    assert len({format_metric(t.value) for t in chart.y_ticks}) == len(chart.y_ticks) > 1


@pytest.mark.parametrize(("a", "b"), itertools.combinations([v for v in EXTREMES if as_number(v) is not None], 2))
def test_chart_of_any_two_plottable_floats_stays_inside(a, b):
    assert_drawable(metric_chart("acc", [version(1, a), version(2, b)]))


@pytest.mark.parametrize("value", [1e308, -1e308, 5e-324, 1e-300, 0.0])
def test_chart_of_one_extreme_value_stays_inside(value):
    assert_drawable(metric_chart("acc", [version(1, value)]))


@pytest.mark.parametrize(
    ("low", "high"), [(-MAX, MAX), (5e-324, 1e-323), (1e20, math.nextafter(1e20, INF)), (1.0, 1.0), (0.0, 1.0)]
)
def test_ticks_for_any_range_are_finite_and_few(low, high):
    ticks = _nice_ticks(low, high)
    assert 1 <= len(ticks) <= 13
    assert all(math.isfinite(t) for t in ticks)


def test_ticks_are_round_values_without_float_noise():
    assert _nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert _nice_ticks(0.05, 0.35) == [0.1, 0.2, 0.3]


# --- directions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["val loss", "test rmse", "val/loss", "val-loss", "Val_Loss", "VAL LOSS", " eval  MAE "]
)
def test_val_loss_with_space_is_lower_is_better(name):
    assert metric_direction(name) == LOWER


@pytest.mark.parametrize("name", ["val accuracy", "lossless ratio", "Accuracy"])
def test_names_without_a_lower_is_better_segment_are_higher_is_better(name):
    assert metric_direction(name) == HIGHER


def test_metric_directions_setting_overrides_the_guess(settings):
    settings.METRIC_DIRECTIONS = {"val_loss": HIGHER, "Latency P99": LOWER}
    assert metric_direction("val loss") == HIGHER
    assert metric_direction("latency_p99") == LOWER
    assert metric_direction("test loss") == LOWER  # other names keep the built-in guess
    assert metric_deltas({"latency_p99": 90}, {"latency_p99": 100})[0].verdict == "better"


@pytest.mark.parametrize("value", ["{not json", '{"loss": "down"}', '["loss"]'])
def test_bad_metric_directions_json_stops_start_up(value):
    result = start_django(METRIC_DIRECTIONS_JSON=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "METRIC_DIRECTIONS_JSON" in result.stderr
