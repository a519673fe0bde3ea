"""The geometry of a family's traffic chart: requests, hits and misses per minute, builds marked.

The template draws it as inline SVG with classes only (the policy allows no style attribute); coordinates are
strings here so that number localisation never reaches them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.broadcast import JST

from ..models import Operation, TrafficMinute
from .summaries import FAILED_RESULTS, RESULT_LABELS

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 712, 12, 190
TICK_EVERY_MINUTES = 15
SERIES = (
    ("requests", "requests", gettext_lazy("Requests")),
    ("l1_hits", "hits", gettext_lazy("Hits")),
    ("misses", "misses", gettext_lazy("Misses")),
)


@dataclass(frozen=True)
class Line:
    css_class: str
    label: str
    points: str


@dataclass(frozen=True)
class Mark:
    x: str
    head: str
    css_class: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: str
    label: str


@dataclass(frozen=True)
class Chart:
    lines: list[Line]
    marks: list[Mark]
    ticks: list[Tick]
    y_max: int
    y_mid: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM
    middle: str = f"{(TOP + BOTTOM) / 2:.1f}"


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 2, so the middle is whole)."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _x(minutes: float, count: int) -> float:
    return LEFT + (RIGHT - LEFT) * minutes / max(1, count - 1)


def _y(value: int, y_max: int) -> float:
    return BOTTOM - (BOTTOM - TOP) * value / y_max


def _mark(build: Operation, start: datetime, count: int) -> Mark:
    minutes = min(max((build.started_at - start).total_seconds() / 60, 0), count - 1)
    x = _x(minutes, count)
    css = "build-failed" if build.result in FAILED_RESULTS else "build-running" if not build.result else "build-done"
    when = build.started_at.astimezone(JST).strftime("%H:%M:%S")
    result = RESULT_LABELS.get(build.result, build.result) if build.result else _("running")
    title = _("Build at %(time)s: %(result)s") % {"time": when, "result": result}
    return Mark(f"{x:.1f}", f"M{x - 4:.1f},{TOP - 8} L{x + 4:.1f},{TOP - 8} L{x:.1f},{TOP} Z", css, title)


def traffic_chart(start: datetime, rows: dict[datetime, TrafficMinute], builds: list[Operation], count: int) -> Chart:
    """The chart of `count` minutes from `start` (rows missing for a minute count as zero)."""
    minutes = [start + timedelta(minutes=i) for i in range(count)]
    values = {field: [getattr(rows.get(m), field, 0) for m in minutes] for field, _css, _label in SERIES}
    y_max = nice_ceiling(max(max(series) for series in values.values()))
    lines = [
        Line(css, str(label), " ".join(f"{_x(i, count):.1f},{_y(v, y_max):.1f}" for i, v in enumerate(values[field])))
        for field, css, label in SERIES
    ]
    ticks = [
        Tick(f"{_x(i, count):.1f}", minute.astimezone(JST).strftime("%H:%M"))
        for i, minute in enumerate(minutes)
        if minute.minute % TICK_EVERY_MINUTES == 0
    ]
    return Chart(lines, [_mark(build, start, count) for build in builds], ticks, y_max, y_max // 2)
