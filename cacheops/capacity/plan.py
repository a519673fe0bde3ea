"""The capacity plan's arithmetic: inputs (sizes, settings, traffic) in, figures against limits out. Nothing is read.

Shared-cache operations are counted per key, as Momento counts them (Redis's MGET is one command, but the limits
compared are Momento's), and each count follows the code that sends them (named beside it).
"""

from __future__ import annotations

import math

from .advice import lower, raises
from .figures import (
    KIB,
    CachePlan,
    Inputs,
    Load,
    Origin,
    OriginPlan,
    Plan,
    Reads,
    StorePlan,
    Table,
    Work,
    check,
)

HOUR_S = 3600
# DynamoDB: a read unit is 4 KB of items read (strongly consistent; half a unit eventually consistent); a Scan or
# Query page holds at most 1 MB.
READ_UNIT_BYTES = 4096
PAGE_BYTES = 1024 * 1024

# The build lock (cacheops/build/lock.py): an add takes it, a get and a delete release it; its value (the holder)
# is about this long.
LOCK_OPS = 3
LOCK_BYTES = 200
# A rebuild task reads the lock before it takes it, waiting while another build holds it.
TURN_CHECK_OPS = 1
# A version written (release/publisher.version_write): each chunk set, each read back, then the per-version copy
# (about the manifest's size). A family's build adds its lock and the projected manifest (release/releases.py).
VERSION_COPY_OPS = 1
MANIFEST_WRITE_OPS = 1
# Each manifest written is announced on the family's channel (release/publisher._announce): one publish, about this
# long. Every web process subscribed hears it and fetches the version at once: within about this long of each other.
ANNOUNCE_OPS = 1
ANNOUNCE_BYTES = 200
ANNOUNCED_WITHIN_S = 1.0


def _load(work: Work, seconds: float) -> Load:
    return Load(work.ops / seconds, work.bytes / KIB / seconds)


def _plus(*loads: Load) -> Load:
    return Load(sum(load.ops_per_s for load in loads), sum(load.kib_per_s for load in loads))


def builds_work(families: int, chunks: float, compressed: float, manifest_bytes: float, *, reads_first=0) -> Work:
    """`families` builds each writing a new version (`chunks`, `compressed` and `manifest_bytes` added up over them):
    each takes its lock, reads `reads_first` manifests, writes and reads back its chunks, writes its copy and
    manifest, and announces it."""
    per_family = LOCK_OPS + reads_first + VERSION_COPY_OPS + MANIFEST_WRITE_OPS + ANNOUNCE_OPS
    manifests = VERSION_COPY_OPS + MANIFEST_WRITE_OPS + reads_first
    per_family_bytes = 2 * LOCK_BYTES + ANNOUNCE_BYTES
    return Work(
        families * per_family + 2 * chunks, 2 * compressed + manifests * manifest_bytes + per_family_bytes * families
    )


def _cache(i: Inputs) -> CachePlan:
    cat, progs, n = i.catalog, i.programs, len(i.catalog.chunk_bytes)
    # Every process reads the catalog's manifest once per fallback poll (read/reader.py), for an announcement it may
    # have missed; no process polls a program family.
    polls = Load(i.processes / i.poll_s, i.processes * cat.manifest_bytes / KIB / i.poll_s)
    # The beat's sweep reads the catalog's manifest (build/operations.lost_catalog_requeue); its TTL check
    # reads every family's manifest (operations.ttl_refresh_due).
    housekeeping = _plus(
        _load(Work(1, cat.manifest_bytes), i.sweep_s),
        _load(Work(1 + progs.count, cat.manifest_bytes + progs.manifest_bytes), i.ttl_check_s),
    )
    at_rest = _plus(polls, housekeeping)
    # Told of a new version, every process reads the manifest and fetches every chunk.
    readers = Work(i.processes * (1 + n), i.processes * (cat.manifest_bytes + cat.compressed_bytes))
    # catalog_rebuild reads the catalog's manifest before building (an emptied cache calls for a full build); the
    # rebuild task first reads the lock to wait its turn (operations.turn_wait).
    built = builds_work(1, n, cat.compressed_bytes, cat.manifest_bytes, reads_first=1)
    catalog = Work(built.ops + TURN_CHECK_OPS, built.bytes + TURN_CHECK_OPS * LOCK_BYTES)
    each = progs.count or 1
    program = builds_work(1, progs.chunks / each, progs.compressed_bytes / each, progs.manifest_bytes / each)
    peak = _plus(at_rest, _load(readers, ANNOUNCED_WITHIN_S))
    per_change = Work(readers.ops + catalog.ops + program.ops, readers.bytes + catalog.bytes + program.bytes)
    hour = _plus(
        at_rest, _load(Work(per_change.ops * i.changes_per_hour, per_change.bytes * i.changes_per_hour), HOUR_S)
    )
    # A full rebuild reads each program family's manifest, then publishes it (operations._program_families_publish),
    # pacing itself at program_pace_ops per family.
    full = builds_work(progs.count, progs.chunks, progs.compressed_bytes, progs.manifest_bytes, reads_first=1)
    full_s = progs.count * i.program_pace_ops / i.build_ops_per_s
    full_load = _plus(at_rest, _load(full, full_s)) if full_s else at_rest
    # The TTL refresh reads every family's chunks and writes them again (publisher.chunks_refresh), with its copy and
    # manifest, under its lock: one family after another, with no pace.
    refresh = builds_work(
        1 + progs.count, n + progs.chunks, cat.compressed_bytes + progs.compressed_bytes,
        cat.manifest_bytes + progs.manifest_bytes,
    )  # fmt: skip
    largest = max([*cat.chunk_bytes, progs.largest_chunk_bytes, cat.manifest_bytes])
    limits = i.limits
    checks = (
        check("operations/s at rest", at_rest.ops_per_s, limits.ops_per_s, "ops/s"),
        check("operations/s at a version change", peak.ops_per_s, limits.ops_per_s, "ops/s"),
        check("operations/s over the hour", hour.ops_per_s, limits.ops_per_s, "ops/s"),
        check("operations/s in a full rebuild", full_load.ops_per_s, limits.ops_per_s, "ops/s"),
        check("throughput at rest", at_rest.kib_per_s, limits.throughput_kib_per_s, "KiB/s"),
        check("throughput at a version change", peak.kib_per_s, limits.throughput_kib_per_s, "KiB/s"),
        check("throughput over the hour", hour.kib_per_s, limits.throughput_kib_per_s, "KiB/s"),
        check("throughput in a full rebuild", full_load.kib_per_s, limits.throughput_kib_per_s, "KiB/s"),
        check("largest item", largest / KIB, limits.item_kib, "KiB"),
        check("TTL", i.ttl_s, limits.ttl_s, "s"),
    )
    return CachePlan(
        polls, housekeeping, at_rest, readers, catalog, program, peak, hour, full, full_s, full_load, refresh,
        largest, checks,
    )  # fmt: skip


def _origin(i: Inputs) -> OriginPlan:
    # Every viewer request is taken as a whole catalog download, the first screen's load.
    def serving(rps: float) -> Origin:
        return Origin(rps, rps * i.catalog.compressed_bytes, max(1, math.ceil(rps / i.process_rps)))

    # Rounded: 5000 x (1 - 0.98) is 100.00000000000009 in floating point, which must not cost a process more.
    return OriginPlan(serving(i.rps), serving(round(i.rps * (1 - i.cdn_hit), 6)))


def page_units(items: float, item_bytes: float, page_items: float = math.inf) -> float:
    """Strongly consistent read units of reading `items` items of `item_bytes` each in pages (a Scan or a Query):
    each page's bytes are rounded up to 4 KB, and a page that returns nothing still costs a unit."""
    if items <= 0:
        return 1
    per_page = max(1, min(page_items, PAGE_BYTES // max(item_bytes, 1)))
    full_pages, rest = divmod(items, per_page)
    units = full_pages * math.ceil(per_page * item_bytes / READ_UNIT_BYTES)
    return units + (math.ceil(rest * item_bytes / READ_UNIT_BYTES) if rest else 0)


def item_units(item_bytes: float) -> int:
    """Strongly consistent read units of one item read by key (GetItem, each item of a BatchGetItem)."""
    return max(1, math.ceil(item_bytes / READ_UNIT_BYTES))


def _average(table: Table) -> float:
    return table.bytes / table.items if table.items else 0.0


def scan_units(table: Table, segments: int, page_items: int) -> float:
    """A full build's strongly consistent, segmented Scan of `table` (cms/store/content.content_scan), its items
    taken as evenly spread over the segments."""
    base, extra = divmod(table.items, segments)
    return sum(page_units(base + (s < extra), _average(table), page_items) for s in range(segments))


def _store(i: Inputs) -> StorePlan | None:
    if i.tables is None:
        return None
    tables = {t.name: t for t in i.tables}
    programs, seasons, episodes = tables["programs"], tables["seasons"], tables["episodes"]
    scans = {t.name: scan_units(t, i.scan_segments, i.scan_page_items) for t in i.tables}
    full = Reads(sum(t.items for t in i.tables), sum(scans.values()))
    # An edit's build re-reads its program (cms/store/content.program_content_checked): the program by key, its
    # seasons and episodes by the by_program indexes (eventually consistent: half a unit per 4 KB), and the item
    # the edit wrote by key; an average program, one episode written.
    per = programs.items or 1
    per_seasons, per_episodes = seasons.items / per, episodes.items / per
    units = (
        item_units(_average(programs))
        + page_units(per_seasons, _average(seasons)) / 2
        + page_units(per_episodes, _average(episodes)) / 2
        + item_units(_average(episodes))
    )
    edit = Reads(2 + per_seasons + per_episodes, units)
    hour = Reads(edit.items * i.changes_per_hour, edit.read_units * i.changes_per_hour)
    # A full build's Scan of a table with a read rate (provisioned, or an on-demand maximum) takes this long.
    checks = tuple(
        check(f"a full build's scan of {t.name}", scans[t.name] / t.read_units, i.build_time_limit_s, "s")
        for t in i.tables
        if t.read_units
    )
    return StorePlan(full, edit, hour, checks)


def plan_make(inputs: Inputs) -> Plan:
    """The plan for `inputs`."""
    cache, origin, store = _cache(inputs), _origin(inputs), _store(inputs)
    return Plan(inputs, cache, origin, store, raises(inputs, cache, store), lower(inputs, cache, origin))
