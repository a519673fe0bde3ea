"""What the plan is computed from: the catalog's manifest (one cache read), the program families' rows in SQL, the
content tables' descriptions, and the settings."""

from __future__ import annotations

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from cacheops.build.operations import PROGRAM_PUBLISH_OPS, VERSION_READ_OPS
from cacheops.errors import NothingPublished
from cacheops.keys import CATALOG
from cacheops.manifest import manifest_read
from cacheops.models import Family
from cms.store.content import SCAN_PAGE_ITEMS, SCAN_SEGMENTS
from cms.store.errors import StoreUnavailable
from cms.store.usage import build_tables_describe

from .figures import Catalog, Inputs, Limits, ProgramFamilies, Table

# Catalogs a web process serves a second, as measured by bench/read_path.py: the production server (granian, ASGI,
# one worker per core), 1,039 req/s of /api/catalog from 2 workers on 2 CPUs.
PROCESS_RPS = 519
PROCESS_RPS_SOURCE = "measured: granian, one worker per core, 1,039 req/s on 2 CPUs; README, Serving in production"


def catalog_read() -> Catalog:
    """The current catalog's sizes, from the shared cache's manifest; NothingPublished when it has none."""
    manifest = manifest_read(CATALOG)
    if manifest is None:
        raise NothingPublished("no catalog is published in the shared cache: publish one first (rebuild_catalog)")
    return Catalog(
        version=manifest["version"],
        codec=manifest["codec"],
        # As written (the publisher stores orjson's bytes, which a load and dump give back unchanged).
        manifest_bytes=len(orjson.dumps(manifest)),
        compressed_bytes=manifest["compressed_bytes"],
        chunk_bytes=tuple(entry["bytes"] for entry in manifest["chunks"]),
    )


def program_families_read() -> ProgramFamilies:
    """Every current program family, added up from the copies of their manifests the family rows keep."""
    # NOTE: SQL, not the cache: reading thousands of manifests from the cache would itself cost that many operations.
    rows = Family.objects.filter(name__startswith="program:").exclude(current_version="").exclude(manifest=None)
    count = compressed = chunks = manifest_bytes = largest = 0
    for manifest in rows.values_list("manifest", flat=True).iterator():
        count += 1
        compressed += manifest["compressed_bytes"]
        chunks += len(manifest["chunks"])
        manifest_bytes += len(orjson.dumps(manifest))
        largest = max([largest, *(entry["bytes"] for entry in manifest["chunks"])])
    return ProgramFamilies(count, compressed, chunks, manifest_bytes, largest)


def _tables() -> tuple[tuple[Table, ...] | None, str]:
    try:
        usages = build_tables_describe()
    except StoreUnavailable as exc:
        return None, str(exc)
    return tuple(Table(u.name, u.items, u.bytes, u.on_demand, u.read_units, u.write_units) for u in usages), ""


def _beat_every(task: str) -> float:
    """How often the beat sends `task`, in seconds."""
    return next(float(e["schedule"]) for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == task)


def inputs_read(
    *, rps: float, processes: int, cdn_hit: float, changes_per_hour: float, process_rps: float | None = None
) -> Inputs:
    """Everything the plan needs: the traffic asked about, the published sizes, the store's tables, the settings."""
    limits = Limits(
        ops_per_s=settings.CACHEOPS_SHARED_CACHE_QUOTA,
        throughput_kib_per_s=settings.CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB,
        item_kib=settings.CACHEOPS_SHARED_CACHE_ITEM_KIB,
        ttl_s=settings.CACHEOPS_SHARED_CACHE_MAX_TTL_SECONDS,
    )
    if min(limits.ops_per_s, limits.throughput_kib_per_s, limits.item_kib, limits.ttl_s) <= 0:
        raise ImproperlyConfigured("the CACHEOPS_SHARED_CACHE_* limits must be above 0")
    catalog = catalog_read()
    tables, store_error = _tables()
    return Inputs(
        rps=rps,
        processes=processes,
        cdn_hit=cdn_hit,
        changes_per_hour=changes_per_hour,
        process_rps=process_rps or PROCESS_RPS,
        process_rps_source="given" if process_rps else PROCESS_RPS_SOURCE,
        catalog=catalog,
        programs=program_families_read(),
        limits=limits,
        cache_name=settings.MOMENTO_CACHE_NAME,
        poll_s=settings.CACHEOPS_READER_POLL_SECONDS,
        sweep_s=_beat_every("cacheops.tasks.sweep"),
        ttl_check_s=_beat_every("cacheops.tasks.refresh_ttl"),
        ttl_s=settings.CACHEOPS_TTL_SECONDS,
        stage_ahead_s=settings.CACHEOPS_STAGE_AHEAD_SECONDS,
        chunk_limit_bytes=settings.CACHEOPS_CHUNK_BYTES,
        build_ops_per_s=settings.CACHEOPS_OPS_PER_SECOND,
        program_pace_ops=VERSION_READ_OPS + PROGRAM_PUBLISH_OPS,
        build_time_limit_s=settings.CACHEOPS_BUILD_TIME_LIMIT,
        scan_segments=SCAN_SEGMENTS,
        scan_page_items=SCAN_PAGE_ITEMS,
        tables=tables,
        store_error=store_error,
    )
