"""The console's SQL reads: family rows, per-minute traffic, the operations log. Never the shared cache.

Every function is one query (or a fixed few) whatever the number of rows, so a page costs the same with 10 or
10,000 families.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Max, Q, QuerySet, Sum

from cacheops import oplog, workers
from cacheops.release.families import CATALOG

from ..models import Family, Operation, TrafficMinute

PROGRAM_PREFIX = "program:"
PER_PAGE = 50
RECENT_OPERATIONS = 20
CHART_MINUTES = 60


def minute_floor(moment: datetime) -> datetime:
    """The start of the minute `moment` falls in: the key of its TrafficMinute rows."""
    return moment.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Traffic:
    """Requests and L1 hits of one family over the last 5 and 60 complete minutes."""

    requests_5m: int = 0
    hits_5m: int = 0
    requests_60m: int = 0
    hits_60m: int = 0


def catalog_row() -> Family | None:
    """The catalog's row, if any build ever took a generation."""
    return Family.objects.filter(name=CATALOG).first()


def program_rows_page(search: str, page_number: int | None) -> Page:
    """One page of program family rows whose name contains `search`, by name."""
    rows = Family.objects.filter(name__startswith=PROGRAM_PREFIX).order_by("name")
    if search:
        rows = rows.filter(name__icontains=search)
    return Paginator(rows, PER_PAGE).get_page(page_number)


def family_row(name: str) -> Family | None:
    """The row of family `name`, or None."""
    return Family.objects.filter(name=name).first()


def traffic_by_family(names: Collection[str], now: datetime) -> dict[str, Traffic]:
    """Requests and hits per family over the last 5 and 60 complete minutes, in one grouped query."""
    # Complete minutes only: the current one is still being counted (processes flush every few seconds),
    # and a rate needs the whole of its denominator.
    current = minute_floor(now)
    last_5 = Q(minute__gte=current - timedelta(minutes=5))
    rows = (
        TrafficMinute.objects.filter(
            family__in=list(names), minute__gte=current - timedelta(minutes=60), minute__lt=current
        )
        .values("family")
        .annotate(
            requests_5m=Sum("requests", filter=last_5),
            hits_5m=Sum("l1_hits", filter=last_5),
            requests_60m=Sum("requests"),
            hits_60m=Sum("l1_hits"),
        )
    )
    return {
        row["family"]: Traffic(**{field: row[field] or 0 for field in Traffic.__dataclass_fields__}) for row in rows
    }


def cluster_cache_ops(now: datetime) -> tuple[int, int]:
    """Shared-cache operations of the whole cluster in the last complete minute and the last 5."""
    current = minute_floor(now)
    totals = TrafficMinute.objects.filter(minute__gte=current - timedelta(minutes=5), minute__lt=current).aggregate(
        last_1=Sum("cache_ops", filter=Q(minute__gte=current - timedelta(minutes=1))),
        last_5=Sum("cache_ops"),
    )
    return totals["last_1"] or 0, totals["last_5"] or 0


def silent_since(now: datetime) -> datetime:
    """An operation without a result whose last sign of life is older than this is not running any more."""
    return oplog.silent_since(now)


def _alive(now: datetime) -> Q:
    cutoff = silent_since(now)
    return Q(result="") & (Q(heartbeat_at__gte=cutoff) | Q(heartbeat_at__isnull=True, started_at__gte=cutoff))


def running_families(names: Collection[str], now: datetime) -> set[str]:
    """Which of `names` have an operation running (no result yet, a recent heartbeat)."""
    running = Operation.objects.filter(_alive(now), family__in=list(names)).order_by()
    return set(running.values_list("family", flat=True).distinct())


def last_results(names: Collection[str]) -> dict[str, str]:
    """The result of the latest finished operation of each of `names` (ids grow with start time)."""
    latest = (
        Operation.objects.filter(family__in=list(names))
        .exclude(result="")
        .order_by()
        .values("family")
        .annotate(last=Max("id"))
        .values("last")
    )
    return dict(Operation.objects.filter(id__in=latest).order_by().values_list("family", "result"))


def family_minutes(name: str, now: datetime) -> tuple[datetime, dict[datetime, TrafficMinute]]:
    """The first minute of the chart and the family's rows of the last hour (the current minute included), by minute."""
    start = minute_floor(now) - timedelta(minutes=CHART_MINUTES - 1)
    rows = TrafficMinute.objects.filter(family=name, minute__gte=start).only("minute", "requests", "l1_hits", "misses")
    return start, {row.minute: row for row in rows}


def family_builds(name: str, since: datetime) -> list[Operation]:
    """The family's builds started since `since`, oldest first."""
    builds = Operation.objects.filter(family=name, kind="rebuild", started_at__gte=since)
    return list(builds.order_by("started_at", "id").only("started_at", "result", "version_after"))


def family_operations(name: str) -> list[Operation]:
    """The family's most recent operations, newest first."""
    return list(Operation.objects.filter(family=name)[:RECENT_OPERATIONS])


def operations_filtered(*, kind: str, family: str, result: str | None, requested_by: str) -> QuerySet[Operation]:
    """The operations log narrowed by exact kind, family prefix, exact result (None: any) and exact requester."""
    rows = Operation.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    if family:
        rows = rows.filter(family__startswith=family)
    if result is not None:
        rows = rows.filter(result=result)
    if requested_by:
        rows = rows.filter(requested_by=requested_by)
    return rows


def operations_page(rows: QuerySet[Operation], page_number: int | None) -> Page:
    """One page of operations, newest first."""
    return Paginator(rows, PER_PAGE).get_page(page_number)


@dataclass(frozen=True)
class Workers:
    """How many Celery workers are alive, and when any was last seen (None: never)."""

    alive: int
    last_seen: datetime | None


def workers_read(now: datetime) -> Workers:
    """The workers' state, from their heartbeat rows (one query)."""
    return Workers(*workers.workers_seen(now))
