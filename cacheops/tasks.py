"""Celery entry points for the cache engine; each calls one operation."""

from __future__ import annotations

from celery import shared_task
from pynamodb.exceptions import PynamoDBException

from cms.store.errors import StoreUnavailable

from . import operations
from .backends.base import CacheUnavailable
from .errors import BuildBusy

# Reads only: any DynamoDB error left after botocore's own retries (throttling, a stalled store) is worth
# retrying.
TRANSIENT = (CacheUnavailable, PynamoDBException, StoreUnavailable)
RETRY = {
    "bind": True,
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 8,
}


def _progress(task):
    def report(stage: str, done: int, total: int) -> None:
        task.update_state(state="PROGRESS", meta={"stage": stage, "done": done, "total": total})

    return report


def _as_of(value: str | None):
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@shared_task(**RETRY)
def rebuild(self, family: str = "catalog", as_of: str | None = None, requested_by: str = "", full: bool = False):
    """Build and publish a family; waits its turn while another build holds the lock."""
    try:
        op = operations.family_rebuild(
            family=family, as_of=_as_of(as_of), requested_by=requested_by, full=full, progress=_progress(self)
        )
    except BuildBusy as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 15), max_retries=40) from exc
    return {"result": op.result, "version": op.version_after}


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
def rollback(self, family: str = "catalog", requested_by: str = ""):
    """Make the previous version current again."""
    return operations.rollback(family=family, requested_by=requested_by).version_after


@shared_task(**RETRY)
def refresh_ttl(self):
    """Rewrite entries that would expire before the next run."""
    return operations.ttl_refresh_due()


@shared_task(acks_late=True)
def rebuild_stalled():
    """Queue builds for changes no build has picked up (a lost or failed task)."""
    return operations.stalled_changes_requeue()
