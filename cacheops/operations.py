"""Cache operations (rebuild, invalidate, prewarm, rollback, TTL refresh), each logged."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime

from django.conf import settings

from cms.domain import time_parse
from cms.enqueue import task_send

from . import fragments, lock, pending, publisher
from .errors import BuildBusy
from .manifest import families_read, manifest_read
from .models import Operation, PendingChange
from .snapshot import catalog_body, program_body

CATALOG = "catalog"
REBUILD_TASK = "cacheops.tasks.rebuild"

logger = logging.getLogger(__name__)


def program_family(program_id: str) -> str:
    """The family holding one program."""
    return f"program:{program_id}"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@contextlib.contextmanager
def operation_log(kind: str, family: str, requested_by: str):
    """Record an operation with its duration and outcome, failures included."""
    op = Operation.objects.create(kind=kind, family=family, requested_by=requested_by or "")
    started = time.monotonic()
    try:
        yield op
    except Exception as exc:
        op.result = "busy" if isinstance(exc, BuildBusy) else "failed"
        op.detail = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        op.duration_ms = int((time.monotonic() - started) * 1000)
        op.save()


def _version(family: str) -> str:
    manifest = manifest_read(family)
    return manifest["version"] if manifest else ""


def rebuild_request(*, program_id: str | None = None, family: str = CATALOG, requested_by: str = "") -> bool:
    """Note a change and queue one build unless one is queued already; True if queued now."""
    if not pending.change_record(family, program_id or PendingChange.FULL):
        return False
    return _rebuild_send(family, requested_by)


def stalled_changes_requeue(*, older_than_s: int = 60) -> list[str]:
    """Queue a build for families whose changes waited too long (their build task was lost or gave up)."""
    # Whatever the queued flag says: a flag can outlive its task (a worker lost it, a send half failed).
    families = pending.families_waiting(older_than_s)
    for family in families:
        pending.queued_mark(family)
        _rebuild_send(family, "beat")
    return families


def _rebuild_send(family: str, requested_by: str) -> bool:
    """Send the rebuild task for a family whose queued flag the caller holds; release the flag if it fails."""
    try:
        task_send(REBUILD_TASK, family, requested_by=requested_by)
    except Exception:
        # Callers run after a stored write: the change stays noted and the beat sweep queues it later.
        pending.queued_release(family)
        logger.warning("Rebuild of %s not queued; the stalled-changes sweep will retry it", family, exc_info=True)
        return False
    return True


def catalog_rebuild(
    *, as_of: datetime | None = None, requested_by: str = "", full: bool = False, progress=None
) -> Operation:
    """Build the catalog from per-program sources (re-reading only changed programs) and publish it."""
    as_of = as_of or _now()
    with operation_log("rebuild", CATALOG, requested_by) as op, lock.build_lock(CATALOG) as build_id:
        started_at = _now()
        op.version_before = _version(CATALOG)
        asked_full, changed = pending.changes_take(CATALOG)
        try:
            if full or asked_full or not fragments.sources_exist():
                sources, refresh = fragments.sources_refresh_all()
                mode = "full"
            else:
                refresh = fragments.sources_refresh(changed)
                sources = fragments.sources_load()
                mode = "incremental"
        except Exception:
            pending.changes_return(CATALOG, changed, full=asked_full)
            raise
        (progress or (lambda *a: None))("assemble", 0, 1)
        body = catalog_body(sources.values(), as_of)
        result = publisher.publish(
            CATALOG, body, as_of=as_of, build_id=build_id, started_at=started_at, progress=progress
        )
        op.version_after = result.version
        op.result = "published" if result.changed else "unchanged"
        op.detail = f"{mode}; {refresh.read} items read; {len(body)} bytes"
        if refresh.skipped:
            # The others were published; these keep their last good entry until their content is fixed.
            op.result = "partial"
            op.detail += "; not publishable (last good entry kept, if any): " + ", ".join(refresh.skipped)
    for program_id in sorted(changed):
        program_rebuild(program_id=program_id, as_of=as_of, requested_by=requested_by)
    return op


def program_rebuild(*, program_id: str, as_of: datetime | None = None, requested_by: str = "") -> Operation:
    """Publish the family of one program from its stored source."""
    family, as_of = program_family(program_id), as_of or _now()
    with operation_log("rebuild", family, requested_by) as op, lock.build_lock(family) as build_id:
        started_at = _now()
        op.version_before = _version(family)
        body = program_body(fragments.sources_load().get(program_id), as_of)
        result = publisher.publish(family, body, as_of=as_of, build_id=build_id, started_at=started_at)
        op.version_after = result.version
        op.result = "published" if result.changed else "unchanged"
    return op


def family_rebuild(*, family: str, as_of: datetime | None = None, requested_by: str = "", full=False, progress=None):
    """Rebuild any family by name."""
    if family == CATALOG:
        return catalog_rebuild(as_of=as_of, requested_by=requested_by, full=full, progress=progress)
    if family.startswith("program:"):
        program_id = family.split(":", 1)[1]
        fragments.sources_refresh({program_id})
        return program_rebuild(program_id=program_id, as_of=as_of, requested_by=requested_by)
    raise ValueError(f"unknown family {family!r}: use catalog or program:<id>")


def invalidate(*, family: str = CATALOG, hard: bool = False, requested_by: str = "") -> Operation:
    """Soft: mark stale and rebuild while readers keep the old version. Hard: drop the pointer."""
    with operation_log("invalidate-hard" if hard else "invalidate", family, requested_by) as op:
        op.version_before = _version(family)
        if hard:
            publisher.manifest_remove(family)
        else:
            publisher.manifest_mark_stale(family)
        op.result = "done"
    if not hard:
        rebuild_request(family=family, requested_by=requested_by)
    return op


def prewarm(*, family: str = CATALOG, requested_by: str = "", progress=None) -> Operation:
    """Make sure the current snapshot is built, complete and far from expiring."""
    if manifest_read(family) is None:
        family_rebuild(family=family, requested_by=requested_by, progress=progress)
    with operation_log("prewarm", family, requested_by) as op, lock.build_lock(family):
        op.version_before = _version(family)
        manifest = publisher.ttl_refresh(family, progress=progress)
        op.version_after = manifest["version"] if manifest else ""
        op.result = "done" if manifest else "empty"
    return op


def rollback(*, family: str = CATALOG, requested_by: str = "") -> Operation:
    """Make the previous version current again."""
    with operation_log("rollback", family, requested_by) as op, lock.build_lock(family) as build_id:
        op.version_before = _version(family)
        result = publisher.rollback(family, build_id=build_id, started_at=_now())
        op.version_after = result.version
        op.result = "done"
    return op


def ttl_refresh_due(*, requested_by: str = "beat") -> list[str]:
    """Refresh every family whose cache entries expire within half their lifetime."""
    refreshed = []
    horizon = settings.CACHEOPS_TTL_SECONDS / 2
    for family in families_read():
        manifest = manifest_read(family)
        if manifest is None:
            continue
        expires = time_parse(manifest["expires_at"])
        if (expires - datetime.now(UTC)).total_seconds() < horizon:
            with operation_log("refresh_ttl", family, requested_by) as op, lock.build_lock(family):
                publisher.ttl_refresh(family)
                op.version_before = op.version_after = manifest["version"]
                op.result = "done"
            refreshed.append(family)
    return refreshed
