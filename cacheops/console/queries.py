"""The console's SQL reads: family rows, per-minute traffic, the operations log. Never the shared cache.

Every function is one query (or a fixed few) whatever the number of rows, so a page costs the same with 10 or
10,000 families.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Concat, Substr

from cacheops import oplog, workers
from cacheops.release.families import CATALOG
from cms import program_index
from cms.models import ProgramEntry

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


def program_id(name: str) -> str:
    """The program id in a program family's name ("" for the catalog)."""
    return name.removeprefix(PROGRAM_PREFIX) if name.startswith(PROGRAM_PREFIX) else ""


def _families_of(programs: QuerySet[ProgramEntry]) -> QuerySet:
    """The family names of `programs`, as a subquery."""
    family = Concat(Value(PROGRAM_PREFIX), "id", output_field=CharField())
    return programs.annotate(family=family).values("family")


def program_rows_page(search: str, page_number: int | None) -> Page:
    """One page of program family rows in their programs' reading order (families of deleted programs last, by
    name), narrowed by `search`: the programs' titles and kana readings as the admin's program search matches
    them, or the family name."""
    own_program = ProgramEntry.objects.filter(pk=Substr(OuterRef("name"), len(PROGRAM_PREFIX) + 1))
    rows = (
        Family.objects.filter(name__startswith=PROGRAM_PREFIX)
        .annotate(reading=Subquery(own_program.values("reading")[:1]))
        .order_by(F("reading").asc(nulls_last=True), "name")
    )
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(name__in=_families_of(program_index.matching(search))))
    return Paginator(rows, PER_PAGE).get_page(page_number)


def program_names(names: Collection[str]) -> dict[str, tuple[str, str]]:
    """The (title, kana reading) of the program of each program family of `names` still in the program list."""
    found = program_index.names([program_id(name) for name in names if program_id(name)])
    return {PROGRAM_PREFIX + pid: named for pid, named in found.items()}


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


@dataclass(frozen=True)
class CacheUse:
    """Shared-cache operations and bytes read by the whole cluster in the last complete minute and the last 5."""

    ops_1m: int = 0
    ops_5m: int = 0
    bytes_1m: int = 0
    bytes_5m: int = 0


def cluster_cache_use(now: datetime) -> CacheUse:
    """The cluster's shared-cache operations and bytes read, last complete minute and last 5, in one query."""
    current = minute_floor(now)
    last_1 = Q(minute__gte=current - timedelta(minutes=1))
    totals = TrafficMinute.objects.filter(minute__gte=current - timedelta(minutes=5), minute__lt=current).aggregate(
        ops_1m=Sum("cache_ops", filter=last_1),
        ops_5m=Sum("cache_ops"),
        bytes_1m=Sum("cache_bytes", filter=last_1),
        bytes_5m=Sum("cache_bytes"),
    )
    return CacheUse(**{field: value or 0 for field, value in totals.items()})


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


def last_builds(names: Collection[str]) -> dict[str, Operation]:
    """The latest build of each of `names`, finished or not (ids grow with start time)."""
    latest = (
        Operation.objects.filter(family__in=list(names), kind="rebuild")
        .order_by()
        .values("family")
        .annotate(last=Max("id"))
        .values("last")
    )
    builds = Operation.objects.filter(id__in=latest).order_by()
    return {op.family: op for op in builds.only("family", "started_at", "heartbeat_at", "result", "version_after")}


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
