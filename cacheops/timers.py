"""Each web process's own timer: its request counts handed to the metrics each second, its per-minute traffic rows
written to SQL, and how many workers are alive.

Kept apart from the reader, whose polling thread reads the shared cache only: a slow or restarted database never
delays a poll. Started by the first request a process answers, and again in a forked child.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

from cacheops import metrics, workers

logger = logging.getLogger(__name__)
_started_pid: int | None = None
COUNTERS_EVERY_S = 1.0
_start_lock = threading.Lock()


def _tick() -> None:
    try:
        metrics.minutes_flush()
    except DatabaseError:
        logger.warning("Could not record this process's request counts; they are kept for the next try")
    workers_gauge_set()
    # This thread's own connections: a database restarted meanwhile is connected to afresh next time.
    connections.close_all()


def workers_gauge_set() -> None:
    """Tell /healthz of this process whether any worker is alive to build what editors save."""
    try:
        metrics.workers_alive_set(workers.workers_alive())
    except DatabaseError:
        logger.warning("Could not read how many workers are alive; trying again later")


def _period() -> float:
    return max(0.05, settings.CACHEOPS_METRICS_FLUSH_SECONDS)


def _run(stop: threading.Event) -> None:
    # Each second the requests' counts go to the Prometheus counters; every period, to SQL.
    flushed_at = time.monotonic()
    while not stop.wait(min(COUNTERS_EVERY_S, _period())):
        try:
            if time.monotonic() - flushed_at >= _period():
                flushed_at = time.monotonic()
                _tick()
            else:
                metrics.counters_flush()
        except Exception:
            logger.exception("The process timer failed; it runs again")


_stop = threading.Event()
_thread: threading.Thread | None = None


def timers_start() -> None:
    """Start this process's timer thread unless it runs already (or the process runs none)."""
    global _started_pid, _stop, _thread
    if _started_pid == os.getpid() or not settings.CACHEOPS_PROCESS_TIMER:
        return
    with _start_lock:
        if _started_pid != os.getpid():
            _stop = threading.Event()
            _thread = threading.Thread(target=_run, args=(_stop,), name="process-timer", daemon=True)
            _thread.start()
            _started_pid = os.getpid()


def timers_stop() -> None:
    """Stop this process's timer thread (tests, shutdown)."""
    global _started_pid
    _stop.set()
    if _thread is not None and _thread.is_alive():
        _thread.join(timeout=10)
    _started_pid = None


class ProcessTimersMiddleware:
    """Make sure the process answering requests runs its timer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timers_start()
        return self.get_response(request)
