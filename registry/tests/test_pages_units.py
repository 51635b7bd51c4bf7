"""The pure parts of the review pages: metric directions, deltas, param diffs, chart geometry, timelines."""

import datetime as dt

import pytest

from registry import metrics
from registry.charts import metric_chart
from registry.links import ModelUrls
from registry.metrics import HIGHER, LOWER, key_metric_names, metric_deltas, metric_direction, params_diff
from registry.models import StageChange
from registry.timeline import stage_timeline

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("accuracy", HIGHER),
        ("roc_auc", HIGHER),
        ("loss", LOWER),
        ("val_loss", LOWER),
        ("test_log_loss", LOWER),
        ("eval.rmse", LOWER),
        ("train/mae", LOWER),
        ("demographic_parity_difference", LOWER),
        ("lossless_ratio", HIGHER),
    ],
)
def test_metric_direction_by_name_and_last_segment(name, direction):
    assert metric_direction(name) == direction


def test_metric_directions_are_configurable(monkeypatch):
    monkeypatch.setitem(metrics.METRIC_DIRECTIONS, "latency_p99", LOWER)
    assert metric_direction("latency_p99") == LOWER
    assert metric_deltas({"latency_p99": 90}, {"latency_p99": 100})[0].verdict == "better"


def test_deltas_against_production():
    rows = {
        r.name: r
        for r in metric_deltas(
            {"accuracy": 0.9, "rmse": 0.3, "f1": 0.5, "only_here": 1.0, "same": 2.0},
            {"accuracy": 0.8, "rmse": 0.2, "f1": 0.5 + 1e-15, "only_prod": 3.0, "same": 2.0},
        )
    }
    assert rows["accuracy"].delta == pytest.approx(0.1)
    assert rows["accuracy"].relative == pytest.approx(0.125)
    assert rows["accuracy"].verdict == "better"
    assert rows["rmse"].delta == pytest.approx(0.1)
    assert rows["rmse"].verdict == "worse"  # lower is better: a higher rmse is worse
    assert rows["f1"].verdict == "same"
    assert rows["only_here"].verdict == "new" and rows["only_here"].delta is None
    assert rows["only_prod"].verdict == "missing" and rows["only_prod"].value is None
    assert rows["same"].verdict == "same"
    assert list(rows) == sorted(rows)


def test_deltas_without_production_compare_nothing():
    rows = metric_deltas({"accuracy": 0.9}, None)
    assert [(r.name, r.baseline, r.delta, r.verdict) for r in rows] == [("accuracy", None, None, "new")]


def test_deltas_ignore_values_that_are_not_finite_numbers():
    rows = {r.name: r for r in metric_deltas({"a": float("nan"), "b": "high", "c": 1.0}, {"a": 1.0, "b": 1.0, "c": 0})}
    assert rows["a"].verdict == "missing"
    assert rows["b"].verdict == "missing"
    assert rows["c"].delta == 1.0 and rows["c"].relative is None  # no percentage of a zero baseline


def test_params_diff_puts_differences_first():
    rows = params_diff({"depth": "5", "lr": "0.1", "new": "x"}, {"depth": "3", "lr": "0.1", "gone": "y"})
    assert [(r.name, r.status) for r in rows] == [
        ("depth", "changed"),
        ("new", "added"),
        ("gone", "removed"),
        ("lr", "same"),
    ]


def test_key_metrics_are_the_most_common_and_include_the_sorted_one():
    dicts = [{"a": 1, "b": 2}, {"a": 1, "c": 3}, {"a": 1, "b": 1}, {"z": 1}]
    assert key_metric_names(dicts, limit=2) == ["a", "b"]
    assert key_metric_names(dicts, limit=2, must_include="z") == ["a", "z"]
    headline = [{"accuracy_east": 1, "roc_auc": 1, "accuracy": 1, "zeta": 1}]
    assert key_metric_names(headline, limit=3) == ["accuracy", "roc_auc", "accuracy_east"]


class V:
    def __init__(self, version, value, stage="None"):
        self.version, self.stage = version, stage
        self.metrics = {} if value is None else {"acc": value}
        self.url = f"/v/{version}/"


def test_chart_places_points_by_version_and_value():
    chart = metric_chart("acc", [V(3, 0.9, "Production"), V(1, 0.5), V(2, None), V(4, 0.7)])
    assert [p.version for p in chart.points] == [1, 3, 4]  # v2 has no value
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs) and xs[0] == chart.left and xs[-1] == chart.right
    ys = {p.version: p.y for p in chart.points}
    assert ys[3] < ys[4] < ys[1]  # higher value, higher on screen
    assert chart.top <= min(ys.values()) and max(ys.values()) <= chart.bottom
    assert chart.points[1].stage == "Production"
    assert all(chart.top <= t.y <= chart.bottom for t in chart.y_ticks)


def test_chart_of_one_value_and_of_no_value():
    single = metric_chart("acc", [V(1, 0.5)])
    assert len(single.points) == 1 and chart_inside(single)
    assert metric_chart("acc", [V(1, None)]) is None


def chart_inside(chart):
    return all(chart.left <= p.x <= chart.right and chart.top <= p.y <= chart.bottom for p in chart.points)


def change(version, from_value, to_value, hours, kind="stage", alias=""):
    at = T0 + dt.timedelta(hours=hours)
    return StageChange(
        model_name="m",
        version=version,
        kind=kind,
        alias=alias,
        from_value=from_value,
        to_value=to_value,
        mlflow_timestamp=at if kind == "stage" else None,
        seen_at=at,
    )


def intervals(timeline, label):
    lane = next(lane for lane in timeline.lanes if lane.label == label)
    return [(i.version, i.start, i.end) for i in lane.intervals]


def at(hours):
    return T0 + dt.timedelta(hours=hours)


def test_timeline_follows_the_sequence_of_transitions():
    changes = [
        change(1, "", "Staging", 1),
        change(1, "Staging", "Production", 2),
        change(2, "", "Staging", 3),
        change(2, "Staging", "Production", 5),
        change(1, "Production", "Archived", 5),
        change(3, "", "Staging", 6),
        change(1, "", "champion", 2, kind="alias", alias="champion"),
        change(1, "champion", "", 5, kind="alias", alias="champion"),
        change(2, "", "champion", 5, kind="alias", alias="champion"),
    ]
    timeline = stage_timeline(reversed(changes), now=at(10))
    assert intervals(timeline, "Production") == [(1, at(2), at(5)), (2, at(5), None)]
    assert intervals(timeline, "Staging") == [(1, at(1), at(2)), (2, at(3), at(5)), (3, at(6), None)]
    assert intervals(timeline, "champion") == [(1, at(2), at(5)), (2, at(5), None)]
    assert timeline.start == at(1) and timeline.end == at(10)
    production = next(lane for lane in timeline.lanes if lane.label == "Production")
    assert [i.track for i in production.intervals] == [0, 0]  # v2 took over as v1 left: one row
    first, second = production.intervals
    assert first.left == pytest.approx(100 / 9, abs=0.01) and first.width == pytest.approx(300 / 9, abs=0.01)
    assert second.left + second.width == pytest.approx(100, abs=0.01)


def test_timeline_keeps_concurrent_holders_apart_and_history_before_the_first_sync():
    changes = [
        change(1, "Production", "Archived", 4),  # held Production before the mirror's history began
        change(2, "None", "Production", 2),
        change(3, "None", "Production", 3),  # no archiving: two versions in Production at once
    ]
    timeline = stage_timeline(changes, now=at(6))
    production = next(lane for lane in timeline.lanes if lane.label == "Production")
    assert [(i.version, i.start, i.end) for i in production.intervals] == [
        (1, None, at(4)),
        (2, at(2), None),
        (3, at(3), None),
    ]
    assert len({i.track for i in production.intervals}) == 3
    assert production.intervals[0].left == 0


def test_empty_timeline():
    timeline = stage_timeline([], now=T0)
    assert timeline.is_empty and [lane.label for lane in timeline.lanes] == ["Production", "Staging"]


@pytest.mark.parametrize("name", ["Churn", "with space", "<script>alert('x')", "ünïcode+plus&amp", "100%"])
def test_model_urls_match_reverse(name):
    from django.urls import reverse

    urls = ModelUrls(name)
    assert urls.model == reverse("registry:model_detail", args=[name])
    assert urls.version(12) == reverse("registry:version_detail", args=[name, 12])
