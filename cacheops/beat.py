"""Celery beat's scheduler, leaving a sign of life in SQL so that /metrics and the console can tell beat is silent."""

from __future__ import annotations

import logging
import time

from celery.beat import PersistentScheduler
from django.db import DatabaseError, close_old_connections

from cacheops import clock

from .models import Beacon

BEAT = "beat"
# Each schedule entry's last send is recorded as the beacon "beat:<entry>", for the console's workers page.
ENTRY_PREFIX = f"{BEAT}:"
# How often beat records that it runs; an alert fires after several missed records (cacheops/monitoring/).
EVERY_S = 5.0

logger = logging.getLogger(__name__)


def beacon_write(name: str) -> None:
    """Record that the process `name` is alive now."""
    Beacon.objects.update_or_create(name=name, defaults={"at": clock.now()})


def entry_beacon(entry: str) -> str:
    """The beacon name recording when beat last sent schedule entry `entry`'s task."""
    return f"{ENTRY_PREFIX}{entry}"


class Scheduler(PersistentScheduler):
    """The default scheduler (its schedule file included), recording beat's liveness every few seconds, and when
    it last sent each entry's task (the schedule file holds that too, but only beat's host can read it)."""

    _recorded_at = -EVERY_S
    _sent_recorded: dict | None = None

    def _sent_write(self) -> None:
        """Record the last send of each entry sent since the last record (never sent: nothing to record)."""
        recorded = self._sent_recorded if self._sent_recorded is not None else {}
        for name, entry in list(self.schedule.items()):
            if entry.total_run_count and recorded.get(name) != entry.last_run_at:
                Beacon.objects.update_or_create(name=entry_beacon(name), defaults={"at": entry.last_run_at})
                recorded[name] = entry.last_run_at
        self._sent_recorded = recorded

    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        if time.monotonic() - self._recorded_at >= EVERY_S:
            self._recorded_at = time.monotonic()
            try:
                close_old_connections()
                beacon_write(BEAT)
                self._sent_write()
            except DatabaseError:
                logger.warning("Could not record beat's sign of life; trying again in %s s", EVERY_S)
        # Wake up at least as often as it records, whatever the schedule's next task.
        return min(wait, EVERY_S)
