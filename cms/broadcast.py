"""Broadcast-day time notation: "25:30" on the 26th is 01:30 on the 27th (JST)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
# Broadcast days run until 05:00 the next morning, so hours 24..29 are allowed.
BROADCAST_LAST_HOUR = 29
# Every stored time falls in this window: far enough for any schedule, and clear of the
# year 1 / year 9999 edges where converting to UTC overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=JST)
LATEST = datetime(2100, 1, 1, tzinfo=JST)
_PATTERN = re.compile(r"^\s*(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2}))?\s*$")


class OutOfWindow(ValueError):
    """A well-formed time outside EARLIEST..LATEST."""


def time_in_window(value: datetime) -> bool:
    """Whether `value` falls between EARLIEST and LATEST (both included)."""
    return EARLIEST <= value <= LATEST


def broadcast_parse(text: str) -> datetime:
    """Parse "YYYY-MM-DD HH:MM" in JST, hours up to 29 rolling into the next day."""
    match = _PATTERN.match(text or "")
    if not match:
        raise ValueError(text)
    hour, minute = int(match["H"] or 0), int(match["M"] or 0)
    if hour > BROADCAST_LAST_HOUR or minute > 59:
        raise ValueError(text)
    day = date(int(match["y"]), int(match["m"]), int(match["d"]))
    # Checked before adding hours: 9999-12-31 29:59 would overflow.
    if not EARLIEST.year - 1 <= day.year <= LATEST.year:
        raise OutOfWindow(text)
    moment = datetime.combine(day, time(0, minute), tzinfo=JST) + timedelta(hours=hour)
    if not time_in_window(moment):
        raise OutOfWindow(text)
    return moment


def clock_format(value: datetime, *, seconds: bool = False) -> str:
    """Format as plain JST clock time, e.g. 2026-11-27 01:30 (2026-11-27 01:30:15 with `seconds`)."""
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def broadcast_format(value: datetime, *, seconds: bool = False) -> str | None:
    """Format early-morning times as the previous broadcast day, e.g. 2026-11-26 25:30 (25:30:15 with `seconds`)."""
    local = value.astimezone(JST)
    if local.hour >= BROADCAST_LAST_HOUR - 24:
        return None
    previous = local - timedelta(days=1)
    clock = f"{local.hour + 24:02d}:{local.minute:02d}" + (f":{local.second:02d}" if seconds else "")
    return f"{previous:%Y-%m-%d} {clock}"


def utc_format(value: datetime) -> str:
    """Format as UTC to the second, e.g. 2026-11-26 16:30:15."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def jst_utc_format(value: datetime) -> str:
    """A time to the second in JST (its broadcast-day form beside it after midnight), then in UTC, as plain text:
    2026-11-27 01:30:15 JST (2026-11-26 25:30:15) / 2026-11-26 16:30:15 UTC."""
    alt = broadcast_format(value, seconds=True)
    jst = f"{clock_format(value, seconds=True)} JST" + (f" ({alt})" if alt else "")
    return f"{jst} / {utc_format(value)} UTC"
