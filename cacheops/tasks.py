"""Celery entry points for the cache engine; each calls one operation."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from pynamodb.exceptions import PynamoDBException

from cacheops import oplog
from cacheops.build import operations
from cacheops.release import boundaries
from cms.store.errors import StoreUnavailable

from .backends.base import CacheUnavailable
from .errors import BuildBusy, LockLost

# Reads only: any DynamoDB error left after botocore's own retries (throttling, a stalled store) is worth
# retrying. A build that lost its lock gave its changes back, so a retry builds them again.
TRANSIENT = (CacheUnavailable, LockLost, PynamoDBException, StoreUnavailable)
# A build stops at its soft limit (its operation is logged as failed, its changes go back) and is killed at the
# hard one; the broker's visibility timeout exceeds both (cms/settings.py).
LIMITS = {
    "time_limit": settings.CACHEOPS_BUILD_TIME_LIMIT,
    "soft_time_limit": settings.CACHEOPS_BUILD_TIME_LIMIT - max(1, settings.CACHEOPS_BUILD_TIME_LIMIT // 10),
}
RETRY = {
    **LIMITS,
    "bind": True,
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


logger = logging.getLogger(__name__)

# A rebuild waits its turn in its worker this long, then is retried a second later, up to BUSY_RETRIES times.
TURN_WAIT_S = 60
BUSY_RETRIES = 40


def _progress(task):
    # Progress is for the console's bar: a result backend that is down (the broker's Redis restarting) costs the
    # bar a step, never the build.
    errors = getattr(task.backend, "connection_errors", ()) or (ConnectionError, OSError)

    def report(stage: str, done: int, total: int) -> None:
        try:
            task.update_state(state="PROGRESS", meta={"stage": stage, "done": done, "total": total})
        except errors:
            logger.warning("Could not report the progress of task %s; the build goes on", task.request.id)

    return report


def _as_of(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@shared_task(**RETRY)
def rebuild(
    self,
    family: str = "catalog",
    as_of: str | None = None,
    requested_by: str = "",
    full: bool = False,
    if_pending: bool = False,
):
    """Build and publish a family; waits its turn while another build holds the lock; refuses a future as_of.

    `if_pending`: sent for noted changes; nothing to do once another build has taken them all.
    """
    # Waiting here rather than in retries, the build starts as soon as the one before it ends or is found dead.
    if not operations.turn_wait(family, within_s=0 if self.request.is_eager else TURN_WAIT_S):
        raise self.retry(countdown=1, max_retries=BUSY_RETRIES)
    if if_pending and operations.nothing_pending(family):
        return {"result": "nothing pending", "version": ""}  # another build took the changes it was sent for
    try:
        op = operations.family_rebuild(
            family=family, as_of=_as_of(as_of), requested_by=requested_by, full=full, progress=_progress(self)
        )
    except BuildBusy as exc:
        raise self.retry(exc=exc, countdown=1, max_retries=BUSY_RETRIES) from exc
    return {"result": op.result, "version": op.version_after}


@shared_task(acks_late=True, **LIMITS)
def rebuild_ask(family: str, seen_at: str):
    """A reader found `family` missing or incomplete at `seen_at`: rebuild unless a build answers it already."""
    # No retry: the reader asks again within seconds while it still finds nothing.
    return operations.rebuild_ask(family, requested_by="reader", seen_at=_as_of(seen_at))


@shared_task(**RETRY)
def invalidate(self, family: str = "catalog", hard: bool = False, requested_by: str = ""):
    """Soft or hard invalidation of a family."""
    return operations.invalidate(family=family, hard=hard, requested_by=requested_by).result


@shared_task(**RETRY)
def prewarm(self, family: str = "catalog", requested_by: str = ""):
    """Build if needed, verify every chunk and refresh TTLs."""
    try:
        op = operations.prewarm(family=family, requested_by=requested_by, progress=_progress(self))
    except BuildBusy as exc:
        raise self.retry(exc=exc, countdown=2) from exc
    return {"result": op.result, "version": op.version_after}


@shared_task(**RETRY)
def refresh_ttl(self):
    """Rewrite entries that would expire before the next run."""
    return operations.ttl_refresh_due()


@shared_task(acks_late=True, **LIMITS)
def rebuild_stalled():
    """Queue builds for changes no build has picked up (a lost or failed task, a dead worker)."""
    return operations.stalled_changes_requeue()


@shared_task(acks_late=True, **LIMITS)
def sweep():
    """Mark operations of dead workers abandoned; queue a rebuild if the cache lost the catalog."""
    # No retry: beat sends the next sweep within a minute.
    return {"abandoned": oplog.operations_abandoned_mark(), "catalog_requeued": operations.lost_catalog_requeue()}


@shared_task(acks_late=True, **LIMITS)
def airtime():
    """Activate, stage or catch up the catalog's content boundaries (see boundaries.airtime_due)."""
    # No retry: beat sends the next tick within seconds; a build holding the lock is simply waited for.
    try:
        return boundaries.airtime_due(requested_by="beat")
    except BuildBusy:
        return "busy"


@shared_task(**RETRY)
def prewarm_at(self, schedule_id: int):
    """Prepare an airtime schedule: build the catalog as of its instant, verify, diff, warm the edge."""
    from cacheops.release.airtime import prepare

    schedule = prepare(schedule_id, progress=_progress(self))
    return {"result": schedule.result if schedule else "gone", "version": schedule.prepared_version if schedule else ""}
