"""Which version held Production (Staging, an alias) from when to when, built from ``StageChange`` rows.

MLflow keeps only the current stage and alias targets; the mirror records each change sync sees.
A change's time is MLflow's ``last_updated_timestamp`` when it has one (stage transitions bump it),
else when sync saw it (alias moves bump nothing). History starts at the first sync that saw the
model: a version already in a stage then gets an interval from that moment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .models import StageChange

TIMELINE_STAGES = ("Production", "Staging")


@dataclass
class Interval:
    version: int
    start: dt.datetime | None  # None: held since before the history begins
    end: dt.datetime | None = None  # None: holds it now
    track: int = 0
    left: float = 0.0  # percent of the timeline's width, for the bar
    width: float = 0.0
    url: str = ""  # the version's page, filled in by the selector


@dataclass
class Lane:
    label: str
    kind: str  # "stage" or "alias"
    intervals: list[Interval] = field(default_factory=list)

    @property
    def tracks(self) -> int:
        return max((i.track for i in self.intervals), default=0) + 1


@dataclass
class Timeline:
    lanes: list[Lane]
    start: dt.datetime | None
    end: dt.datetime

    @property
    def is_empty(self) -> bool:
        return not any(lane.intervals for lane in self.lanes)


def _when(change: StageChange) -> dt.datetime:
    return change.mlflow_timestamp or change.seen_at


def stage_timeline(changes, *, now: dt.datetime) -> Timeline:
    """Lanes for Production, Staging and every alias seen, from changes of one model in any order."""
    ordered = sorted(changes, key=lambda c: (_when(c), c.seen_at, c.pk or 0))
    lanes: dict[tuple[str, str], Lane] = {
        (StageChange.KIND_STAGE, s): Lane(s, StageChange.KIND_STAGE) for s in TIMELINE_STAGES
    }
    open_intervals: dict[tuple[str, str, int], Interval] = {}

    for change in ordered:
        when = _when(change)
        if change.kind == StageChange.KIND_STAGE:
            left, entered = change.from_value, change.to_value
            key = left if left in TIMELINE_STAGES else None
            target = entered if entered in TIMELINE_STAGES else None
            kind = StageChange.KIND_STAGE
        else:
            # An alias row either leaves (from_value=alias) or lands (to_value=alias).
            key = change.alias if change.from_value else None
            target = change.alias if change.to_value else None
            kind = StageChange.KIND_ALIAS
        if key is not None:
            lane = lanes.setdefault((kind, key), Lane(key, kind))
            interval = open_intervals.pop((kind, key, change.version), None)
            if interval is None:
                interval = Interval(change.version, None)
                lane.intervals.append(interval)
            interval.end = when
        if target is not None:
            lane = lanes.setdefault((kind, target), Lane(target, kind))
            if (kind, target, change.version) not in open_intervals:
                interval = Interval(change.version, when)
                lane.intervals.append(interval)
                open_intervals[(kind, target, change.version)] = interval

    known = [i.start for lane in lanes.values() for i in lane.intervals if i.start]
    known += [i.end for lane in lanes.values() for i in lane.intervals if i.end]
    start = min(known, default=None)
    end = max([now, *known])
    ordered_lanes = [lanes[(StageChange.KIND_STAGE, s)] for s in TIMELINE_STAGES] + sorted(
        (lane for (kind, _), lane in lanes.items() if kind == StageChange.KIND_ALIAS), key=lambda lane: lane.label
    )
    for lane in ordered_lanes:
        _place(lane, start, end)
    return Timeline(ordered_lanes, start, end)


def _place(lane: Lane, start: dt.datetime | None, end: dt.datetime) -> None:
    """Bar geometry in percent, and a track per overlap so concurrent holders do not hide each other."""
    span = (end - start).total_seconds() if start else 0
    track_ends: list[dt.datetime | None] = []
    lane.intervals.sort(key=lambda i: (i.start or dt.datetime.min.replace(tzinfo=dt.UTC), i.version))
    for interval in lane.intervals:
        begin = interval.start or start or end
        finish = interval.end or end
        for track, busy_until in enumerate(track_ends):
            if busy_until is not None and busy_until <= begin:
                interval.track = track
                track_ends[track] = interval.end
                break
        else:
            interval.track = len(track_ends)
            track_ends.append(interval.end)
        if span > 0:
            interval.left = round((begin - start).total_seconds() / span * 100, 3)
            interval.width = round(max((finish - begin).total_seconds() / span * 100, 0.5), 3)
        else:
            interval.left, interval.width = 0.0, 100.0
