"""Counters of the read path and of builds: in-process for /metrics, and per-minute rows in SQL for the console.

Counting never touches the network: prometheus_client keeps its values in memory (in memory-mapped files when
PROMETHEUS_MULTIPROC_DIR is set, so the workers of one server add up), and the per-minute counts wait in memory
until `minutes_flush` adds them to SQL, at most every CACHEOPS_METRICS_FLUSH_SECONDS, off the request path.

A request costs one dictionary update: what it adds to the Prometheus counters and histogram waits in a batch
that `counters_flush` hands over each second (the process's timer) and before each scrape of this process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from datetime import UTC, datetime
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import F
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from cacheops import clock
from cms.processes import process_alive

from .models import OperationTiming, TrafficMinute

logger = logging.getLogger(__name__)

REQUESTS = Counter("airtime_requests", "Read API requests answered", ["family", "status"])
L1_HITS = Counter("airtime_l1_hits", "Requests answered from this process's memory", ["family"])
SHARED_CACHE_OPS = Counter("airtime_shared_cache_ops", "Operations sent to the shared cache", ["op", "result"])
BUILDS = Counter("airtime_cache_builds", "Builds run", ["family", "trigger"])
BYTES_SERVED = Counter("airtime_bytes_served", "Body bytes sent by the read API", ["family"])
ERRORS = Counter("airtime_errors", "Errors met while serving or polling", ["family", "kind"])
SHARED_CACHE_BYTES = Counter(
    "airtime_shared_cache_read_bytes", "Bytes read from the shared cache by readers", ["family"]
)
EVENTS_OPEN = Gauge(
    "airtime_events_connections",
    "Server-Sent Events connections open on /api/catalog/events",
    multiprocess_mode="livesum",
)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_SECONDS = Histogram(
    "airtime_request_seconds",
    "Time to answer a read API request, per endpoint",
    ["endpoint"],
    buckets=REQUEST_BUCKETS,
)

# Upper bounds (seconds) of the operation duration histogram's buckets; builds take seconds to minutes.
OPERATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# Who asked for a build, as the `trigger` label: the beat sweeps, a reader's miss, a command, or a person.
TRIGGERS = {"beat": "beat", "reader": "miss", "cli": "command"}

_pending: Tally[tuple[str, datetime, str]] = Tally()
_pending_lock = threading.Lock()


def _minute(now: datetime | None = None) -> datetime:
    return (now or clock.now()).replace(second=0, microsecond=0)


def _tally(family: str, **counts: int) -> None:
    _tally_at(family, _minute(), **counts)


def _tally_at(family: str, minute: datetime, **counts: int) -> None:
    with _pending_lock:
        for field, n in counts.items():
            _pending[family, minute, field] += n


# Requests answered since the last flush: (endpoint, bucket, family, status, row, l1 hit, minute) -> [count, bytes,
# seconds]. One entry per distinct answer, so its size is bounded by the routes, statuses and programs read.
_served: dict[tuple, list] = {}
_served_lock = threading.Lock()
_BOUNDS = (*REQUEST_BUCKETS, float("inf"))  # the histogram's buckets, as prometheus_client keeps them


def request_served(
    endpoint: str,
    seconds: float,
    family: str | None = None,
    status: int = 200,
    *,
    row: str | None = None,
    l1_hit: bool = True,
    body_bytes: int = 0,
) -> None:
    """Count one request to `endpoint` answered in `seconds`: under the label `family` (None: a request not counted
    per family) and in the per-minute `row` (None: no row). An L1 hit is an answer that did not wait on the shared
    cache."""
    key = (endpoint, bisect_left(_BOUNDS, seconds), family, status, row, l1_hit, int(time.time()) // 60)
    with _served_lock:
        entry = _served.get(key)
        if entry is None:
            _served[key] = [1, body_bytes, seconds]
        else:
            entry[0] += 1
            entry[1] += body_bytes
            entry[2] += seconds


def counters_flush() -> None:
    """Add the requests counted since the last flush to the Prometheus counters and the per-minute tallies."""
    global _served
    with _served_lock:
        served, _served = _served, {}
    timings: dict[tuple[str, int], list] = {}
    for (endpoint, bucket, family, status, row, l1_hit, minute), (n, nbytes, seconds) in served.items():
        timing = timings.setdefault((endpoint, bucket), [0, 0.0])
        timing[0] += n
        timing[1] += seconds
        if family is None:
            continue
        REQUESTS.labels(family, str(status)).inc(n)
        if l1_hit:
            L1_HITS.labels(family).inc(n)
        if nbytes:
            BYTES_SERVED.labels(family).inc(nbytes)
        if row is not None:
            at = datetime.fromtimestamp(minute * 60, UTC)
            _tally_at(row, at, requests=n, l1_hits=n if l1_hit else 0, misses=0 if l1_hit else n, bytes_served=nbytes)
    for (endpoint, bucket), (n, seconds) in timings.items():
        _histogram_add(REQUEST_SECONDS.labels(endpoint), bucket, n, seconds)


def _histogram_add(histogram: Histogram, bucket: int, n: int, seconds: float) -> None:
    """Add `n` observations totalling `seconds` that all fell in `bucket`, as `n` calls of observe() would."""
    # prometheus_client observes one value at a time; its bucket and sum values are what observe() increments.
    histogram._sum.inc(seconds)
    histogram._buckets[bucket].inc(n)


def events_connected(change: int) -> None:
    """One events connection opened (+1) or closed (-1)."""
    EVENTS_OPEN.inc(change)


def shared_cache_count(family: str, op: str, result: str, n: int = 1, *, nbytes: int = 0) -> None:
    """Count `n` operations sent to the shared cache for `family` (`result`: hit, miss or error), `nbytes` read."""
    if n:
        SHARED_CACHE_OPS.labels(op, result).inc(n)
        _tally(family, cache_ops=n)
    if nbytes:
        SHARED_CACHE_BYTES.labels(family).inc(nbytes)
        _tally(family, cache_bytes=nbytes)


def error_count(family: str, kind: str) -> None:
    """Count one error met while serving or polling `family`."""
    ERRORS.labels(family, kind).inc()
    _tally(family, errors=1)


def build_count(family: str, requested_by: str) -> None:
    """Count one build, in this process's counters and at once in SQL (builds are rare, a worker has no flusher)."""
    BUILDS.labels(family, TRIGGERS.get(requested_by, "editor")).inc()
    _add(family, _minute(), {"builds": 1})


def operation_time(kind: str, result: str, seconds: float) -> None:
    """Count one finished operation in SQL, where /metrics reads every worker's (cacheops/monitoring/state.py)."""
    bucket = next((i for i, bound in enumerate(OPERATION_BUCKETS) if seconds <= bound), len(OPERATION_BUCKETS))
    rows = OperationTiming.objects.filter(kind=kind[:20], result=result[:20], bucket=bucket)
    if rows.update(count=F("count") + 1, seconds=F("seconds") + seconds):
        return
    try:
        with transaction.atomic():
            OperationTiming.objects.create(kind=kind[:20], result=result[:20], bucket=bucket, count=1, seconds=seconds)
    except IntegrityError:
        rows.update(count=F("count") + 1, seconds=F("seconds") + seconds)  # another process created the row first


def minutes_flush() -> int:
    """Add the counts waiting in memory to their per-minute rows; return how many rows were written."""
    counters_flush()
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


def exposition(*collectors: Collector) -> tuple[bytes, str]:
    """This server's counters in the Prometheus text format, summed over its worker processes when there are several,
    followed by what `collectors` read at this moment."""
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _exited_forget(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    now = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        now.register(collector)
    return counted + generate_latest(now), CONTENT_TYPE_LATEST


def _exited_forget(directory: str) -> None:
    """Forget the live gauges of worker processes that are gone (one the server replaced): their files would count
    them still. Their counters are kept. The server has no hook for a worker's exit, so each scrape looks."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not process_alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)


# -- Celery workers: how many are alive, as this process's timer last read it from SQL, for /healthz --
# (/metrics reads SQL itself at each scrape: cacheops/monitoring/state.py)

_workers_seen: tuple[int, float] | None = None


def workers_alive_set(alive: int) -> None:
    """Record how many workers are alive (the timer's reading)."""
    global _workers_seen
    _workers_seen = (alive, time.monotonic())


def workers_alive_seen(within_s: float) -> int | None:
    """How many workers were alive at this process's last reading, or None if it read none within `within_s`."""
    seen = _workers_seen
    if seen is None or time.monotonic() - seen[1] > within_s:
        return None
    return seen[0]
