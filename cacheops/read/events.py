"""GET /api/catalog/events: Server-Sent Events telling apps of each version this process starts serving.

An event names the version (its id, so `Last-Event-ID` resumes), the catalog's ETag and the URLs to fetch it:
the catalog, the manifest and the chunks. A client connecting without `Last-Event-ID`, or with one naming another
version than the current, gets the current version's event at once; then one event per change. Versions in between
are not replayed: an app only ever needs the current one. A comment line every CACHEOPS_EVENTS_HEARTBEAT_SECONDS
keeps proxies from closing an idle stream.

Each connection is a coroutine on the server's event loop, waiting on one future per loop that the reader's thread
resolves when the served version changes: no thread per connection, no polling per connection.
"""

from __future__ import annotations

import asyncio
import random
import threading
import weakref

import orjson
from django.conf import settings

from cacheops import keys
from cacheops.read.held import Held
from cacheops.read.reader import Reader, reader_get

# Clients reconnect after about this long (the browser's EventSource obeys `retry:`), spread so that the processes'
# clients do not all come back in the same instant after a deploy.
RETRY_MS = (1000, 3000)
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    # Never stored: each connection waits for what happens next. Proxies must not buffer it either.
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
    (b"vary", b"Origin"),
]


def event(held: Held) -> bytes:
    """The event announcing `held`: id, type and a JSON body of its ETag and URLs."""
    version = held.version
    data = {
        "version": version,
        "etag": held.etag,
        "as_of": held.manifest["as_of"],
        "catalog": "/api/catalog",
        "manifest": "/api/catalog/manifest",
        "chunks": [keys.chunk_path(version, entry) for entry in held.manifest["chunks"]],
    }
    return b"id: %s\nevent: version\ndata: %s\n\n" % (version.encode(), orjson.dumps(data))


class Changes:
    """Resolves, on each event loop that waits, a future when the reader's served version changes."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._lock = threading.Lock()
        self._futures: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future] = (
            weakref.WeakKeyDictionary()
        )
        reader.watchers.append(self.wake)

    def next(self) -> asyncio.Future:
        """A future resolved at the next change (take it before looking at what is served, so none is missed)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            future = self._futures.get(loop)
            if future is None or future.done():
                future = self._futures[loop] = loop.create_future()
            return future

    def wake(self) -> None:
        """Resolve every waiting loop's future, each on its own loop (called on the reader's thread, or at a stop)."""
        with self._lock:
            waiting = [(loop, future) for loop, future in self._futures.items() if not future.done()]
        for loop, future in waiting:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


_changes: Changes | None = None
_changes_lock = threading.Lock()


def changes() -> Changes:
    """This process's watcher of the catalog reader."""
    global _changes
    with _changes_lock:
        reader = reader_get()
        if _changes is None or _changes.reader is not reader:
            _changes = Changes(reader)
        return _changes


_closing = threading.Event()


def streams_close() -> None:
    """The server is stopping: end every stream of this process now, not when the server's patience runs out (its
    clients come back after `retry:` to a process that serves, and `Last-Event-ID` tells them what they missed)."""
    _closing.set()
    if _changes is not None:
        _changes.wake()


async def stream(last_event_id: str, send, disconnected: asyncio.Event) -> None:
    """Send the events of one connection until the client goes away (`disconnected`)."""
    watched = changes()
    reader = watched.reader
    heartbeat = settings.CACHEOPS_EVENTS_HEARTBEAT_SECONDS
    await send(b"retry: %d\n\n" % random.randint(*RETRY_MS))
    sent = last_event_id
    gone = asyncio.ensure_future(disconnected.wait())
    try:
        while not disconnected.is_set() and not _closing.is_set():
            changed = watched.next()
            held = reader.current()
            if held is not None and held.version != sent:
                await send(event(held))
                sent = held.version
            done, _ = await asyncio.wait({changed, gone}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                await send(b": heartbeat\n\n")
    finally:
        gone.cancel()
