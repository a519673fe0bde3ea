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
UNFINISHED_LABELS = {RUNNING: gettext_lazy("running"), SILENT: gettext_lazy("no sign of life")}
QUOTA_WARN = 0.8
PROGRAM_DELETED = gettext_lazy("program deleted")
AIRTIMES_SHOWN = 5


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def result_label(key: str) -> str:
    """An operation's result key (running and silent included) as people read it."""
    return str(UNFINISHED_LABELS.get(key) or RESULT_LABELS.get(key, key))


def result_class(key: str) -> str:
    """Failures stand out, unfinished operations differ from finished ones."""
    if key in FAILED_RESULTS:
        return ERROR
    return BUILDING if key in (RUNNING, SILENT) else FRESH


class Named:
    """A family as people read it: its program's title (or the family's name), and whether the program is gone.
    Needs `name`, `program_id` and `title`."""

    @property
    def program_deleted(self) -> bool:
        return bool(self.program_id) and not self.title

    @property
    def display_name(self) -> str:
        """What people read for the family: its program's title, or the family's name."""
        if self.program_deleted:
            return str(PROGRAM_DELETED)
        return self.title or self.name


@dataclass(frozen=True)
class FamilyName(Named):
    """A family's name with its program's id, title and kana reading ("" when the program is gone from the list)."""

    name: str
    program_id: str = ""
    title: str = ""
    reading: str = ""


@dataclass(frozen=True)
class FamilySummary(Named):
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
    # A program family's program: its id, and its title and kana reading from the program list ("" when the
    # program is gone from it).
    program_id: str = ""
    title: str = ""
    reading: str = ""
    # The latest build: when it started and its result key (running or silent while unfinished).
    last_build_at: datetime | None = None
    last_build_result: str = ""

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def hit_5m_text(self) -> str:
        return percent_text(self.hit_pct_5m)

    @property
    def hit_60m_text(self) -> str:
        return percent_text(self.hit_pct_60m)

    @property
    def last_build_label(self) -> str:
        return result_label(self.last_build_result) if self.last_build_result else ""

    @property
    def last_build_class(self) -> str:
        return result_class(self.last_build_result)

    @property
    def ttl_left_text(self) -> str:
        return ttl_text(self.ttl_left_s)


def _level(share: float) -> str:
    return "over" if share >= 1 else "warn" if share >= QUOTA_WARN else "ok"


@dataclass(frozen=True)
class ClusterLoad:
    """Shared-cache operations and bytes read per second by the whole cluster, against the quota and throughput."""

    last_minute: float
    last_5_minutes: float
    quota: float
    # Bytes read per second, and the throughput allowed.
    bytes_last_minute: float = 0.0
    bytes_last_5_minutes: float = 0.0
    bytes_quota: float = 0.0

    @property
    def share(self) -> float:
        """The busier of the two windows, as a fraction of the quota."""
        return max(self.last_minute, self.last_5_minutes) / self.quota if self.quota else 0.0

    @property
    def bytes_share(self) -> float:
        """The busier of the two windows' bytes read, as a fraction of the throughput."""
        busier = max(self.bytes_last_minute, self.bytes_last_5_minutes)
        return busier / self.bytes_quota if self.bytes_quota else 0.0

    @property
    def ops_level(self) -> str:
        return _level(self.share)

    @property
    def bytes_level(self) -> str:
        return _level(self.bytes_share)

    @property
    def level(self) -> str:
        """The worse of operations and bytes."""
        return _level(max(self.share, self.bytes_share))


@dataclass(frozen=True)
class CatalogCard:
    """The catalog as the overview's first card answers "are we ready for tonight?"."""

    summary: FamilySummary
    # Seconds since the current version was built, and until the staged version becomes current.
    age_s: int | None
    staged_in_s: int | None
    pinned_at: datetime | None
    pinned_by: str
    pin_reason: str

    @property
    def age_text(self) -> str:
        return ttl_text(self.age_s)

    @property
    def staged_in_text(self) -> str:
        return ttl_text(self.staged_in_s)


@dataclass(frozen=True)
class Overview:
    """The overview page: the catalog, one page of program families, the cluster's load."""

    catalog: FamilySummary | None
    programs: list[FamilySummary]
    page: Page
    cluster: ClusterLoad
    card: CatalogCard | None = None


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
    family: FamilyName | None = None

    @property
    def result_class(self) -> str:
        return result_class(self.result_key)


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


def _summary(
    row: Family,
    traffic: queries.Traffic,
    state: str,
    now: datetime,
    named: tuple[str, str] = ("", ""),
    build: Operation | None = None,
) -> FamilySummary:
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
        program_id=queries.program_id(row.name),
        title=named[0],
        reading=named[1],
        last_build_at=build.started_at if build else None,
        last_build_result=_result_key(build, now) if build else "",
    )


def family_summaries(rows: list[Family], now: datetime) -> list[FamilySummary]:
    """Summaries of `rows`, in five queries whatever their number."""
    names = [row.name for row in rows]
    if not names:
        return []
    traffic = queries.traffic_by_family(names, now)
    running = queries.running_families(names, now)
    results = queries.last_results(names)
    named = queries.program_names(names)
    builds = queries.last_builds(names)
    return [
        _summary(
            row,
            traffic.get(row.name, queries.Traffic()),
            family_state(row, running=row.name in running, last_result=results.get(row.name)),
            now,
            named.get(row.name, ("", "")),
            builds.get(row.name),
        )
        for row in rows
    ]


def _seconds(delta) -> int:
    return max(0, int(delta.total_seconds()))


def catalog_card(row: Family, summary: FamilySummary, now: datetime) -> CatalogCard:
    """The catalog's card: its summary, the age of its current version, the countdown to its staged one, its pin."""
    return CatalogCard(
        summary=summary,
        age_s=_seconds(now - summary.built_at) if summary.built_at else None,
        staged_in_s=_seconds(row.staged_at - now) if row.staged_version and row.staged_at else None,
        pinned_at=row.pinned_at,
        pinned_by=row.pinned_by,
        pin_reason=row.pin_reason,
    )


def cluster_load(now: datetime) -> ClusterLoad:
    """The cluster's shared-cache operations and bytes read per second, last minute and last 5, against the quota
    and the throughput."""
    use = queries.cluster_cache_use(now)
    return ClusterLoad(
        use.ops_1m / 60,
        use.ops_5m / 300,
        float(settings.CACHEOPS_SHARED_CACHE_QUOTA),
        use.bytes_1m / 60,
        use.bytes_5m / 300,
        float(settings.CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB) * 1024,
    )


def overview_read(search: str, page_number: int | None, now: datetime) -> Overview:
    """The catalog (on every page), one page of program families matching `search`, and the cluster's load."""
    catalog = queries.catalog_row()
    page = queries.program_rows_page(search, page_number)
    rows = ([catalog] if catalog else []) + list(page.object_list)
    summaries = family_summaries(rows, now)
    if catalog:
        card = catalog_card(catalog, summaries[0], now)
        return Overview(summaries[0], summaries[1:], page, cluster_load(now), card)
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
    """The operations as the log shows them, program families by their programs' titles (one query)."""
    named = queries.program_names({op.family for op in ops})
    rows = []
    for op in ops:
        key = _result_key(op, now)
        label = result_label(key)
        kind = KIND_LABELS.get(op.kind, op.kind)
        duration = duration_text(op.duration_ms)
        shown = details.detail_text(op.detail)
        family = FamilyName(op.family, queries.program_id(op.family), *named.get(op.family, ("", "")))
        rows.append(OperationRow(op, key, str(kind), str(label), duration, family_name_valid(op.family), shown, family))
    return rows
