"""What /healthz reports: whether this process can serve, and the state of the services its read path uses
(the shared cache, and the broker it asks for rebuilds through; the content store is the workers' concern), and
whether any worker is alive to build what editors save.

The answer is public: it names states only; why a service failed (hosts, ports, exception texts) goes to the log.
"""

from __future__ import annotations

import logging
import threading
import time

from cacheops import metrics
from cacheops.read.reader import Reader
from cms.celery import app

# Load balancers ask every few seconds per process: the services are looked at no more often than this.
CHECK_EVERY_S = 10.0
CHECK_TIMEOUT_S = 1.0
# A process that holds nothing yet gets this long to fetch its version before /healthz says it cannot serve:
# short of a load balancer's check timeout.
HOLD_WAIT_S = 1.0
# A reading of the workers older than this (the timer stopped, or SQL fails) is no answer.
WORKERS_SEEN_WITHIN_S = 60.0

_checked: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()
logger = logging.getLogger(__name__)
# The reader's states, by how they start; anything else it says is "error".
READER_STATES = ("ok", "not polled yet", "no current version", "unreachable")


def _broker_check() -> str:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_S)
    except Exception as exc:  # kombu raises the transport's own errors
        return f"error: {exc}"
    return "ok"


def _remembered(name: str, check) -> str:
    with _lock:
        at, state = _checked.get(name, (float("-inf"), ""))
        if time.monotonic() - at < CHECK_EVERY_S:
            return state
        state = check()
        if state != "ok":
            logger.warning("Health check of %s: %s", name, state)
        state = "ok" if state == "ok" else "error"
        _checked[name] = (time.monotonic(), state)
        return state


def _reader_state(state: str) -> str:
    """The reader's state in words that name no host or exception."""
    return next((known for known in READER_STATES if state.startswith(known)), "error")


def _workers_state() -> str:
    """Whether any Celery worker is alive, as this process's timer last read it (it reads SQL every few seconds)."""
    alive = metrics.workers_alive_seen(within_s=WORKERS_SEEN_WITHIN_S)
    if alive is None:
        return "unknown"
    return "ok" if alive else "none alive"


def health(reader: Reader) -> tuple[bool, dict]:
    """(can this process serve a version, what it knows about the services behind it)."""
    held = reader.current(wait_s=HOLD_WAIT_S)
    polled = reader.polled_at
    report = {
        "status": "ok" if held else "unavailable",
        "version": held.version if held else None,
        "as_of": held.manifest["as_of"] if held else None,
        "last_poll_s_ago": round(time.monotonic() - polled, 1) if polled is not None else None,
        "shared_cache": _reader_state(reader.cache_state),
        "broker": _remembered("broker", _broker_check),
        # Serving needs no worker; what editors save reaches the catalog only while one is alive.
        "workers": _workers_state(),
    }
    return held is not None, report
