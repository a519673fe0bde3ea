"""The geometry of a family's traffic chart: requests per second (left axis) and the hit rate in percent (right
axis) for each minute of the last hour, builds marked on the time axis.

The template draws it as inline SVG with classes only (the policy allows no style attribute); coordinates are
strings here so that number localisation never reaches them. The two series have an axis each, so neither hides
the other: the requests line is drawn last, solid and thicker; the hit rate dashed beneath it. A minute without
requests has no hit rate: its line breaks there rather than dropping to zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from cms.broadcast import JST, jst_utc_format

from ..models import Operation, TrafficMinute
from .summaries import FAILED_RESULTS, RESULT_LABELS

WIDTH, HEIGHT = 760, 264
LEFT, RIGHT, TOP, BOTTOM = 70, 690, 44, 220
TICK_EVERY_MINUTES = 15
# Build marks: a triangle on the time axis, its tip on the axis, below the plot.
MARK_SIZE = 7
LEGEND_Y = 16


@dataclass(frozen=True)
class Series:
    css_class: str
    label: str
    path: str


@dataclass(frozen=True)
class Mark:
    x: str
    head: str
    css_class: str
    title: str


@dataclass(frozen=True)
class Tick:
    at: str
    label: str


@dataclass(frozen=True)
class LegendEntry:
    css_class: str
    label: str
    x: str
    line_end: str
    text_x: str
    mark: bool = False

    @property
    def mark_path(self) -> str:
        """The build mark's triangle, as drawn on the time axis, beside its label."""
        x, y = float(self.x) + 10, LEGEND_Y
        return f"M{x:.1f},{y - 6} L{x - MARK_SIZE:.1f},{y + 5} L{x + MARK_SIZE:.1f},{y + 5} Z"


@dataclass(frozen=True)
class Chart:
    series: list[Series]
    marks: list[Mark]
    x_ticks: list[Tick]
    left_ticks: list[Tick]
    right_ticks: list[Tick]
    legend: list[LegendEntry]
    left_title: str
    right_title: str
    x_title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM
    middle: str = f"{(TOP + BOTTOM) / 2:.1f}"
    middle_x: str = f"{(LEFT + RIGHT) / 2:.1f}"
    left_title_x: int = 16
    right_title_x: int = WIDTH - 14
    tick_y: int = BOTTOM + MARK_SIZE + 16
    x_title_y: int = HEIGHT - 8
    legend_y: int = LEGEND_Y
    # The axis titles stand upright along their axes.
    left_title_transform: str = f"rotate(-90 16 {(TOP + BOTTOM) / 2:.1f})"
    right_title_transform: str = f"rotate(90 {WIDTH - 14} {(TOP + BOTTOM) / 2:.1f})"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 when there is nothing to show)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value * (1 - 1e-9))


def _number(value: float) -> str:
    """An axis figure: whole numbers as they are, fractions with up to three significant digits."""
    return f"{value:.0f}" if value == int(value) else f"{value:.3g}"


def _x(minutes: float, count: int) -> float:
    return LEFT + (RIGHT - LEFT) * minutes / max(1, count - 1)


def _y(value: float, y_max: float) -> float:
    return BOTTOM - (BOTTOM - TOP) * value / y_max


def _path(values: list[float | None], y_max: float) -> str:
    """An SVG path through the values, broken where a value is missing."""
    steps, pen_down = [], False
    for i, value in enumerate(values):
        if value is None:
            pen_down = False
            continue
        steps.append(f"{'L' if pen_down else 'M'}{_x(i, len(values)):.1f},{_y(value, y_max):.1f}")
        pen_down = True
    return " ".join(steps)


def _mark(build: Operation, start: datetime, count: int) -> Mark:
    minutes = min(max((build.started_at - start).total_seconds() / 60, 0), count - 1)
    x = _x(minutes, count)
    css = "build-failed" if build.result in FAILED_RESULTS else "build-running" if not build.result else "build-done"
    result = RESULT_LABELS.get(build.result, build.result) if build.result else _("running")
    title = _("Build at %(time)s: %(result)s") % {"time": jst_utc_format(build.started_at), "result": result}
    head = f"M{x:.1f},{BOTTOM} L{x - MARK_SIZE:.1f},{BOTTOM + MARK_SIZE * 1.6:.1f} L{x + MARK_SIZE:.1f},"
    return Mark(f"{x:.1f}", head + f"{BOTTOM + MARK_SIZE * 1.6:.1f} Z", css, title)


def _legend() -> list[LegendEntry]:
    entries, x = [], float(LEFT)
    for css, label, mark in (
        ("requests", _("Requests/s (left axis)"), False),
        ("hit-rate", _("Hit rate, % (right axis)"), False),
        ("build", _("Build (on the time axis)"), True),
    ):
        entries.append(LegendEntry(css, label, f"{x:.1f}", f"{x + 20:.1f}", f"{x + 26:.1f}", mark))
        # Wide enough for the longest label in either language at the legend's size.
        x += 210
    return entries


def traffic_chart(start: datetime, rows: dict[datetime, TrafficMinute], builds: list[Operation], count: int) -> Chart:
    """The chart of `count` minutes from `start` (rows missing for a minute count as no traffic)."""
    minutes = [start + timedelta(minutes=i) for i in range(count)]
    found = [rows.get(m) for m in minutes]
    per_second = [(row.requests if row else 0) / 60 for row in found]
    hit_rate = [100 * row.l1_hits / row.requests if row and row.requests else None for row in found]
    y_max = nice_ceiling(max(per_second))
    series = [
        Series("hit-rate", _("Hit rate (%)"), _path(hit_rate, 100)),
        Series("requests", _("Requests/s"), _path(per_second, y_max)),
    ]
    x_ticks = [
        Tick(f"{_x(i, count):.1f}", minute.astimezone(JST).strftime("%H:%M"))
        for i, minute in enumerate(minutes)
        if minute.minute % TICK_EVERY_MINUTES == 0
    ]
    left_ticks = [Tick(f"{_y(v, y_max):.1f}", _number(v)) for v in (0, y_max / 2, y_max)]
    right_ticks = [Tick(f"{_y(v, 100):.1f}", f"{v}%") for v in (0, 50, 100)]
    return Chart(
        series=series,
        marks=[_mark(build, start, count) for build in builds],
        x_ticks=x_ticks,
        left_ticks=left_ticks,
        right_ticks=right_ticks,
        legend=_legend(),
        left_title=_("Requests per second (req/s)"),
        right_title=_("Hit rate (%)"),
        x_title=_("Time (JST), one point per minute"),
        description=_("Requests per second and hit rate per minute over the last hour, builds marked"),
    )
