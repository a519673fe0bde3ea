"""What to ask for before the night, and what Airtime offers to need less: read from a plan's figures."""

from __future__ import annotations

import math

from .figures import KIB, NEAR, CachePlan, Check, Inputs, OriginPlan, StorePlan, round_up


def _flagged(checks: tuple[Check, ...], unit: str) -> float | None:
    values = [c.value for c in checks if c.unit == unit and c.flagged]
    return max(values) if values else None


def raises(i: Inputs, cache: CachePlan, store: StorePlan | None) -> tuple[str, ...]:
    asks = []
    if (ops := _flagged(cache.checks, "ops/s")) is not None:
        asks.append(f"max_traffic_rate to {round_up(ops / NEAR):,} operations/s")
    if (kib := _flagged(cache.checks, "KiB/s")) is not None:
        asks.append(f"max_throughput_kbps to {round_up(kib / NEAR):,} KiB/s")
    if (item := _flagged(cache.checks, "KiB")) is not None:
        asks.append(f"max_item_size_kb to {round_up(item / NEAR):,} KiB (or lower CACHEOPS_CHUNK_BYTES)")
    raises = []
    if asks:
        listed = ", ".join(asks[:-1]) + (" and " if len(asks) > 1 else "") + asks[-1]
        raises.append(f"Momento: raise {listed} for cache {i.cache_name!r}")
    ttl = next(c for c in cache.checks if c.unit == "s")
    if ttl.share > 1:
        raises.append(f"Momento keeps items {ttl.limit:,.0f} s at most: lower CACHEOPS_TTL_SECONDS (no raise exists)")
    tables = {t.name: t for t in i.tables or ()}
    for check in store.checks if store else ():
        if check.flagged:
            table = tables[check.figure.rsplit(" ", 1)[-1]]
            wanted = round_up(check.value * table.read_units / (NEAR * i.build_time_limit_s))
            what = "maximum on-demand read request units" if table.on_demand else "provisioned read capacity"
            raises.append(
                f"DynamoDB: raise the {what} of table {table.name} to {wanted:,} units/s, so that a full build's "
                "scan fits its time limit"
            )
    return tuple(raises)


def lower(i: Inputs, cache: CachePlan, origin: OriginPlan) -> tuple[str, ...]:
    """The ways Airtime offers to lower these figures, each with what it would give here."""
    cat, n = i.catalog, len(i.catalog.chunk_bytes)
    slower = 2 * i.poll_s
    ways = [
        f"CACHEOPS_READER_POLL_SECONDS (now {i.poll_s:g} s), the poll for a version whose announcement was lost: at "
        f"{slower:g} s the processes poll {i.processes / slower:,.1f} operations/s at rest, and such a version is "
        f"found up to {slower - i.poll_s:g} s later (announced ones are fetched at once)"
    ]
    needed = origin.with_cdn.processes
    if needed < i.processes:
        ways.append(
            f"Fewer, larger web processes (WEB_CONCURRENCY, GUNICORN_THREADS): the origin's share needs "
            f"{needed:,} of the {i.processes:,}, plus room for a CDN flush; each process fewer polls "
            f"{1 / i.poll_s:g} operation(s)/s less and fetches {cat.compressed_bytes:,} bytes less per version change"
        )
    chunk = int(NEAR * i.limits.item_kib * KIB)
    fewer = math.ceil(cat.compressed_bytes / chunk) if chunk > 0 else n
    if fewer < n and chunk > i.chunk_limit_bytes:
        ways.append(
            f"CACHEOPS_CHUNK_BYTES (now {i.chunk_limit_bytes:,}): at {chunk:,} the catalog is {fewer} chunk(s), and a "
            f"version change costs {i.processes * fewer:,} operations instead of {i.processes * n:,} (the same bytes)"
        )
    if cat.codec == "gzip":
        ways.append(
            "CACHEOPS_CODEC=zstd: about 12% fewer bytes per version (a 10 MB catalog is 2.5 MB in gzip, 2.2 MB in "
            "zstd), but apps that do not accept zstd then download the decoded JSON, several times larger"
        )
    ways += [
        f"The CDN (--cdn-hit): the origin serves only its misses, {origin.with_cdn.rps:,.0f} req/s here, and a longer "
        "CACHEOPS_CATALOG_MAX_AGE lets it answer more. It lowers nothing in the shared cache: every process fetches "
        "each version once, whatever the traffic",
        f"Scheduled content (a publish_at, an expire_at, prewarm --at) is staged CACHEOPS_STAGE_AHEAD_SECONDS (now "
        f"{i.stage_ahead_s:,} s) ahead: every process fetches it then, so that version change peaks before the "
        "spike, not with it",
        f"CACHEOPS_OPS_PER_SECOND (now {i.build_ops_per_s:g}) paces a full rebuild's program families: lower it for "
        f"a lower rate over a longer rebuild ({i.programs.count:,} families x {i.program_pace_ops} / rate seconds)",
    ]
    return tuple(ways)
