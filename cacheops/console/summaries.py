"""What the console says about families and operations: states, rates, TTLs and labels, from the SQL reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.paginator import Page
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cacheops.release.families import CATALOG
from cms.domain import id_valid, time_parse

from ..models import Family, Operation
from . import details, queries

FRESH, STALE, BUILDING, ERROR, MISSING = "fresh", "stale", "building", "error", "missing"
PINNED, HELD = "pinned", "held"
STATE_LABELS = {
    PINNED: gettext_lazy("pinned"),
    HELD: gettext_lazy("held back"),
    FRESH: gettext_lazy("fresh"),
    STALE: gettext_lazy("stale"),
    BUILDING: gettext_lazy("building"),
    ERROR: gettext_lazy("error"),
    MISSING: gettext_lazy("missing"),
}
KIND_LABELS = {
    "rebuild": gettext_lazy("rebuild"),
    "invalidate": gettext_lazy("invalidate"),
    "invalidate-hard": gettext_lazy("hard invalidate"),
    "prewarm": gettext_lazy("prewarm"),
    "rollback": gettext_lazy("rollback"),
    "refresh_ttl": gettext_lazy("TTL refresh"),
    "purge": gettext_lazy("purge"),
    "stage": gettext_lazy("stage"),
    "activate": gettext_lazy("activate"),
    "unstage": gettext_lazy("unstage"),
    "resume": gettext_lazy("resume"),
    "accept": gettext_lazy("accept"),
}
RESULT_LABELS = {
    "published": gettext_lazy("published"),
    "unchanged": gettext_lazy("unchanged"),
    "done": gettext_lazy("done"),
    "partial": gettext_lazy("partly published"),
    "superseded": gettext_lazy("superseded"),
    "busy": gettext_lazy("busy"),
    "empty": gettext_lazy("nothing to do"),
    "failed": gettext_lazy("failed"),
    "abandoned": gettext_lazy("abandoned"),
    "staged": gettext_lazy("staged"),
    "unstaged": gettext_lazy("unstaged"),
    "pinned": gettext_lazy("pinned"),
    "resumed": gettext_lazy("resumed"),
    "waiting": gettext_lazy("waiting behind a pin"),
    "held": gettext_lazy("held back"),
}
FAILED_RESULTS = {"failed", "abandoned"}
RUNNING, SILENT = "running", "silent"
QUOTA_WARN = 0.8


@dataclass(frozen=True)
class FamilySummary:
    """One row of the overview: the family's current version as its SQL row records it, its traffic and state."""

    name: str
    state: str
    version: str
    previous_version: str
    next_boundary: datetime | None
    as_of: datetime | None
    built_at: datetime | None
    raw_bytes: int | None
    compressed_bytes: int | None
    chunk_count: int | None
    ttl_left_s: int | None
    hit_pct_5m: float | None
    hit_pct_60m: float | None
    requests_per_s: float
    # The version staged, and when it becomes current (the catalog's airtime).
    staged_version: str = ""
    staged_at: datetime | None = None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def ttl_left_text(self) -> str:
        return ttl_text(self.ttl_left_s)


@dataclass(frozen=True)
class ClusterLoad:
    """Shared-cache operations per second of the whole cluster against its quota."""

    last_minute: float
    last_5_minutes: float
    quota: float

    @property
    def share(self) -> float:
        """The busier of the two windows, as a fraction of the quota."""
        return max(self.last_minute, self.last_5_minutes) / self.quota if self.quota else 0.0

    @property
    def level(self) -> str:
        return "over" if self.share >= 1 else "warn" if self.share >= QUOTA_WARN else "ok"


@dataclass(frozen=True)
class Overview:
    """The overview page: the catalog, one page of program families, the cluster's load."""

    catalog: FamilySummary | None
    programs: list[FamilySummary]
    page: Page
    cluster: ClusterLoad


@dataclass(frozen=True)
class OperationRow:
    """One line of the operations log as shown."""

    op: Operation
    result_key: str
    kind_label: str
    result_label: str
    duration: str
    family_linked: bool
    # The detail in the reader's language (see details.detail_text).
    detail: str = ""

    @property
    def result_class(self) -> str:
        """Failures stand out, unfinished operations differ from finished ones."""
        if self.result_key in FAILED_RESULTS:
            return ERROR
        return BUILDING if self.result_key in (RUNNING, SILENT) else FRESH


def family_name_valid(name: str) -> bool:
    """Whether `name` has the shape of a family: catalog or program:<item id>."""
    prefix, _sep, item_id = name.partition(":")
    return name == CATALOG or (prefix == "program" and id_valid(item_id))


# How a countdown of a day or more reads; the countdown script writes the same form (the page carries it).
DAYS_FORMAT = gettext_lazy("%(days)d d %(clock)s")


def ttl_text(seconds: float | None) -> str:
    """Seconds as H:MM:SS, from a day on as days and HH:MM:SS: the same form the countdown script writes."""
    if seconds is None:
        return "—"
    whole = max(0, int(seconds))
    days, hours = divmod(whole // 3600, 24)
    if not days:
        return f"{hours}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return str(DAYS_FORMAT) % {"days": days, "clock": f"{hours:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"}


def _percent(hits: int, requests: int) -> float | None:
    return 100 * hits / requests if requests else None


def family_state(row: Family, *, running: bool, last_result: str | None) -> str:
    """missing, pinned, held, building, error, stale or fresh: the first that holds, in that order.

    A pin decides what is served whatever builds do, and so does a version held back after a purge: ops see them
    before any build's state.
    """
    if not row.current_version:
        return MISSING
    if row.pinned_at is not None:
        return PINNED
    if row.held_back:
        return HELD
    if running:
        return BUILDING
    if last_result in FAILED_RESULTS:
        return ERROR
    if row.stale:
        return STALE
    return FRESH


def _summary(row: Family, traffic: queries.Traffic, state: str, now: datetime) -> FamilySummary:
    manifest = (row.manifest or {}) if row.current_version else {}
    expires_at = time_parse(manifest.get("expires_at"))
    chunks = manifest.get("chunks")
    return FamilySummary(
        name=row.name,
        state=state,
        version=row.current_version,
        previous_version=row.previous_version,
        next_boundary=row.next_boundary,
        as_of=time_parse(manifest.get("as_of")),
        built_at=time_parse(manifest.get("built_at")),
        raw_bytes=manifest.get("raw_bytes"),
        compressed_bytes=manifest.get("compressed_bytes"),
        chunk_count=len(chunks) if chunks is not None else None,
        ttl_left_s=max(0, int((expires_at - now).total_seconds())) if expires_at else None,
        hit_pct_5m=_percent(traffic.hits_5m, traffic.requests_5m),
        hit_pct_60m=_percent(traffic.hits_60m, traffic.requests_60m),
        requests_per_s=traffic.requests_5m / 300,
        staged_version=row.staged_version,
        staged_at=row.staged_at,
    )


def family_summaries(rows: list[Family], now: datetime) -> list[FamilySummary]:
    """Summaries of `rows`, in three queries whatever their number."""
    names = [row.name for row in rows]
    if not names:
        return []
    traffic = queries.traffic_by_family(names, now)
    running = queries.running_families(names, now)
    results = queries.last_results(names)
    return [
        _summary(
            row,
            traffic.get(row.name, queries.Traffic()),
            family_state(row, running=row.name in running, last_result=results.get(row.name)),
            now,
        )
        for row in rows
    ]


def cluster_load(now: datetime) -> ClusterLoad:
    """The cluster's shared-cache operations per second, last minute and last 5, against the quota."""
    last_1, last_5 = queries.cluster_cache_ops(now)
    return ClusterLoad(last_1 / 60, last_5 / 300, float(settings.CACHEOPS_SHARED_CACHE_QUOTA))


def overview_read(search: str, page_number: int | None, now: datetime) -> Overview:
    """The catalog (on every page), one page of program families matching `search`, and the cluster's load."""
    catalog = queries.catalog_row()
    page = queries.program_rows_page(search, page_number)
    rows = ([catalog] if catalog else []) + list(page.object_list)
    summaries = family_summaries(rows, now)
    if catalog:
        return Overview(summaries[0], summaries[1:], page, cluster_load(now))
    return Overview(None, summaries, page, cluster_load(now))


def duration_text(ms: int | None) -> str:
    """A duration as staff read it: 850 ms, 12.3 s, 2 min 05 s."""
    if ms is None:
        return "—"
    if ms < 1000:
        return _("%(ms)d ms") % {"ms": ms}
    if ms < 60_000:
        return _("%(seconds).1f s") % {"seconds": ms / 1000}
    minutes, seconds = divmod(ms // 1000, 60)
    return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": seconds}


def _result_key(op: Operation, now: datetime) -> str:
    if op.result:
        return op.result
    last = op.heartbeat_at or op.started_at
    return RUNNING if last >= queries.silent_since(now) else SILENT


def operation_rows(ops: list[Operation], now: datetime) -> list[OperationRow]:
    """The operations as the log shows them."""
    unfinished = {RUNNING: _("running"), SILENT: _("no sign of life")}
    rows = []
    for op in ops:
        key = _result_key(op, now)
        label = unfinished.get(key) or RESULT_LABELS.get(key, key)
        kind = KIND_LABELS.get(op.kind, op.kind)
        duration = duration_text(op.duration_ms)
        shown = details.detail_text(op.detail)
        rows.append(OperationRow(op, key, str(kind), str(label), duration, family_name_valid(op.family), shown))
    return rows
