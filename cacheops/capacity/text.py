"""The capacity plan for people: figures first, then what to ask for and what to change."""

from __future__ import annotations

import textwrap

from .figures import NEAR, Check, Load, Origin, Plan, StorePlan, Table, Work

# Where Momento documents its default limits (operations/s and throughput per cache, item size, TTL).
MOMENTO_LIMITS_URL = "https://docs.momentohq.com/cache/limits"
# Long lines (the raises, the ways to lower) are wrapped to this width.
WIDTH = 110
LEAD_TIME = (
    "How long ahead: neither Momento nor AWS promises a turnaround. Momento's limits page asks for a request to its "
    "support naming the login email, the cache, its cloud and region and the limits to raise; AWS takes quota "
    "requests through Service Quotas, some granted at once and some through a support case. Ask before the load "
    "test, which needs the raised limits itself."
)


def _size(count: float) -> str:
    """Bytes in decimal units, as network figures are given."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,.0f} B"


def _processes(count: int) -> str:
    return f"{count:,} process" + ("" if count == 1 else "es")


def _mark(check: Check) -> str:
    if check.share > 1:
        return "  OVER THE LIMIT"
    if not check.flagged:
        return ""
    # A ceiling rather than a load: reaching it is allowed, going past it is refused.
    return f"  above {NEAR:.0%} (a ceiling: fine up to it)" if check.unit in ("s", "KiB") else f"  above {NEAR:.0%}"


def _check_line(check: Check) -> str:
    return (
        f"  {check.figure:<40} {check.value:>12,.1f} of {check.limit:>9,.0f} {check.unit:<5} "
        f"{check.share:>8.1%}{_mark(check)}"
    )


def _load_line(label: str, load: Load, note: str) -> str:
    return f"  {label:<40} {load.ops_per_s:>12,.1f} {load.kib_per_s:>12,.1f}   {note}"


def _work_line(label: str, work: Work, note: str = "") -> str:
    return f"  {label:<40} {work.ops:>12,.0f} {_size(work.bytes):>12}   {note}".rstrip()


def _wrapped(text: str, first: str = "  - ", rest: str = "    ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False)


def _cache_lines(plan: Plan) -> list[str]:
    i, c = plan.inputs, plan.cache
    limits, n = i.limits, len(i.catalog.chunk_bytes)
    return [
        f"Shared cache: {limits.ops_per_s:,.0f} operations/s, {limits.throughput_kib_per_s:,.0f} KiB/s, items up to "
        f"{limits.item_kib:,.0f} KiB, TTL up to {limits.ttl_s:,.0f} s",
        f"  (the CACHEOPS_SHARED_CACHE_* settings; Momento's defaults: {MOMENTO_LIMITS_URL})",
        f"  {'load':<40} {'ops/s':>12} {'KiB/s':>12}",
        _load_line("at rest", c.at_rest, f"{i.processes:,} processes poll the manifest every {i.poll_s:g} s; the beat"),
        _load_line(
            "at a version change (peak)", c.peak, f"+ every process, told, fetches it ({n} chunk(s)) in a second"
        ),
        _load_line("over the hour", c.hour, f"+ {i.changes_per_hour:g} version changes"),
        _load_line("in a full rebuild", c.full_rebuild_load, "+ every program family published again, paced"),
        f"  {'work':<40} {'operations':>12} {'bytes':>12}",
        _work_line("a version change: the processes' fetches", c.readers_fetch),
        _work_line("a version change: the catalog's build", c.catalog_build, "chunks written and read back, manifests"),
        _work_line("a version change: the program's family", c.program_build, "the edited program's"),
        _work_line(
            "a full rebuild: every program family",
            c.full_rebuild,
            f"{i.programs.count:,} over {c.full_rebuild_s:,.1f} s at CACHEOPS_OPS_PER_SECOND {i.build_ops_per_s:g}",
        ),
        _work_line("the TTL refresh: every family", c.ttl_refresh, "back to back, about every half TTL"),
        "  against the limits",
        *(_check_line(check) for check in c.checks),
    ]


def _origin_line(label: str, origin: Origin) -> str:
    return (
        f"  {label:<26} {origin.rps:>10,.0f} req/s {_size(origin.bytes_per_s):>10}/s "
        f"({origin.bytes_per_s * 8 / 1e9:,.2f} Gbit/s), {_processes(origin.processes)}"
    )


def _origin_lines(plan: Plan) -> list[str]:
    i, o = plan.inputs, plan.origin
    return [
        f"Origin: each request a whole catalog ({i.catalog.compressed_bytes:,} bytes); {i.process_rps:,.0f} req/s a "
        "process",
        f"  ({i.process_rps_source})",
        _origin_line("without the CDN", o.without_cdn),
        _origin_line(f"with the CDN ({i.cdn_hit:.0%} hits)", o.with_cdn),
        f"  {_processes(i.processes)} planned; the origin's share needs {_processes(o.with_cdn.processes)} "
        f"({o.without_cdn.processes:,} without the CDN)",
    ]


def _table_line(table: Table) -> str:
    if table.on_demand:
        billing = "on demand" + (f", at most {table.read_units:,} reads/s" if table.read_units else "")
    else:
        billing = f"provisioned {table.read_units:,} RCU, {table.write_units:,} WCU"
    return f"  {table.name:<10} {table.items:>10,} items {_size(table.bytes):>10}   {billing}"


def _store_lines(plan: Plan, store: StorePlan | None) -> list[str]:
    i = plan.inputs
    if store is None:
        return [f"DynamoDB: not reachable, so no read figures ({i.store_error})"]
    return [
        "DynamoDB: what builds read (viewers read none of it), as DescribeTable counts (AWS: every ~6 hours)",
        *(_table_line(table) for table in i.tables),
        f"  {'reads':<40} {'items':>12} {'read units':>12}",
        f"  {'a full build (--full, a cache loss)':<40} {store.full_build.items:>12,.0f} "
        f"{store.full_build.read_units:>12,.1f}   strongly consistent Scan, {i.scan_segments} segments",
        f"  {'an edit':<40} {store.per_edit.items:>12,.1f} {store.per_edit.read_units:>12,.1f}   "
        "program by key, seasons and episodes by index",
        f"  {f'{i.changes_per_hour:g} edit builds an hour':<40} {store.per_hour.items:>12,.0f} "
        f"{store.per_hour.read_units:>12,.1f}   (an index that lags is read again, up to 5 times)",
        *(_check_line(check) for check in store.checks),
    ]


def plan_text(plan: Plan) -> str:
    """The plan as lines for a terminal."""
    i, cat, progs = plan.inputs, plan.inputs.catalog, plan.inputs.programs
    sizes = " / ".join(f"{size:,}" for size in cat.chunk_bytes)
    lines = [
        f"Capacity plan: {i.rps:,.0f} req/s on {i.processes:,} web processes, CDN hit ratio {i.cdn_hit:.0%}, "
        f"{i.changes_per_hour:g} catalog versions an hour",
        f"Catalog {cat.version} ({cat.codec}): {cat.compressed_bytes:,} bytes in {len(cat.chunk_bytes)} chunk(s) "
        f"({sizes}); manifest {cat.manifest_bytes:,} bytes",
        f"Program families: {progs.count:,}, {progs.compressed_bytes:,} bytes in {progs.chunks:,} chunk(s), "
        f"manifests {progs.manifest_bytes:,} bytes (from their rows in SQL)",
        "",
        *_cache_lines(plan),
        "",
        *_origin_lines(plan),
        "",
        *_store_lines(plan, plan.store),
        "",
        "Before the night, ask for:" if plan.raises else "Before the night: no raise needed at these figures.",
        *(line for ask in plan.raises for line in _wrapped(ask)),
        *(_wrapped(LEAD_TIME, "  ", "  ") if plan.raises else []),
        "",
        "Ways to lower these figures:",
        *(line for way in plan.lower for line in _wrapped(way)),
    ]
    return "\n".join(lines) + "\n"
