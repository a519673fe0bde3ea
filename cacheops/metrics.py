"""Counters of the read path and of builds: in-process for /metrics, and per-minute rows in SQL for the console.

Counting never touches the network: prometheus_client keeps its values in memory (in memory-mapped files when
PROMETHEUS_MULTIPROC_DIR is set, so the workers of one server add up), and the per-minute counts wait in memory
until `minutes_flush` adds them to SQL, at most every CACHEOPS_METRICS_FLUSH_SECONDS, off the request path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter as Tally
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cacheops import clock

from .models import TrafficMinute

logger = logging.getLogger(__name__)

REQUESTS = Counter("airtime_requests", "Read API requests answered", ["family", "status"])
L1_HITS = Counter("airtime_l1_hits", "Requests answered from this process's memory", ["family"])
SHARED_CACHE_OPS = Counter("airtime_shared_cache_ops", "Operations sent to the shared cache", ["op", "result"])
BUILDS = Counter("airtime_cache_builds", "Builds run", ["family", "trigger"])
BYTES_SERVED = Counter("airtime_bytes_served", "Body bytes sent by the read API", ["family"])
ERRORS = Counter("airtime_errors", "Errors met while serving or polling", ["family", "kind"])

# Who asked for a build, as the `trigger` label: the beat sweeps, a reader's miss, a command, or a person.
TRIGGERS = {"beat": "beat", "reader": "miss", "cli": "command"}

_pending: Tally[tuple[str, datetime, str]] = Tally()
_pending_lock = threading.Lock()


def _minute(now: datetime | None = None) -> datetime:
    return (now or clock.now()).replace(second=0, microsecond=0)


def _tally(family: str, **counts: int) -> None:
    minute = _minute()
    with _pending_lock:
        for field, n in counts.items():
            _pending[family, minute, field] += n


def request_count(family: str, status: int, *, row: str | None, l1_hit: bool, body_bytes: int) -> None:
    """Count one answered request under the label `family` and the per-minute `row` (None: no row).

    An L1 hit is a request answered without waiting on the shared cache.
    """
    REQUESTS.labels(family, str(status)).inc()
    if l1_hit:
        L1_HITS.labels(family).inc()
    if body_bytes:
        BYTES_SERVED.labels(family).inc(body_bytes)
    if row is not None:
        _tally(row, requests=1, l1_hits=int(l1_hit), misses=int(not l1_hit), bytes_served=body_bytes)


def shared_cache_count(family: str, op: str, result: str, n: int = 1) -> None:
    """Count `n` operations sent to the shared cache for `family` (`result`: hit, miss or error)."""
    if n:
        SHARED_CACHE_OPS.labels(op, result).inc(n)
        _tally(family, cache_ops=n)


def error_count(family: str, kind: str) -> None:
    """Count one error met while serving or polling `family`."""
    ERRORS.labels(family, kind).inc()
    _tally(family, errors=1)


def build_count(family: str, requested_by: str) -> None:
    """Count one build, in this process's counters and at once in SQL (builds are rare, a worker has no flusher)."""
    BUILDS.labels(family, TRIGGERS.get(requested_by, "editor")).inc()
    _add(family, _minute(), {"builds": 1})


def minutes_flush() -> int:
    """Add the counts waiting in memory to their per-minute rows; return how many rows were written."""
    with _pending_lock:
        waiting = dict(_pending)
        _pending.clear()
    rows: dict[tuple[str, datetime], dict[str, int]] = {}
    for (family, minute, field), n in waiting.items():
        rows.setdefault((family, minute), {})[field] = n
    written = 0
    try:
        for (family, minute), counts in rows.items():
            _add(family, minute, counts)
            written += 1
    except Exception:
        # Counts not written go back: the next flush tries again.
        with _pending_lock:
            for family, minute in list(rows)[written:]:
                for field, n in rows[family, minute].items():
                    _pending[family, minute, field] += n
        raise
    return written


def _add(family: str, minute: datetime, counts: dict[str, int]) -> None:
    increments = {field: F(field) + n for field, n in counts.items() if n}
    if not increments:
        return
    rows = TrafficMinute.objects.filter(family=family, minute=minute)
    if rows.update(**increments):
        return
    try:
        with transaction.atomic():
            TrafficMinute.objects.create(family=family, minute=minute, **{f: n for f, n in counts.items() if n})
    except IntegrityError:
        rows.update(**increments)  # another process created the row first


def exposition() -> tuple[bytes, str]:
    """This server's counters in the Prometheus text format, summed over its worker processes when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Let the server forget the live values of a worker process that exited (its counters are kept)."""
    multiprocess.mark_process_dead(pid)


# -- Celery workers: how many are alive, as each web process's timer last read it from SQL --

WORKERS_ALIVE = Gauge(
    "airtime_workers_alive",
    "Celery workers that showed a sign of life within their last three heartbeats",
    multiprocess_mode="livemax",
)
_workers_seen: tuple[int, float] | None = None


def workers_alive_set(alive: int) -> None:
    """Record how many workers are alive (the timer's reading)."""
    global _workers_seen
    WORKERS_ALIVE.set(alive)
    _workers_seen = (alive, time.monotonic())


def workers_alive_seen(within_s: float) -> int | None:
    """How many workers were alive at this process's last reading, or None if it read none within `within_s`."""
    seen = _workers_seen
    if seen is None or time.monotonic() - seen[1] > within_s:
        return None
    return seen[0]
