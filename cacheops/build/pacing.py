"""Spread bursts of cache operations so a build stays inside the shared cache's quota (Momento: 100 ops/s)."""

from __future__ import annotations

import time


class Pace:
    """Let at most `per_second` operations through per second on average, sleeping when ahead."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / per_second
        self.next_at = time.monotonic()

    def spend(self, operations: int) -> None:
        """Wait until `operations` more may start, then count them."""
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + operations * self.interval
