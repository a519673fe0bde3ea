"""The beat's airtime tick: activate the staged catalog at its instant, stage the next boundary when near, catch up
a boundary nothing was staged for; and the operations it runs (stage, unstage, activate), each logged."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from cacheops import clock
from cacheops.build import fragments, lock, operations
from cacheops.keys import CATALOG
from cacheops.models import Family, Operation
from cacheops.oplog import operation_log
from cacheops.release import airtime, families, publisher, releases, staging, versions
from cms.domain import time_parse, time_text


def _silent(stage: str, done: int, total: int) -> None:
    return None


def airtime_due(*, requested_by: str = "beat") -> str:
    """Activate a staged catalog whose instant has come, stage the next boundary when near, catch up a missed one.

    The next boundary is the earliest of the catalog's own and the pending airtime schedules. Reads SQL rows
    only, so a tick with nothing to do costs the shared cache nothing.
    """
    row = Family.objects.filter(name=CATALOG).first()
    if row is None or not row.latest_version:
        return "idle"
    now, staged_at, pinned = clock.now_seconds(), row.staged_at, row.pinned_at is not None
    if staged_at is not None and staged_at <= now:
        if pinned:
            return "pinned"  # the airtime waits for resume, which makes it current at once
        op = catalog_activate(requested_by=requested_by)
        airtime.activation_record(staged_at, op.result, op.detail)
        if op.result != "lost":
            return op.result
        row.refresh_from_db()
    if pinned:
        return _stage_ahead(row, now, requested_by)
    if row.next_boundary is not None and row.next_boundary <= now:
        # Nothing was staged for it (no worker ran, staging failed, the cache lost it): build as of now, say how late.
        late = (now - row.next_boundary).total_seconds()
        op = operations.catalog_rebuild(requested_by=requested_by)
        op.detail = f"caught up a boundary {late:.0f} s late; {op.detail}"
        op.save(update_fields=["detail"])
        _passed_record(now)
        return "caught up"
    _passed_record(now)
    return _stage_ahead(row, now, requested_by)


def _passed_record(now: datetime) -> None:
    row = Family.objects.get(name=CATALOG)
    current = versions.release_get(CATALOG, row.current_version)
    airtime.passed_record(now, time_parse(current.facts["as_of"]) if current else None)


def _stage_ahead(row: Family, now: datetime, requested_by: str) -> str:
    staged_at = row.staged_at
    boundary = airtime.boundary_next(row.next_boundary, now)
    near = boundary is not None and (boundary - now).total_seconds() <= settings.CACHEOPS_STAGE_AHEAD_SECONDS
    if near and staged_at != boundary:
        return catalog_stage(requested_by=requested_by, boundary=boundary).result
    if staged_at is not None and staged_at != boundary:
        # Staged for an instant no longer ahead (a cancelled schedule) and nothing near replaces it.
        return catalog_unstage(requested_by=requested_by).result
    return "idle"


def catalog_stage(*, requested_by: str = "", progress=None, boundary: datetime | None = None) -> Operation:
    """Stage the catalog as of `boundary` (default: its next one), from the sources the last build stored."""
    with operation_log("stage", CATALOG, requested_by) as op, lock.build_lock(CATALOG):
        op.version_before = op.version_after = operations.current_version(CATALOG)
        row = Family.objects.get(name=CATALOG)
        at = time_text(boundary) if boundary else staging.boundary_after(row.next_boundary)
        note = staging.stage_near(fragments.sources_load(), at, progress or _silent)
        op.detail = note.removeprefix("; ")
        op.result = "failed" if "failed" in note else "staged" if note else "idle"
    return op


def catalog_unstage(*, requested_by: str = "") -> Operation:
    """Remove the catalog's staged version, whose instant is no longer a boundary ahead."""
    with operation_log("unstage", CATALOG, requested_by) as op, lock.build_lock(CATALOG):
        op.version_before = op.version_after = operations.current_version(CATALOG)
        result = releases.unstaged(CATALOG, generation=families.generation_take(CATALOG))
        op.result = result.outcome if result else "idle"
    return op


def catalog_activate(*, requested_by: str = "") -> Operation:
    """Make the staged catalog current (readers switched on their own clocks already), then stage the next."""
    with operation_log("activate", CATALOG, requested_by) as op, lock.build_lock(CATALOG):
        op.version_before = operations.current_version(CATALOG)
        now = clock.now_seconds()
        staged = versions.release_get(CATALOG, Family.objects.get(name=CATALOG).staged_version)
        if staged is not None and not publisher.complete(staged.facts):
            # The cache lost it (a restart, an eviction): forget it; the caller builds as of now instead.
            releases.unstaged(CATALOG, generation=families.generation_take(CATALOG))
            op.result, op.version_after = "lost", op.version_before
            op.detail = f"staged version {staged.version} lost chunks before its activation"
            return op
        result = releases.activated(CATALOG, now=now, generation=families.generation_take(CATALOG))
        if result is None:
            op.result, op.version_after = "idle", op.version_before
            return op
        op.version_after, op.result = result.version, result.outcome
        row = Family.objects.get(name=CATALOG)
        activate_at = row.manifest["as_of"]
        op.detail = (
            f"current since {activate_at}, recorded {(now - time_parse(activate_at)).total_seconds():.0f} s later"
        )
        op.detail += staging.stage_near(fragments.sources_load(), staging.boundary_after(row.next_boundary), _silent)
    return op
