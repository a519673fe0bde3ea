"""The wall clock by which readers switch to a staged version and cap cache lifetimes (a seam tests control)."""

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware."""
    return datetime.now(UTC)
