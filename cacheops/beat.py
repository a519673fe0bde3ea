"""Celery beat's scheduler, leaving a sign of life in SQL so that /metrics and the console can tell beat is silent."""

from __future__ import annotations

import logging
import time

from celery.beat import PersistentScheduler
from django.db import DatabaseError, close_old_connections

from cacheops import clock

from .models import Beacon

BEAT = "beat"
# How often beat records that it runs; an alert fires after several missed records (cacheops/monitoring/).
EVERY_S = 5.0

logger = logging.getLogger(__name__)


def beacon_write(name: str) -> None:
    """Record that the process `name` is alive now."""
    Beacon.objects.update_or_create(name=name, defaults={"at": clock.now()})


class Scheduler(PersistentScheduler):
    """The default scheduler (its schedule file included), recording beat's liveness every few seconds."""

    _recorded_at = -EVERY_S

    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        if time.monotonic() - self._recorded_at >= EVERY_S:
            self._recorded_at = time.monotonic()
            try:
                close_old_connections()
                beacon_write(BEAT)
            except DatabaseError:
                logger.warning("Could not record beat's sign of life; trying again in %s s", EVERY_S)
        # Wake up at least as often as it records, whatever the schedule's next task.
        return min(wait, EVERY_S)
