"""The operations log: one row per cache operation, its heartbeat while it runs, and rows left by dead workers."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from celery import current_task
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from cacheops import metrics
from cms.domain import time_text

from .errors import BuildBusy
from .models import Operation

ABANDONED = "abandoned"
# An operation that missed this many heartbeats in a row is not running any more.
HEARTBEATS_MISSED = 3

logger = logging.getLogger(__name__)

_running: contextvars.ContextVar[Operation | None] = contextvars.ContextVar("cacheops_operation", default=None)


@contextlib.contextmanager
def operation_log(kind: str, family: str, requested_by: str) -> Iterator[Operation]:
    """Record an operation with its duration and outcome, failures included."""
    op = Operation.objects.create(
        kind=kind, family=family, requested_by=requested_by or "", heartbeat_at=timezone.now(), task_id=_task_id()
    )
    token = _running.set(op)
    started = time.monotonic()
    failed = False
    try:
        yield op
    except BaseException as exc:
        # BaseException too: an operator's Ctrl-C ends the operation as surely as an error does.
        failed = True
        op.result = "busy" if isinstance(exc, BuildBusy) else "failed"
        op.detail = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    else:
        # An empty result means "still running" (or abandoned): an operation that returned has finished.
        op.result = op.result or "done"
    finally:
        _running.reset(token)
        op.duration_ms = int((time.monotonic() - started) * 1000)
        op.heartbeat_at = timezone.now()
        try:
            # Saves the result over "abandoned" too: a build the sweep gave up on may still finish.
            op.save()
        except Exception:
            if not failed:
                raise
            # The failure being raised is the one to see; this row is marked abandoned later.
            logger.exception("Could not record the end of operation %s (%s %s)", op.pk, kind, family)
        _counted(op, requested_by)


def _counted(op: Operation, requested_by: str) -> None:
    try:
        metrics.operation_time(op.kind, op.result, op.duration_ms / 1000)
        if op.kind == "rebuild":
            metrics.build_count(op.family, requested_by)
    except DatabaseError:
        logger.warning("Could not count operation %s (%s %s)", op.pk, op.kind, op.family, exc_info=True)


def _task_id() -> str:
    task = current_task
    return (task.request.id if task else None) or ""


def operation_running() -> Operation | None:
    """The operation being logged in this context, if any."""
    return _running.get()


def operation_heartbeat(op_id: int) -> None:
    """Note that operation `op_id` is alive."""
    try:
        Operation.objects.filter(pk=op_id).update(heartbeat_at=timezone.now())
    except DatabaseError:
        # A missed heartbeat costs nothing until the time limit runs out; failing the build for it would.
        logger.warning("Could not record the heartbeat of operation %s", op_id, exc_info=True)


def silent_since(now: datetime | None = None) -> datetime:
    """A running operation whose last sign of life is older than this is dead: it missed HEARTBEATS_MISSED."""
    # A running operation writes one every CACHEOPS_HEARTBEAT_SECONDS (its build lock's heartbeat thread, or a
    # catalog build between program families); the thread stops at the hard time limit, when Celery kills the build.
    return (now or timezone.now()) - timedelta(seconds=HEARTBEATS_MISSED * settings.CACHEOPS_HEARTBEAT_SECONDS)


def operation_end(op_id: int) -> str | None:
    """How operation `op_id` is known to have ended, or None while it may still be running (or is unknown here)."""
    row = Operation.objects.filter(pk=op_id).values("result", "heartbeat_at", "started_at").first()
    if row is None:
        return None
    if row["result"]:
        return f"operation {op_id} ended: {row['result']}"
    last = row["heartbeat_at"] or row["started_at"]
    if last < silent_since():
        return f"operation {op_id} has shown no sign of life since {time_text(last)}"
    return None


def operations_abandoned_mark() -> list[int]:
    """Mark operations without a result that missed their heartbeats as abandoned."""
    cutoff = silent_since()
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    detail = (
        f"no sign of life for more than {HEARTBEATS_MISSED * settings.CACHEOPS_HEARTBEAT_SECONDS:g} s: "
        "its worker died or was stopped before it finished"
    )
    ids, now = [], timezone.now()
    for op in Operation.objects.filter(silent, result="").only("pk", "kind", "started_at"):
        # One row at a time: an operation that ended meanwhile keeps its result and is not counted twice.
        if Operation.objects.filter(pk=op.pk, result="").update(result=ABANDONED, detail=detail):
            ids.append(op.pk)
            metrics.operation_time(op.kind, ABANDONED, (now - op.started_at).total_seconds())
    if ids:
        logger.warning("Marked %d operation(s) abandoned: %s", len(ids), ", ".join(map(str, ids)))
    return ids
