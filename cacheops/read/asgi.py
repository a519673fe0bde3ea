"""The read side as an ASGI application in front of Django's: the public paths are answered here, the events stream
among them, every other path by Django.

Answers from memory (the catalog, its manifest, a program, the API's document, while the process holds a version) are
made on the event loop: they never wait. The others may wait on the network or SQL (a chunk of another version,
/healthz, /metrics, a process holding nothing yet) and are made on a thread.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from cacheops import metrics
from cacheops.read import events
from cacheops.read.api import (
    EVENTS,
    KEPT_ENDPOINTS,
    KEPT_HEADERS,
    Request,
    cors_origin,
    fresh,
    is_public,
    kept_find,
    route_endpoint,
)
from cacheops.read.reader import reader_get
from cacheops.timers import timers_start

AsgiApp = Callable[[dict, Callable, Callable], Awaitable[None]]
# Longer ids are no version this API ever sent: such a Last-Event-ID is ignored.
LAST_EVENT_ID_CHARS = 64


# Header names as WSGI names them, by the bytes a server hands over: the few names clients send, each made once.
_NAMES: dict[bytes, str] = {}
NAMES_KEPT = 256
# The place in KEPT_HEADERS of each header name a server hands over (-1: not one of them), found once per name.
_PLACES: dict[bytes, int] = {}


def _wsgi_name(name: bytes) -> str:
    """HTTP_ACCEPT_ENCODING for b"accept-encoding" (any case, "-" or "_")."""
    if (key := _NAMES.get(name)) is None:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(_NAMES) < NAMES_KEPT:
            _NAMES[name] = key
    return key


def _meta(scope: dict) -> dict[str, str]:
    """The request's headers named as WSGI names them (HTTP_ACCEPT_ENCODING...); repeated ones joined by commas."""
    meta: dict[str, str] = {}
    for name, value in scope["headers"]:
        key, text = _wsgi_name(name), value.decode("latin-1")
        meta[key] = f"{meta[key]},{text}" if key in meta else text
    return meta


def _kept_header_values(headers) -> list[str]:
    """The values `_meta` would give of KEPT_HEADERS ("" for those not sent), without decoding the others."""
    values: list[str | None] = [None] * len(KEPT_HEADERS)
    for name, value in headers:
        if (place := _PLACES.get(name)) is None:
            wsgi = _wsgi_name(name)
            place = KEPT_HEADERS.index(wsgi) if wsgi in KEPT_HEADERS else -1
            if len(_PLACES) < NAMES_KEPT:
                _PLACES[name] = place
        if place >= 0:
            text, present = value.decode("latin-1"), values[place]
            values[place] = text if present is None else f"{present},{text}"
    return [value or "" for value in values]


class ReadSideAsgi:
    """ASGI: answer /api/*, /healthz and /metrics from this process's memory; hand every other path to `django`."""

    def __init__(self, django: AsgiApp) -> None:
        self.django = django

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http" or not is_public(scope["path"]):
            return await self.django(scope, receive, send)
        method, path = scope["method"].upper(), scope["path"]
        # Most requests behind a CDN have an answer kept (by a request that started the timer below): found from
        # the few headers it depends on.
        if (response := kept_find(method, path, _kept_header_values(scope["headers"]))) is not None:
            await send({"type": "http.response.start", "status": response.status, "headers": response.asgi()})
            await send({"type": "http.response.body", "body": response.body})
            return
        timers_start()
        request = Request(method, path, _meta(scope))
        if path == EVENTS and method == "GET":
            return await self._events(request, receive, send)
        if route_endpoint(request.path) in KEPT_ENDPOINTS and reader_get().current() is not None:
            response = fresh(request)
        else:
            response = await asyncio.to_thread(fresh, request)
        await send({"type": "http.response.start", "status": response.status, "headers": response.asgi()})
        await send({"type": "http.response.body", "body": response.body})

    async def _events(self, request: Request, receive: Callable, send: Callable) -> None:
        headers = list(events.HEADERS)
        if (origin := cors_origin(request)) is not None:
            headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
        last = request.header("HTTP_LAST_EVENT_ID")
        last = last if len(last) <= LAST_EVENT_ID_CHARS else ""
        disconnected = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        async def send_body(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        listener = asyncio.ensure_future(listen())
        metrics.events_connected(+1)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await events.stream(last, send_body, disconnected)
        except OSError:
            pass  # the client went away mid-write
        finally:
            metrics.events_connected(-1)
            listener.cancel()


async def _lifespan(receive: Callable, send: Callable) -> None:
    """Readers start with the first request; at startup, the events streams are told to end when the server is
    asked to stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _stop_signals_watch(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _stop_signals_watch(loop: asyncio.AbstractEventLoop) -> None:
    """End the events streams when the process is asked to stop (SIGTERM, SIGINT).

    A server drains its connections before it stops, and a stream never ends by itself: each would hold the process
    until the server's patience ran out. The server's own reaction to the signal still happens: the event loop
    learns of it from its wakeup file descriptor, whatever Python-level handler is set.
    """
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)

        def handler(signum, frame, previous=previous) -> None:
            # In a signal handler: nothing that takes a lock, only a call scheduled on the loop.
            loop.call_soon_threadsafe(events.streams_close)
            if callable(previous):
                previous(signum, frame)

        try:
            signal.signal(number, handler)
        except ValueError:
            return  # not the main thread (an in-process test client): nothing to watch
