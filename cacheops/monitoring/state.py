"""The state of the release, the builds, the queue and beat, read when Prometheus scrapes /metrics.

Counters of requests live in each process (cacheops/metrics.py); this is state kept elsewhere: the release state and
the operations' durations in SQL (every worker's), the queue in the broker, and the version this process serves.
Read at each scrape, never copied into a process's memory, so no scrape reports a state older than the scrape.
Each source is read with a bounded wait; one that fails is reported by `airtime_scrape_source_up` and left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, Sum
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily, Metric

from cacheops import clock, workers
from cacheops.beat import BEAT
from cacheops.keys import CATALOG
from cacheops.metrics import OPERATION_BUCKETS
from cacheops.models import Beacon, Family, OperationTiming, PendingChange
from cacheops.read.reader import Reader
from cacheops.release import airtime
from cms.enqueue import broker_glance

logger = logging.getLogger(__name__)
BROKER_TIMEOUT_S = 1.0


def _ts(at: datetime) -> float:
    return at.timestamp()


class StateCollector:
    """A prometheus_client collector of the state above, for one scrape answered by the process holding `reader`
    (None in a process that has served no request yet: it serves no version)."""

    def __init__(self, reader: Reader | None) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "airtime_scrape_source_up", "1 when this scrape could read the source, 0 when it failed", labels=["source"]
        )
        for source, read in (("reader", self._served), ("sql", self._sql), ("broker", self._broker)):
            try:
                yield from read()
            except Exception:
                logger.warning("/metrics could not read the %s state", source, exc_info=True)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
        limits = GaugeMetricFamily(
            "airtime_shared_cache_limit", "The shared cache's limits as configured (the quota)", labels=["limit"]
        )
        limits.add_metric(["ops_per_second"], settings.CACHEOPS_SHARED_CACHE_QUOTA)
        limits.add_metric(["bytes_per_second"], settings.CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB * 1024)
        yield limits
        yield up

    def _served(self) -> Iterator[Metric]:
        held = self.reader.current() if self.reader is not None else None
        if held is None:
            return
        served = InfoMetricFamily("airtime_catalog_served", "The catalog version this process serves")
        served.add_metric([], {"version": held.version})
        yield served
        yield GaugeMetricFamily(
            "airtime_catalog_as_of_timestamp_seconds",
            "The instant the served catalog was built as of (its age is time() minus this)",
            value=_ts(held.as_of),
        )

    def _sql(self) -> Iterator[Metric]:
        row = Family.objects.filter(name=CATALOG).first()
        info = InfoMetricFamily("airtime_catalog_release", "The catalog's release state: current and staged version")
        info.add_metric(
            [],
            {
                "current": row.current_version if row else "",
                "staged": row.staged_version if row else "",
                "latest": row.latest_version if row else "",
            },
        )
        yield info
        pinned = row is not None and row.pinned_at is not None
        yield GaugeMetricFamily(
            "airtime_catalog_pinned", "1 while ops hold a version current (a rollback)", value=pinned
        )
        if row is not None and row.staged_at is not None:
            yield GaugeMetricFamily(
                "airtime_catalog_staged_for_timestamp_seconds",
                "The instant the staged version becomes current",
                value=_ts(row.staged_at),
            )
        unready = GaugeMetricFamily(
            "airtime_airtime_unready",
            "1 while a content boundary is near with no verified version staged for it (unstaged), or falls inside "
            "a pin (pinned)",
            labels=["reason"],
        )
        boundary = airtime.unready()
        unready.add_metric(["unstaged"], boundary is not None and not pinned)
        unready.add_metric(["pinned"], boundary is not None and pinned)
        yield unready

        waiting = PendingChange.objects.filter(family=CATALOG).aggregate(n=Count("pk"), oldest=Min("created_at"))
        yield GaugeMetricFamily(
            "airtime_edits_waiting", "Edits saved and not yet in a published catalog", value=waiting["n"]
        )
        oldest = waiting["oldest"] or clock.now()
        yield GaugeMetricFamily(
            "airtime_edits_oldest_waiting_seconds",
            "How long the oldest edit not yet published has waited (0 when none waits)",
            value=max(0.0, (clock.now() - oldest).total_seconds()),
        )
        yield GaugeMetricFamily(
            "airtime_workers_alive",
            "Celery workers that showed a sign of life within their last three heartbeats",
            value=workers.workers_alive(),
        )
        beat = Beacon.objects.filter(name=BEAT).first()
        if beat is not None:
            yield GaugeMetricFamily(
                "airtime_beat_last_tick_timestamp_seconds", "When Celery beat last recorded it runs", value=_ts(beat.at)
            )
        yield self._operations()

    def _operations(self) -> Metric:
        histogram = HistogramMetricFamily(
            "airtime_operation_seconds",
            "Cache operations (builds, invalidations, prewarms...) by kind and result, and how long they took",
            labels=["kind", "result"],
        )
        counted: dict[tuple[str, str], dict[int, tuple[int, float]]] = {}
        rows = OperationTiming.objects.values("kind", "result", "bucket").annotate(n=Sum("count"), s=Sum("seconds"))
        for row in rows:
            counted.setdefault((row["kind"], row["result"]), {})[row["bucket"]] = (row["n"], row["s"])
        for (kind, result), buckets in sorted(counted.items()):
            cumulative, total = [], 0
            for index, bound in enumerate((*OPERATION_BUCKETS, float("inf"))):
                total += buckets.get(index, (0, 0.0))[0]
                cumulative.append(("+Inf" if bound == float("inf") else str(bound), total))
            histogram.add_metric([kind, result], cumulative, sum(s for _, s in buckets.values()))
        return histogram

    def _broker(self) -> Iterator[Metric]:
        # Bounded whatever the broker does: one that accepts connections but does not answer holds a thread of its
        # own until its socket timeouts, not the scrape.
        depth = broker_glance(timeout_s=BROKER_TIMEOUT_S, workers=0).depth
        if depth is None:
            raise TimeoutError(f"the broker did not answer within {BROKER_TIMEOUT_S:g} s")
        yield GaugeMetricFamily("airtime_queue_depth", "Tasks waiting in the broker's queue for a worker", value=depth)
