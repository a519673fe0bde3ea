"""The wall clock by which readers switch to a staged version and cap cache lifetimes (a seam tests control)."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware."""
    return datetime.now(UTC)


def now_seconds() -> datetime:
    """The current instant in whole seconds, as stored times and schedules are kept."""
    return now().replace(microsecond=0)
