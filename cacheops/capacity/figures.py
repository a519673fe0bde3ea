"""What the capacity plan takes and gives: its inputs, its figures, and each figure against its limit."""

from __future__ import annotations

import math
from dataclasses import dataclass

KIB = 1024
# A load above this share of its limit is flagged, and a raise asks for enough to bring it back to this share.
NEAR = 0.8


@dataclass(frozen=True)
class Catalog:
    """The current catalog version, as the shared cache's manifest describes it."""

    version: str
    codec: str
    manifest_bytes: int
    compressed_bytes: int
    chunk_bytes: tuple[int, ...]


@dataclass(frozen=True)
class ProgramFamilies:
    """Every published program family, added up."""

    count: int
    compressed_bytes: int
    chunks: int
    manifest_bytes: int
    largest_chunk_bytes: int


@dataclass(frozen=True)
class Limits:
    """The shared cache's limits (Momento's CacheLimits)."""

    ops_per_s: float
    throughput_kib_per_s: float
    item_kib: float
    ttl_s: float


@dataclass(frozen=True)
class Table:
    """A content table a build reads, as DynamoDB describes it."""

    name: str
    items: int
    bytes: int
    on_demand: bool
    read_units: int | None  # provisioned per second; on demand, the maximum set (None: none)
    write_units: int | None


@dataclass(frozen=True)
class Inputs:
    """The traffic asked about, the published sizes, the store's tables and the settings the figures follow."""

    rps: float
    processes: int
    cdn_hit: float
    changes_per_hour: float
    process_rps: float
    process_rps_source: str
    catalog: Catalog
    programs: ProgramFamilies
    limits: Limits
    cache_name: str
    poll_s: float
    sweep_s: float  # the beat's sweep
    ttl_check_s: float  # the beat's TTL refresh check
    ttl_s: int
    stage_ahead_s: int
    chunk_limit_bytes: int
    build_ops_per_s: float  # CACHEOPS_OPS_PER_SECOND: the pace of program families in a full rebuild
    program_pace_ops: int  # operations that pace counts for one program family (a read, then a publish)
    build_time_limit_s: int
    scan_segments: int
    scan_page_items: int
    tables: tuple[Table, ...] | None  # None: the store did not answer
    store_error: str = ""


@dataclass(frozen=True)
class Work:
    """Operations and bytes a piece of work sends to the shared cache."""

    ops: float
    bytes: float


@dataclass(frozen=True)
class Load:
    """Operations and KiB per second."""

    ops_per_s: float
    kib_per_s: float


@dataclass(frozen=True)
class Check:
    """One figure against one limit."""

    figure: str
    value: float
    limit: float
    unit: str
    share: float
    flagged: bool


@dataclass(frozen=True)
class CachePlan:
    """The shared cache's loads and pieces of work, and each load against its limit."""

    polls: Load
    housekeeping: Load
    at_rest: Load
    readers_fetch: Work  # every process fetching a new version's chunks
    catalog_build: Work
    program_build: Work  # the family of the program an edit changed
    peak: Load  # at rest, plus every process fetching the new version within the second it is told in
    hour: Load  # at rest, plus changes_per_hour version changes spread over the hour
    full_rebuild: Work  # every program family published again (after a cache loss), paced
    full_rebuild_s: float
    full_rebuild_load: Load
    ttl_refresh: Work  # every family's chunks written again (about every half TTL), not paced
    largest_item_bytes: int
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Origin:
    """What reaches the web processes: requests, bytes and the processes they need."""

    rps: float
    bytes_per_s: float
    processes: int


@dataclass(frozen=True)
class OriginPlan:
    """The origin without the CDN, and with it."""

    without_cdn: Origin
    with_cdn: Origin


@dataclass(frozen=True)
class Reads:
    """DynamoDB items read and the read units they cost."""

    items: float
    read_units: float


@dataclass(frozen=True)
class StorePlan:
    """DynamoDB's reads per full build, per edit and per hour, and how long a full build's scan takes at a set rate."""

    full_build: Reads
    per_edit: Reads
    per_hour: Reads
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Plan:
    """Everything the plan says, in the order it is printed."""

    inputs: Inputs
    cache: CachePlan
    origin: OriginPlan
    store: StorePlan | None
    raises: tuple[str, ...]
    lower: tuple[str, ...]


def check(figure: str, value: float, limit: float, unit: str) -> Check:
    """`value` against `limit`, flagged above NEAR of it."""
    share = value / limit if limit > 0 else math.inf
    return Check(figure, value, limit, unit, share, share > NEAR)


def round_up(value: float) -> int:
    """`value` rounded up to two significant digits (3,510 -> 3,600), for a limit to ask for."""
    if value <= 0:
        return 0
    step = 10 ** max(0, len(str(math.ceil(value))) - 2)
    return math.ceil(value / step) * step
