"""Which Celery workers are alive: each writes a sign of life to SQL every CACHEOPS_HEARTBEAT_SECONDS.

A worker that missed three is gone. The console and each web process's timer (for /healthz and /metrics) read
the rows; nothing asks the workers themselves, so a worker busy with a long build still counts.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta

from celery.worker import state as worker_state
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Count, Max, Q
from django.utils import timezone

from cacheops import oplog
from cacheops.models import Worker

# Rows of workers silent this long are removed by the next worker's beat.
FORGET_AFTER = timedelta(hours=1)
# A worker holds one task per pool process (CELERY_WORKER_PREFETCH_MULTIPLIER is 1): a bound for the list.
HELD_LISTED = 100

logger = logging.getLogger(__name__)


def worker_beat(name: str, started_at: datetime, task_ids: list[str], idle_since: datetime | None) -> None:
    """Note that worker `name` is alive now, holding `task_ids` (idle since `idle_since` when it holds none)."""
    defaults = {"started_at": started_at, "seen_at": timezone.now(), "task_ids": task_ids, "idle_since": idle_since}
    Worker.objects.update_or_create(name=name, defaults=defaults)


def task_held(task_id: str, now: datetime | None = None) -> bool:
    """Whether a live worker holds task `task_id` (received it, running or waiting to run it)."""
    return any(task_id in ids for ids in _alive(now).values_list("task_ids", flat=True))


def idle_since_before(moment: datetime, now: datetime | None = None) -> bool:
    """Whether a live worker has held no task since `moment` or earlier."""
    return _alive(now).filter(idle_since__lte=moment).exists()


def _alive(now: datetime | None):
    return Worker.objects.filter(seen_at__gte=oplog.silent_since(now))


def workers_forget() -> int:
    """Remove the rows of workers gone for long; return how many."""
    return Worker.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()[0]


def workers_alive(now: datetime | None = None) -> int:
    """How many workers showed a sign of life within the last three heartbeats."""
    return _alive(now).count()


def workers_seen(now: datetime | None = None) -> tuple[int, datetime | None]:
    """How many workers are alive, and when any last showed a sign of life (None: none ever ran here)."""
    found = Worker.objects.aggregate(
        alive=Count("name", filter=Q(seen_at__gte=oplog.silent_since(now))), last=Max("seen_at")
    )
    return found["alive"], found["last"]


class _Beat(threading.Thread):
    """Write this worker's sign of life until stopped."""

    def __init__(self, name: str) -> None:
        super().__init__(name="worker heartbeat", daemon=True)
        self.worker, self.started_at, self.stopped = name, timezone.now(), threading.Event()

    def run(self) -> None:
        beats, idle_since = 0, None
        while True:
            # Kept by this (main) process for every pool: the tasks received and not yet finished.
            held = sorted(request.id for request in list(worker_state.reserved_requests))[:HELD_LISTED]
            idle_since = None if held else (idle_since or timezone.now())
            try:
                worker_beat(self.worker, self.started_at, held, idle_since)
                if beats % 100 == 0:
                    workers_forget()
            except DatabaseError:
                logger.warning("Could not record that worker %s is alive; trying again", self.worker, exc_info=True)
            finally:
                # A new connection each time: this process forks pool processes, which must not share one.
                connections.close_all()
            beats += 1
            if self.stopped.wait(settings.CACHEOPS_HEARTBEAT_SECONDS):
                return


_beat: _Beat | None = None


def worker_ready_receive(sender=None, **kwargs) -> None:
    """Start this worker's heartbeat (Celery's worker_ready, in the worker's main process)."""
    global _beat
    hostname = getattr(sender, "hostname", None) or "celery"
    _beat = _Beat(f"{hostname} pid {os.getpid()}")
    _beat.start()


def worker_shutdown_receive(**kwargs) -> None:
    """Stop this worker's heartbeat and say it is gone (Celery's worker_shutdown)."""
    if _beat is None:
        return
    _beat.stopped.set()
    _beat.join(timeout=10)
    try:
        Worker.objects.filter(name=_beat.worker).delete()
    except DatabaseError:
        logger.warning("Could not record that worker %s stopped; it counts as gone shortly", _beat.worker)
    finally:
        connections.close_all()
