"""The build lock of a family: saves duplicate work; publication order never depends on it.

The lock's value names its holder (build id, host, pid, operation, since when). The holder re-sets it while it
runs; a lock whose holder is known to have ended (its operation has a result, or missed its heartbeats: its worker
died) is broken and taken. The backends share no compare-and-set (Momento's SDK has only set-if-not-exists),
so renewing and breaking are a read, then a write: best effort, as the lock itself is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import orjson
from celery import current_task
from django.conf import settings
from django.db import connections

from cacheops import clock, keys
from cacheops.backends import CacheBackend, backend_get
from cacheops.errors import BuildBusy
from cacheops.oplog import operation_end, operation_heartbeat, operation_running
from cms.domain import time_parse, time_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds a build lock, as stored in its value."""

    build: str
    host: str
    pid: int
    operation: int | None
    since: str

    @classmethod
    def here(cls) -> Holder:
        """A new holder: this process, and the operation being logged here."""
        op = operation_running()
        task = current_task
        host = (task.request.hostname if task else None) or socket.gethostname()
        return cls(uuid.uuid4().hex, host, os.getpid(), op.pk if op else None, time_text(clock.now()))

    @classmethod
    def parse(cls, raw: bytes) -> Holder | None:
        """The holder named by a lock value, or None if the value names nobody (not written by this module)."""
        try:
            return cls(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            return None

    def value(self) -> bytes:
        return orjson.dumps(asdict(self))

    def __str__(self) -> str:
        where = f"{self.host} pid {self.pid}"
        return f"{where}, operation {self.operation}" if self.operation else where


def _busy(family: str, holder: Holder | None) -> BuildBusy:
    if holder is None:
        return BuildBusy(f"another build of {family} is running")
    since = time_parse(holder.since).strftime("%H:%M:%S UTC")
    return BuildBusy(f"another build of {family} ({holder}) has been running since {since}")


def _holder_end(holder: Holder | None) -> str | None:
    """How the holder is known to have ended, or None while it may be running."""
    # Only the operations log can tell: a lock that names no operation is left to expire.
    return operation_end(holder.operation) if holder and holder.operation else None


def _take(backend: CacheBackend, family: str, mine: bytes) -> None:
    """Take the lock of `family`, breaking it if its holder is known to have ended; raise BuildBusy if held."""
    key, ttl = keys.lock_key(family), settings.CACHEOPS_LOCK_SECONDS
    # NOTE: an add that times out may still be applied once the cache answers again: the stray lock names this
    # build's operation, whose row then says it failed, so the next build breaks it.
    for _attempt in range(2):
        if backend.add(key, mine, ttl):
            return
        found = backend.get(key)
        if found is None:
            continue  # released or expired in between
        holder = Holder.parse(found)
        ended = _holder_end(holder)
        if ended is None:
            raise _busy(family, holder)
        logger.warning("Breaking the build lock of %s held by %s since %s: %s", family, holder, holder.since, ended)
        # Delete only the value just judged: another build may have broken it and taken the lock meanwhile.
        if backend.get(key) == found:
            backend.delete(key)
    raise _busy(family, Holder.parse(backend.get(key) or b""))


def lock_free(family: str) -> bool:
    """Whether a build of `family` may take its lock now: nobody holds it, or its holder ended or died."""
    found = backend_get().get(keys.lock_key(family))
    return found is None or _holder_end(Holder.parse(found)) is not None


def lock_renew(family: str, mine: bytes) -> bool:
    """Give this build's lock a full lifetime again; False once it belongs to another build."""
    backend, key, ttl = backend_get(), keys.lock_key(family), settings.CACHEOPS_LOCK_SECONDS
    found = backend.get(key)
    if found is None:
        # Expired, or the cache restarted empty: nobody else holds it, so hold it again.
        return backend.add(key, mine, ttl)
    if found != mine:
        return False
    # NOTE: no compare-and-set: a build taking the lock right between the get and this set loses it.
    backend.set(key, mine, ttl)
    return True


class _Heartbeat(threading.Thread):
    """While the build runs: renew its lock and note its operation alive, until stopped or past the time limit."""

    def __init__(self, family: str, holder: Holder) -> None:
        super().__init__(name=f"build heartbeat {family}", daemon=True)
        self.family, self.holder, self.mine = family, holder, holder.value()
        self.every_s = settings.CACHEOPS_LOCK_RENEW_SECONDS or settings.CACHEOPS_LOCK_SECONDS / 3
        # The operation's sign of life is written more often than the lock is renewed: the console tells a dead
        # build from a running one within a few heartbeats.
        self.beat_s = min(self.every_s, settings.CACHEOPS_HEARTBEAT_SECONDS)
        # A build past its hard time limit has been killed, or is stuck outside Celery: let its lock expire.
        self.until = time.monotonic() + settings.CACHEOPS_BUILD_TIME_LIMIT
        self.stopped = threading.Event()

    def run(self) -> None:
        renewing, renew_at = True, time.monotonic() + self.every_s
        try:
            while not self.stopped.wait(self.beat_s) and time.monotonic() < self.until:
                if self.holder.operation:
                    operation_heartbeat(self.holder.operation)
                if time.monotonic() >= renew_at:
                    renew_at = time.monotonic() + self.every_s
                    renewing = renewing and self._renew()
        finally:
            connections.close_all()  # this thread's own database connections

    def _renew(self) -> bool:
        try:
            if lock_renew(self.family, self.mine):
                return True
        except Exception:
            logger.warning("Could not renew the build lock of %s; trying again", self.family, exc_info=True)
            return True
        logger.warning("The build lock of %s was taken over; it is no longer renewed", self.family)
        return False


def _release(family: str, mine: bytes) -> None:
    """Delete the lock if it is still this build's; log a failure, never raise it over the build's own outcome."""
    key = keys.lock_key(family)
    try:
        backend = backend_get()
        if backend.get(key) == mine:
            backend.delete(key)
    except Exception:
        logger.warning("Could not release the build lock of %s; it expires by itself", family, exc_info=True)


@contextlib.contextmanager
def build_lock(family: str) -> Iterator[str]:
    """Hold the build lock of `family` while the block runs, renewed by a heartbeat; yield this build's id."""
    holder = Holder.here()
    _take(backend_get(), family, holder.value())
    heartbeat = _Heartbeat(family, holder)
    heartbeat.start()
    try:
        yield holder.build
    finally:
        heartbeat.stopped.set()
        # NOTE: a renewal stuck on a stalled cache gives up within the backend's own timeouts.
        heartbeat.join()
        _release(family, holder.value())
