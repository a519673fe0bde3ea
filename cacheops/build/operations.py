"""Cache operations (rebuild, invalidate, prewarm, rollback, TTL refresh), each logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.conf import settings

from cacheops import chunks, clock, oplog
from cacheops.build import fragments, lock, pending
from cacheops.build.pacing import Pace
from cacheops.build.snapshot import catalog_body, next_boundary, program_body
from cacheops.errors import BuildBusy, FutureAsOf, PublishError
from cacheops.keys import CATALOG
from cacheops.manifest import manifest_read, manifest_ttl_left
from cacheops.models import Family, Operation, PendingChange
from cacheops.oplog import operation_log
from cacheops.release import airtime, families, publisher, releases, staging, versions
from cacheops.release.families import families_read
from cacheops.release.releases import Published
from cms.domain import time_parse, time_text
from cms.enqueue import task_send

REBUILD_TASK = "cacheops.tasks.rebuild"
# NOTE: cache operations a program family costs, for pacing: a manifest read to compare versions; a publish
# (lock, manifest reads, chunk write and read-back, manifest and version writes, lock release) about a dozen.
VERSION_READ_OPS = 1
PROGRAM_PUBLISH_OPS = 12
# A build waiting its turn looks at the lock this often: it starts within this long of the build before it ending.
TURN_POLL_S = 0.5

logger = logging.getLogger(__name__)


def program_family(program_id: str) -> str:
    """The family holding one program."""
    return f"program:{program_id}"


def as_of_check(as_of: datetime | None) -> datetime:
    """The instant a build shows: now unless given; a future one, even a second ahead, is refused (it is staged,
    never built as now: content would be served before its publish_at)."""
    now = clock.now_seconds()
    if as_of is None:
        return now
    if as_of > now:
        raise FutureAsOf(time_text(as_of), time_text(now))
    return as_of


def current_version(family: str) -> str:
    """The version the release state names current (empty if none)."""
    return Family.objects.filter(name=family).values_list("current_version", flat=True).first() or ""


def version_publish(
    family: str, body: bytes, *, as_of: datetime, generation: int, next_boundary: str | None, progress=None
):
    """Write `body`'s chunks unless the cache holds them, then record the build in the release state."""
    facts, written = publisher.version_ensure(family, body, as_of=as_of, next_boundary=next_boundary, progress=progress)
    return releases.built(family, facts, generation=generation, written=written)


def rebuild_request(
    *,
    program_id: str | None = None,
    items: Iterable[Sequence] = (),
    family: str = CATALOG,
    requested_by: str = "",
    again: bool = False,
) -> bool:
    """Note a change (with the items written) and queue one build unless one is queued already; True if queued now.

    Without a program, everything is read again from the store (an invalidation); with `again`, nothing is: the
    build publishes again from the stored sources what the cache lost.
    """
    # The program's own family gets a change of its own: built by the catalog build, or by the sweep if that died.
    riders = [program_family(program_id)] if program_id and family == CATALOG else []
    whole = PendingChange.AGAIN if again else PendingChange.FULL
    if not pending.change_record(family, program_id or whole, items, riders=riders):
        return False
    return _rebuild_send(family, requested_by)


def stalled_changes_requeue(*, older_than_s: float | None = None) -> list[str]:
    """Queue a build for families whose changes waited too long (their build task was lost, gave up or died)."""
    if older_than_s is None:
        older_than_s = settings.CACHEOPS_QUEUED_STALE_SECONDS
    if returned := pending.changes_orphaned_return():
        logger.warning("%d changes held by builds that died were given back", returned)
    # Unless a build is queued and may still start: a mark no worker took up is stale and claimed again.
    families = [family for family in pending.families_waiting(older_than_s) if pending.queued_claim(family)]
    for family in families:
        _rebuild_send(family, "beat")
    return families


def turn_wait(family: str, *, within_s: float) -> bool:
    """Wait until no live build holds the lock of `family` (True) or `within_s` passes (False).

    Meanwhile the family's queued mark says a worker holds its next build, so saves do not send another.
    """
    deadline = time.monotonic() + within_s
    while True:
        pending.queued_keep(family)
        if lock.lock_free(family):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(TURN_POLL_S)


def _rebuild_send(family: str, requested_by: str) -> bool:
    """Send the rebuild task for a family whose queued flag the caller holds; release the flag if it fails."""
    try:
        # Sent for noted changes: a worker that finds none left (another build took them) has nothing to do.
        task_send(REBUILD_TASK, family, requested_by=requested_by, if_pending=True)
    except Exception:
        # Callers run after a stored write: the change stays noted and the beat sweep queues it later.
        pending.queued_release(family)
        logger.warning("Rebuild of %s not queued; the stalled-changes sweep will retry it", family, exc_info=True)
        return False
    return True


def catalog_rebuild(
    *, as_of: datetime | None = None, requested_by: str = "", full: bool = False, progress=None
) -> Operation:
    """Build the catalog from per-program sources (re-reading only changed programs), publish it, then the programs."""
    as_of, progress = as_of or clock.now_seconds(), progress or _silent
    # Changes stay recorded until what contains them is published; any failure gives them back.
    with operation_log("rebuild", CATALOG, requested_by) as op, pending.changes_held(op):
        with lock.build_lock(CATALOG):
            taken = pending.changes_take(CATALOG, op, with_programs=True)
            generation = families.generation_take(CATALOG)
            op.version_before = current_version(CATALOG)
            # A cache emptied by a restart or a flush lost every family, not only the catalog: re-publish them all,
            # from the sources stored in SQL (the store itself did not change: reading it all again would hold every
            # save behind a full scan).
            emptied = CATALOG in families_read() and manifest_read(CATALOG) is None
            if full or taken.full or not fragments.sources_exist():
                mode = "full"
            else:
                mode = "again" if emptied else "incremental"
            if mode == "full":
                sources, refresh = fragments.sources_refresh_all()
            else:
                refresh = fragments.sources_refresh(taken.programs)
                sources = fragments.sources_load()
            progress("assemble", 0, 1)
            body = catalog_body(sources.values(), as_of)
            boundary = next_boundary(sources.values(), as_of)
            result = version_publish(
                CATALOG, body, as_of=as_of, generation=generation, next_boundary=boundary, progress=progress
            )
            pending.changes_done(op, [CATALOG])
            if result.outcome in ("published", "waiting"):
                airtime.prepared_renew()
            op.version_after = result.version
            op.result = result.outcome
            op.detail = _build_detail(mode, refresh, body)
            op.detail += staging.stage_near(sources, staging.boundary_after(time_parse(boundary)), progress)
            if refresh.skipped:
                # The others were published; these keep their last good entry until their content is fixed.
                op.result = "partial"
        programs = dict.fromkeys(taken.programs, True)
        if mode in ("full", "again"):
            # Every program's family follows a full rebuild, those of vanished programs too (as null).
            published = {name.removeprefix("program:") for name in families_read() if name.startswith("program:")}
            programs = dict.fromkeys(sorted(set(sources) | published), False) | programs
        _program_families_publish(op, programs, sources, as_of=as_of, requested_by=requested_by, progress=progress)
    return op


def _silent(stage: str, done: int, total: int) -> None:
    return None


def _build_detail(mode: str, refresh: fragments.Refresh, body: bytes) -> str:
    detail = f"{mode}; {refresh.read} items read; {len(body)} bytes"
    if refresh.index_behind:
        detail += "; index behind the recorded writes (read by key): " + ", ".join(refresh.index_behind)
    if refresh.skipped:
        detail += "; not publishable (last good entry kept, if any): " + ", ".join(refresh.skipped)
    return detail


def _program_families_publish(
    build: Operation, programs: dict[str, bool], sources: dict[str, dict], *, as_of, requested_by, progress
) -> None:
    """Publish each program's family (those not forced only if their version changed), paced to the cache's quota."""
    pace, published, beat = Pace(settings.CACHEOPS_OPS_PER_SECOND), set(families_read()), time.monotonic()
    for done, (program_id, forced) in enumerate(sorted(programs.items()), 1):
        family = program_family(program_id)
        progress("programs", done - 1, len(programs))
        if time.monotonic() - beat >= settings.CACHEOPS_HEARTBEAT_SECONDS:
            beat = time.monotonic()
            # Still alive: its changes stay its own, and the console shows it running.
            oplog.operation_heartbeat(build.pk)
        if not forced:
            pace.spend(VERSION_READ_OPS)
            body = program_body(sources.get(program_id), as_of)
            never_published = family not in published and body == program_body(None, as_of)
            # The cache's own manifest, not SQL's record: a family the cache lost is published again.
            served = manifest_read(family)
            if never_published or (served is not None and served["version"] == chunks.sha16(body)):
                continue
        pace.spend(PROGRAM_PUBLISH_OPS)
        try:
            program_rebuild(program_id=program_id, as_of=as_of, requested_by=requested_by, taken_by=build)
        except BuildBusy:
            # Another build of this program runs and may have read it before these changes: one more follows it.
            pending.changes_return(build, [family])
            if pending.queued_claim(family):
                _rebuild_send(family, requested_by)
    progress("programs", len(programs), len(programs))


def program_rebuild(
    *, program_id: str, as_of: datetime | None = None, requested_by: str = "", taken_by: Operation | None = None
) -> Operation:
    """Publish the family of one program: re-read it, or (for catalog build `taken_by`) from the source it stored."""
    family, as_of = program_family(program_id), as_of or clock.now_seconds()
    with operation_log("rebuild", family, requested_by) as op, lock.build_lock(family):
        build = taken_by or op
        with pending.changes_held(build):
            taken = pending.changes_take(family, op) if taken_by is None else None
            generation = families.generation_take(family)
            op.version_before = current_version(family)
            if taken is not None:
                fragments.sources_refresh(taken.programs or {program_id: []})
            source = fragments.sources_load([program_id]).get(program_id)
            body = program_body(source, as_of)
            boundary = next_boundary([source] if source else [], as_of)
            result = version_publish(family, body, as_of=as_of, generation=generation, next_boundary=boundary)
            if result.outcome == "superseded":
                # A catalog build publishes programs it read before taking their generation, so the build that won
                # may hold older content than these changes: they get one more build (the sweep's).
                pending.changes_return(build, [family])
            else:
                pending.changes_done(build, [family])
            op.version_after = result.version
            op.result = result.outcome
    return op


def family_rebuild(*, family: str, as_of: datetime | None = None, requested_by: str = "", full=False, progress=None):
    """Rebuild any family by name."""
    as_of = as_of_check(as_of)
    if family == CATALOG:
        return catalog_rebuild(as_of=as_of, requested_by=requested_by, full=full, progress=progress)
    if family.startswith("program:"):
        return program_rebuild(program_id=family.split(":", 1)[1], as_of=as_of, requested_by=requested_by)
    raise ValueError(f"unknown family {family!r}: use catalog or program:<id>")


def invalidate(*, family: str = CATALOG, hard: bool = False, requested_by: str = "") -> Operation:
    """Soft: mark stale and rebuild while readers keep the old version. Hard: drop the pointer."""
    with operation_log("invalidate-hard" if hard else "invalidate", family, requested_by) as op:
        op.version_before = current_version(family)
        if hard:
            releases.removed(family)
        else:
            releases.stale_marked(family)
        op.result = "done"
    if not hard:
        rebuild_request(family=family, requested_by=requested_by)
    return op


def prewarm(*, family: str = CATALOG, requested_by: str = "", progress=None) -> Operation:
    """Make sure the current snapshot is built, complete and far from expiring."""
    if manifest_read(family) is None:
        family_rebuild(family=family, requested_by=requested_by, progress=progress)
    with operation_log("prewarm", family, requested_by) as op, lock.build_lock(family):
        op.version_before = current_version(family)
        result = ttl_refresh(family, progress)
        op.version_after = result.version if result else ""
        op.result = "done" if result else "empty"
    return op


def ttl_refresh(family: str, progress=None) -> Published | None:
    """Write the current version's chunks again with a fresh TTL, then the manifest; None if nothing is current."""
    release = versions.release_get(family, current_version(family))
    if release is None:
        return None
    return releases.refreshed(family, publisher.chunks_refresh(release.facts, progress))


def ttl_refresh_due(*, requested_by: str = "beat") -> list[str]:
    """Refresh every family whose manifest or chunks expire within half their lifetime."""
    refreshed = []
    horizon = settings.CACHEOPS_TTL_SECONDS / 2
    for family in families_read():
        manifest = manifest_read(family)
        if manifest is None or manifest_ttl_left(manifest) >= horizon:
            continue
        try:
            with operation_log("refresh_ttl", family, requested_by) as op, lock.build_lock(family):
                ttl_refresh(family)
                op.version_before = op.version_after = manifest["version"]
                op.result = "done"
        except BuildBusy:
            continue  # a build is writing fresh entries right now
        except PublishError:
            # A chunk is gone (evicted): only a build can write it again; the other families still get refreshed.
            rebuild_request(family=family, requested_by=requested_by)
            continue
        refreshed.append(family)
    return refreshed


def lost_catalog_requeue(*, requested_by: str = "beat") -> bool:
    """Queue a rebuild if the cache lost the catalog SQL says is published (a restart, a flush); True if so."""
    # NOTE: one cache read per run. An emptied cache lost the catalog too, and its full rebuild re-publishes
    # every program family whose manifest is gone.
    if not Family.objects.filter(name=CATALOG).exclude(current_version="").exists():
        return False
    if manifest_read(CATALOG) is not None:
        return False
    logger.warning("The cache has lost the published catalog; queueing a rebuild from the stored sources")
    rebuild_request(family=CATALOG, requested_by=requested_by, again=True)
    return True


def nothing_pending(family: str) -> bool:
    """Whether `family` has no change left for a build sent for changes (another build took them)."""
    # The mark goes first, as when a build takes changes: a save noted after the look below sends its own build.
    pending.queued_release(family)
    return not pending.changes_free(family)


def rebuild_ask(family: str, *, requested_by: str, seen_at: datetime) -> bool:
    """Ask for a rebuild of a family a reader found missing or incomplete at `seen_at`, unless one answers it already.

    Many processes ask at once: a build noted or running (its changes are pending), or one that ended after the
    reader looked (its heartbeat is later), answers them all.
    """
    if PendingChange.objects.filter(family=family).exists():
        return False
    if Operation.objects.filter(kind="rebuild", family=family, heartbeat_at__gte=seen_at).exists():
        return False
    return rebuild_request(family=family, requested_by=requested_by, again=True)
