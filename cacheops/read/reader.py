"""Each web process's own copy of the published catalog, kept current by one polling thread.

Requests read only memory. A thread per process reads the manifest when the publisher announces a new one (a
subscription to the family's channel, kept open by a second thread), and at the latest every
CACHEOPS_READER_POLL_SECONDS, in case an announcement was lost; it fetches chunks only when the version changes
(in parallel, verified before the switch), so shared-cache operations grow with processes and versions, never with
requests or programs. On a miss the process never builds: it asks for one rebuild (folded across processes) and
keeps serving what it holds. If the shared cache is unreachable it keeps serving the last good version
(stale-if-error).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import orjson
from django.conf import settings

from cacheops import chunks, clock, keys, metrics
from cacheops.backends import CacheError, backend_get
from cacheops.keys import CATALOG
from cacheops.manifest import Manifest, manifest_read, manifest_version_read, purged_read
from cacheops.read.held import Held
from cms.domain import time_parse
from cms.enqueue import task_send

ASK_TASK = "cacheops.tasks.rebuild_ask"
# A reader asks for a rebuild at most this often while the cache misses (a pending or recent build answers it).
ASK_INTERVAL_S = 10.0
# A broken subscription is opened again after a pause that doubles from the first to the last, each drawn at random
# between half and all of it, so that processes cut off together do not all come back at the same instant.
RESUBSCRIBE_FIRST_S, RESUBSCRIBE_LAST_S = 0.5, 15.0
# How long the listening thread waits for a message before it looks whether it should stop.
RECEIVE_TIMEOUT_S = 0.2

logger = logging.getLogger(__name__)


def _chunk_hashes(manifest: Manifest) -> list[str]:
    return [entry["sha256"] for entry in manifest["chunks"]]


class Reader:
    """Hold the current version of a family in this process; a thread polls the shared cache for new ones."""

    def __init__(self, family: str = CATALOG, *, polling: bool = True) -> None:
        self.family = family
        # Without its thread, a reader is driven by whoever calls `poll` (a command, a check).
        self.polling = polling
        self._started_pid: int | None = None
        self._start_lock = threading.Lock()
        # Called, from whichever thread switched, each time the version served changes (the events' broadcast).
        self.watchers: list[Callable[[], None]] = []
        self._fresh()

    def _fresh(self) -> None:
        # Also after a fork: the child has none of its parent's threads, and a copied lock may be held.
        self._held: Held | None = None
        self._previous: Held | None = None
        self._staged: Held | None = None
        self._changed = threading.Condition()
        self._fetch_lock = threading.Lock()
        self._stop = threading.Event()
        # Set by an announcement (or a new subscription): the polling thread reads the manifest at once.
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        # Whether this process hears announcements now (else it finds new versions by polling alone).
        self.subscribed = False
        self._asked_at = -ASK_INTERVAL_S
        self.polled_at: float | None = None
        self.cache_state = "not polled yet"
        # Versions a purge took down: never served again, their chunk URLs answer 410.
        self.purged: frozenset[str] = frozenset()

    # -- the request path: memory only, except the bounded wait of a process that holds nothing --

    def current(self, wait_s: float = 0.0) -> Held | None:
        """The version held, waiting up to `wait_s` for the poller when none is held yet."""
        self._ensure_started()
        self._activate_due()
        held = self._held
        if held is not None or wait_s <= 0:
            return held
        with self._changed:
            self._changed.wait_for(lambda: self._held is not None, timeout=wait_s)
            return self._held

    def version_get(self, version: str, *, embargoed: bool = False) -> Held | None:
        """The current or previous version, if this process can serve it; the staged one too if `embargoed`."""
        self._ensure_started()
        self._activate_due()
        for held in (self._held, self._previous, self._staged if embargoed else None):
            if held is not None and held.version == version and version not in self.purged:
                return held
        return None

    def staged(self) -> Held | None:
        """The version this process holds ahead of its activation, if any."""
        return self._staged

    def _activate_due(self) -> None:
        staged = self._staged
        if staged is None or clock.now() < staged.activate_at:
            return
        with self._changed:
            if self._staged is not staged:
                return  # another thread switched first
            self._previous, self._held, self._staged = self._held, staged, None
            self._changed.notify_all()
        logger.info("Serving %s version %s from its activation at %s", self.family, staged.version, staged.activate_at)
        self._served_changed()

    def _served_changed(self) -> None:
        for watcher in list(self.watchers):
            try:
                watcher()
            except Exception:
                logger.exception("A watcher of %s's served version failed", self.family)

    # -- the polling thread --

    def _ensure_started(self) -> None:
        if self._started_pid == os.getpid() or not self.polling:
            return
        with self._start_lock:
            if self._started_pid == os.getpid():
                return
            if self._started_pid is not None:
                self._fresh()
            self._thread = threading.Thread(target=self._run, name=f"reader-{self.family}", daemon=True)
            self._thread.start()
            if settings.CACHEOPS_READER_SUBSCRIBE:
                self._listener = threading.Thread(target=self._listen, name=f"listener-{self.family}", daemon=True)
                self._listener.start()
            self._started_pid = os.getpid()

    def stop(self) -> None:
        """Stop the polling and listening threads (tests, shutdown)."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._listener):
            if thread is not None and thread.is_alive():
                thread.join(timeout=10)
        self._started_pid = None

    def _run(self) -> None:
        polled_at = float("-inf")
        while not self._stop.is_set():
            if self._wake.is_set() or time.monotonic() - polled_at >= settings.CACHEOPS_READER_POLL_SECONDS:
                self._wake.clear()
                polled_at = time.monotonic()
                self._round()
            else:
                self._activate_due()  # a staged version's instant: served from then on, asked for or not
            # Until an announcement wakes it, the fallback interval passes, or a staged version's instant comes.
            wait = settings.CACHEOPS_READER_POLL_SECONDS - (time.monotonic() - polled_at)
            if (staged := self._staged) is not None:
                wait = min(wait, (staged.activate_at - clock.now()).total_seconds())
            self._wake.wait(max(0.0, wait))

    def _listen(self) -> None:
        """Keep a subscription to the family's channel open; wake the poller for every message, and once for each
        new subscription (what was announced while none was open is read then)."""
        pause = RESUBSCRIBE_FIRST_S
        channel = keys.versions_channel(self.family)
        while not self._stop.is_set():
            try:
                subscription = backend_get().subscribe(channel)
            except Exception as exc:
                metrics.shared_cache_count(self.family, "subscribe", "error")
                logger.warning("Cannot subscribe to %s's announcements (polling meanwhile): %s", self.family, exc)
            else:
                opened = time.monotonic()
                self._hear(subscription)
                if time.monotonic() - opened >= RESUBSCRIBE_LAST_S:
                    pause = RESUBSCRIBE_FIRST_S  # it held: a break now is news, not a fault that repeats
            self._stop.wait(random.uniform(pause / 2, pause))
            pause = min(2 * pause, RESUBSCRIBE_LAST_S)

    def _hear(self, subscription) -> None:
        """Wake the poller now and for every message, until the subscription breaks or the reader stops."""
        metrics.shared_cache_count(self.family, "subscribe", "hit")
        self.subscribed = True
        self._wake.set()
        try:
            while not self._stop.is_set():
                if subscription.receive(RECEIVE_TIMEOUT_S) is not None:
                    metrics.shared_cache_count(self.family, "receive", "hit")
                    self._wake.set()
        except Exception as exc:
            if not self._stop.is_set():
                logger.warning("The subscription to %s's announcements broke; subscribing again: %s", self.family, exc)
        finally:
            self.subscribed = False
            try:
                subscription.close()
            except Exception:
                logger.warning("Closing %s's subscription failed", self.family, exc_info=True)

    def _round(self) -> None:
        try:
            self.poll()
        except Exception:
            metrics.error_count(self.family, "poll")
            logger.exception("Polling %s failed", self.family)

    def poll(self) -> None:
        """One round: read the manifest; switch to a new version once its chunks are fetched and verified.

        What is served follows the release state's revisions: a version as of an earlier instant than the one held
        replaces it only when a later revision says so (a rollback, a purge), never because a poll read the
        manifest just before a request thread switched at an airtime.
        """
        seen_at = clock.now()
        try:
            manifest = manifest_read(self.family)
            purged = manifest.get("purged", []) if manifest else purged_read(self.family)
        except CacheError as exc:
            self._cache_error("get", exc)
            return
        metrics.shared_cache_count(self.family, "get", "hit" if manifest else "miss", nbytes=_size(manifest))
        self.polled_at = time.monotonic()
        if manifest is None:
            self.cache_state = "no current version"
            self._purged_drop(purged, more=True)
            self._ask("it has no current version", seen_at)
            return
        self.cache_state = "ok"
        self._activate_due()
        revision, staged = manifest.get("revision", 0), manifest.get("staged")
        if staged and time_parse(staged["activate_at"]) <= clock.now():
            # Its instant has passed: the staged version is current, whether a worker recorded it yet or not.
            target = {k: v for k, v in staged.items() if k != "activate_at"} | {"previous_version": manifest["version"]}
            self._install(target, revision, seen_at)
            staged = None
        else:
            self._install(manifest, revision, seen_at)
        self._staged_sync(staged, revision, seen_at)
        self._purged_drop(purged)

    def _install(self, manifest: Manifest, revision: int, seen_at: datetime) -> None:
        held = self._held
        same = held is not None and held.version == manifest["version"]
        if same and _chunk_hashes(held.manifest) == _chunk_hashes(manifest):
            held.manifest, held.revision = manifest, max(held.revision, revision)  # a refreshed TTL, a stale flag
            return
        if held is not None and not same and revision <= held.revision and time_parse(manifest["as_of"]) < held.as_of:
            return  # older content under no newer decision: what this process switched to at T stays
        # A new version, or the same one chunked anew (another chunk size or codec): other bytes per chunk URL.
        ahead = self._staged if self._staged is not None and self._staged.version == manifest["version"] else None
        fetched = ahead or self._fetch(manifest, seen_at)
        if fetched is None:
            return
        fetched.manifest, fetched.revision = manifest, revision
        with self._changed:
            if self._held is not held:
                return  # a request thread switched meanwhile: the next round decides again
            if held is not None and not same:
                self._previous = held
            self._held = fetched
            self._changed.notify_all()
        logger.info("Serving %s version %s", self.family, manifest["version"])
        self._served_changed()

    def _purged_drop(self, purged: list[str], *, more: bool = False) -> None:
        """Stop serving versions a purge took down. The manifest's list is the whole truth (a version accepted after
        a purge leaves it); without a manifest, the list kept apart only adds to what was known."""
        self.purged = frozenset(purged) | (self.purged if more else frozenset())
        served = self._held
        with self._changed:
            for name in ("_held", "_previous", "_staged"):
                held = getattr(self, name)
                if held is not None and held.version in self.purged:
                    setattr(self, name, None)
                    logger.warning("Version %s of %s was purged; no longer serving it", held.version, self.family)
        if self._held is not served:
            self._served_changed()

    def _staged_sync(self, staged: dict | None, revision: int, seen_at: datetime) -> None:
        """Hold the version the manifest stages (fetched ahead, verified), or none if it stages none."""
        if staged is None or (self._held is not None and self._held.version == staged["version"]):
            self._staged = None
            return
        activate_at = time_parse(staged["activate_at"])
        if self._staged is not None and self._staged.version == staged["version"]:
            self._staged.activate_at = activate_at
            return
        fetched = self._fetch({k: v for k, v in staged.items() if k != "activate_at"}, seen_at)
        if fetched is not None:
            fetched.activate_at, fetched.revision = activate_at, revision
            fetched.prepare()
            self._staged = fetched

    def _fetch(self, manifest: Manifest, seen_at: datetime) -> Held | None:
        """The chunks of `manifest`, fetched in parallel and verified; None (a rebuild asked for) if incomplete."""
        entries = manifest["chunks"]
        backend = backend_get()
        try:
            with ThreadPoolExecutor(max_workers=min(8, len(entries)), thread_name_prefix="chunk") as pool:
                parts = list(pool.map(backend.get, [entry["key"] for entry in entries]))
        except CacheError as exc:
            self._cache_error("get", exc)
            return None
        found = sum(part is not None for part in parts)
        metrics.shared_cache_count(self.family, "get", "hit", found, nbytes=sum(len(p) for p in parts if p))
        metrics.shared_cache_count(self.family, "get", "miss", len(parts) - found)
        try:
            chunks.join(parts, entries, manifest["sha256"])
        except chunks.ChunkError as exc:
            # Caches evict chunks long before a manifest read every second: only a build writes them again.
            metrics.error_count(self.family, "chunk_missing")
            self.cache_state = f"version {manifest['version']} is incomplete: {exc}"
            self._ask(f"version {manifest['version']} is incomplete ({exc})", seen_at)
            return None
        return Held(manifest, parts)

    def previous_fetch(self, version: str) -> Held | None:
        """Fetch the version the current manifest names as previous, once, for clients still reading it."""
        held = self._held
        if held is None or held.manifest.get("previous_version") != version or version in self.purged:
            return None
        with self._fetch_lock:
            if (found := self.version_get(version)) is not None:
                return found
            seen_at = clock.now()
            try:
                manifest = manifest_version_read(self.family, version)
            except CacheError as exc:
                self._cache_error("get", exc)
                return None
            metrics.shared_cache_count(self.family, "get", "hit" if manifest else "miss", nbytes=_size(manifest))
            fetched = self._fetch(manifest, seen_at) if manifest else None
            if fetched is not None:
                self._previous = fetched
            return fetched

    def prepared_fetch(self, version: str, index: int) -> bytes | None:
        """Chunk `index` of a version written ahead (for an airtime) but not held here, verified; for the edge."""
        if version in self.purged:
            return None
        try:
            manifest = manifest_version_read(self.family, version)
            if manifest is None or index >= len(manifest["chunks"]):
                return None
            entry = manifest["chunks"][index]
            data = backend_get().get(entry["key"])
        except CacheError as exc:
            self._cache_error("get", exc)
            return None
        return data if data is not None and chunks.sha16(data) == entry["sha256"][:16] else None

    def _cache_error(self, op: str, exc: CacheError) -> None:
        metrics.shared_cache_count(self.family, op, "error")
        metrics.error_count(self.family, "shared_cache")
        self.cache_state = f"unreachable: {exc}"
        logger.warning("Shared cache unreachable while polling %s; serving what this process holds", self.family)

    def _ask(self, why: str, seen_at: datetime) -> None:
        """Ask for one rebuild (unless one is pending, running or just ran), at most every ASK_INTERVAL_S."""
        if time.monotonic() - self._asked_at < ASK_INTERVAL_S:
            return
        self._asked_at = time.monotonic()
        logger.warning("The shared cache has no usable %s (%s); asking for a rebuild", self.family, why)
        try:
            # A worker decides whether a build answers it already: this thread reads the cache only.
            task_send(ASK_TASK, self.family, seen_at=seen_at.isoformat())
        except Exception:
            metrics.error_count(self.family, "broker")
            logger.warning("Could not ask for a rebuild of %s; asking again later", self.family, exc_info=True)


def _size(manifest: Manifest | None) -> int:
    """The bytes a manifest took to read (its encoding is compact JSON, as orjson writes it)."""
    return len(orjson.dumps(manifest)) if manifest else 0


_readers: dict[str, Reader] = {}
_readers_lock = threading.Lock()


def reader_get(family: str = CATALOG) -> Reader:
    """This process's reader of `family`."""
    if (reader := _readers.get(family)) is not None:  # every request asks: no lock once it exists
        return reader
    with _readers_lock:
        if family not in _readers:
            _readers[family] = Reader(family)
        return _readers[family]


def reader_peek(family: str = CATALOG) -> Reader | None:
    """This process's reader of `family` if a request has started one, else None (starts nothing)."""
    with _readers_lock:
        return _readers.get(family)


def readers_stop() -> None:
    """Stop every reader of this process and forget what they hold."""
    with _readers_lock:
        readers = list(_readers.values())
        _readers.clear()
    for reader in readers:
        reader.stop()
