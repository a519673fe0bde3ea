"""The public read API (/api/...), /healthz and /metrics: answered from this process's memory.

Plain functions from a `Request` to a `Response`, with no framework between them and the server: behind a CDN what
reaches the origin is small (revalidations, manifest polls, program pages), and a framework's request cycle would
cost several times the answer. `cacheops.read.app` puts them in front of Django for WSGI and ASGI servers.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path

import orjson
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.utils.http import parse_etags, parse_http_date_safe

from cacheops import chunks, clock, keys, metrics
from cacheops.keys import CATALOG
from cacheops.monitoring.state import StateCollector
from cacheops.read.health import health
from cacheops.read.held import Held
from cacheops.read.reader import reader_get, reader_peek
from cms.domain import id_valid

logger = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")
VERSION = re.compile(r"[0-9a-f]{16}")
INDEX = re.compile(r"(0|[1-9][0-9]{0,3})")
QUALITY = re.compile(r"q=([0-9.]+)")
IMMUTABLE = "public, max-age=31536000, immutable"
JSON = "application/json"
# Release decisions readers act on, not part of the public manifest (a staged version is unreleased content).
INTERNAL = ("staged", "revision", "purged", "pinned")
# The API's description (OpenAPI 3.1), served as committed; it changes only with a deploy.
OPENAPI = (Path(__file__).parent / "openapi.json").read_bytes()
OPENAPI_ETAG = f'"o-{chunks.sha16(OPENAPI)}"'
OPENAPI_CACHE = "public, max-age=3600"
# What a 304 keeps of the answer it stands for (RFC 9110, 15.4.5).
NOT_MODIFIED_KEEPS = ("Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary")
EXPOSED = "ETag, Content-Length, Content-Encoding, Retry-After"


class Request:
    """What the API reads of a request: its method, its path and its headers, named as WSGI names them."""

    __slots__ = ("meta", "method", "path")

    def __init__(self, method: str, path: str, meta: Mapping[str, str]) -> None:
        self.method, self.path, self.meta = method, path, meta

    def header(self, name: str) -> str:
        """A header by its WSGI name ("HTTP_IF_NONE_MATCH"), or ""."""
        return self.meta.get(name, "")


@dataclass(slots=True)
class Response:
    """An answer, with what it cost for the counters."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    family: str = CATALOG  # the counters' label (bounded: catalog or program)
    row: str | None = CATALOG  # the per-minute row, None for answers not worth a row (an unknown id)
    l1_hit: bool = True
    # What a server is handed, made once: an answer kept per version is given many times.
    status_line: str = ""
    header_list: list[tuple[str, str]] | None = None
    header_bytes: list[tuple[bytes, bytes]] | None = None

    def wsgi(self) -> tuple[str, list[tuple[str, str]]]:
        """The status line and the header list, as WSGI's start_response takes them."""
        if self.header_list is None:
            self.status_line = f"{self.status} {HTTPStatus(self.status).phrase}"
            self.header_list = list(self.headers.items())
        return self.status_line, self.header_list

    def asgi(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI's http.response.start takes them."""
        if self.header_bytes is None:
            self.header_bytes = [
                (name.lower().encode(), value.encode("latin-1")) for name, value in self.headers.items()
            ]
        return self.header_bytes


def _as(response: Response, **counted) -> Response:
    """`response`, counted under other labels (family, row, l1_hit)."""
    for name, value in counted.items():
        setattr(response, name, value)
    return response


def _json(status: int, payload: dict, **headers: str) -> Response:
    body = orjson.dumps(payload)
    named = {"Content-Type": JSON, "Content-Length": str(len(body))}
    named.update((name.replace("_", "-"), value) for name, value in headers.items())
    return Response(status, named, body)


def error(status: int, message: str, **headers: str) -> Response:
    """A JSON error: {"error": {"status": ..., "message": ...}}, which no cache keeps (it may be a cold process's)."""
    headers.setdefault("Cache_Control", "no-store")
    return _json(status, {"error": {"status": status, "message": message}}, **headers)


def cache_control(boundary: datetime | None, *, max_age: int, swr: int = 0, sie: int = 0) -> str:
    """Cache-Control whose every directive ends by `boundary`, when the content changes by itself."""
    if boundary is not None:
        # Whole seconds, rounded down: a cache that stores the response now must drop it before the boundary.
        left = int((boundary - clock.now()).total_seconds())
        if left <= 0:
            return "public, max-age=0, must-revalidate"
        max_age = min(max_age, left)
        swr, sie = min(swr, left - max_age), min(sie, left - max_age)
    directives = [f"max-age={max_age}"]
    directives += [f"stale-while-revalidate={swr}"] if swr else []
    directives += [f"stale-if-error={sie}"] if sie else []
    return ", ".join(["public", *directives])


def _catalog_cache_control(held: Held) -> str:
    policy = settings.CACHEOPS_CATALOG_CACHE
    return cache_control(
        held.boundary,
        max_age=policy["max-age"],
        swr=policy["stale-while-revalidate"],
        sie=policy["stale-if-error"],
    )


def accepts(request: Request, coding: str) -> bool:
    """Whether the request's Accept-Encoding admits `coding` (q=0 refuses it; `*` stands for any other)."""
    sent = request.header("HTTP_ACCEPT_ENCODING")
    if sent == coding:  # what nearly every client and CDN sends, in one comparison
        return True
    qualities = {}
    for item in sent.split(","):
        name, _, params = item.strip().partition(";")
        match = QUALITY.search(params)
        try:
            qualities[name.strip().lower()] = float(match.group(1)) if match else 1.0
        except ValueError:
            qualities[name.strip().lower()] = 0.0
    quality = qualities.get(coding, qualities.get("*", 0.0))
    return quality > 0


def _precondition(request: Request, etag: str) -> int | None:
    """304 or 412 when the request's preconditions say so (RFC 9110, 13.2.2), else None.

    Nothing here has a date: any valid If-Unmodified-Since fails, and If-Modified-Since always passes.
    """
    if_match = request.header("HTTP_IF_MATCH")
    match_tags = parse_etags(if_match) if if_match else []
    if match_tags and match_tags != ["*"] and etag not in match_tags:
        return 412
    since = request.header("HTTP_IF_UNMODIFIED_SINCE")
    if not match_tags and since and parse_http_date_safe(since):
        return 412
    if if_none_match := request.header("HTTP_IF_NONE_MATCH"):
        tags = parse_etags(if_none_match)
        if tags == ["*"] or (tags and etag in [tag.removeprefix("W/") for tag in tags]):
            return 304 if request.method in READ_METHODS else 412
    return None


def _body(request: Request, body: bytes, *, etag: str, cache: str, **headers: str) -> Response:
    """`body` with its validators, or 304 when the client holds it; HEAD gets the headers only."""
    named = {"Content-Type": JSON, "Content-Length": str(len(body)), "ETag": etag, "Cache-Control": cache}
    named.update((name.replace("_", "-"), value) for name, value in headers.items())
    condition = _precondition(request, etag)
    if condition is None:
        return Response(200, named, body if request.method == "GET" else b"")
    if condition == 304:
        return Response(304, {name: named[name] for name in NOT_MODIFIED_KEEPS if name in named})
    return error(412, "the precondition failed: this resource has another ETag now")


def _vary(response: Response, name: str) -> None:
    present = response.headers.get("Vary")
    if present is None:
        response.headers["Vary"] = name
    elif name.lower() not in {item.strip().lower() for item in present.split(",")}:
        response.headers["Vary"] = f"{present}, {name}"


def _held() -> tuple[Held | None, bool]:
    reader = reader_get()
    if (held := reader.current()) is not None:
        return held, True
    # Nothing held yet (a cold cache, a new process): one bounded wait on the poller, never a build.
    return reader.current(wait_s=settings.CACHEOPS_READER_MISS_WAIT_SECONDS), False


def _unavailable(**counted) -> Response:
    retry = str(max(1, round(settings.CACHEOPS_READER_MISS_WAIT_SECONDS)))
    return _as(error(503, "the catalog is being built; try again shortly", Retry_After=retry), l1_hit=False, **counted)


def catalog(request: Request) -> Response:
    """The whole catalog: the stored compressed bytes, or the decoded JSON for clients refusing the codec."""
    held, l1_hit = _held()
    if held is None:
        return _unavailable()
    codec = held.manifest["codec"]
    if accepts(request, codec):
        body, etag, encoding = held.stream, held.etag, {"Content_Encoding": codec}
    else:
        body, etag, encoding = held.identity(), held.identity_etag, {}
    response = _body(request, body, etag=etag, cache=_catalog_cache_control(held), **encoding)
    _vary(response, "Accept-Encoding")
    return _as(response, l1_hit=l1_hit)


def manifest(request: Request) -> Response:
    """The current manifest, so clients and CDNs can fetch its chunks in parallel."""
    held, l1_hit = _held()
    if held is None:
        return _unavailable()
    public, etag = held.public_manifest(lambda manifest: _public(held.version, manifest))
    cache = cache_control(held.boundary, max_age=settings.CACHEOPS_MANIFEST_MAX_AGE)
    return _as(_body(request, public, etag=etag, cache=cache), l1_hit=l1_hit)


def _public(version: str, manifest: dict) -> bytes:
    """The manifest as clients see it: no release decisions, and a URL per chunk."""
    listed = [{**entry, "url": keys.chunk_path(version, entry)} for entry in manifest["chunks"]]
    return orjson.dumps({k: v for k, v in manifest.items() if k not in INTERNAL} | {"chunks": listed})


def chunk(request: Request, version: str, index: str, digest: str) -> Response:
    """One chunk of a version this process holds, or of the version before the current one, if its bytes are the
    ones the URL names (served immutable: a URL never answers other bytes)."""
    if not VERSION.fullmatch(version) or not INDEX.fullmatch(index) or not VERSION.fullmatch(digest):
        return error(404, "no such chunk")
    reader = reader_get()
    if version in reader.purged:
        return _as(error(410, f"version {version} was taken down"), row=None)
    if _held()[0] is None:  # a process that just started waits for its first version, as the catalog does
        return _unavailable()
    # A staged version is unreleased content: before its instant only the CDN, with the edge token, may fetch it.
    edge = _edge(request)
    held, l1_hit = reader.version_get(version, embargoed=edge), True
    if held is None:
        held, l1_hit = reader.previous_fetch(version), False
    data = held.parts[int(index)] if held is not None and int(index) < len(held.parts) else None
    # Chunks held were verified against the manifest when fetched: its hashes name their bytes.
    named = held.manifest["chunks"][int(index)]["sha256"][:16] if data is not None else None
    if data is None and edge:
        # A version prepared for an airtime, not staged yet: the CDN warms its edges with it ahead.
        data, l1_hit = reader.prepared_fetch(version, int(index)), False
        named = chunks.sha16(data) if data is not None else None
    if data is None or named != digest:
        response = error(404, f"version {version} has no chunk {index} with those bytes here")
    else:
        response = _body(request, data, etag=f'"{digest}"', cache=IMMUTABLE)
        response.headers["Content-Type"] = "application/octet-stream"
    return _as(response, l1_hit=l1_hit)


def _edge(request: Request) -> bool:
    token = settings.CACHEOPS_EDGE_TOKEN
    # Compared as bytes: a header may carry any octet (WSGI hands it over decoded as latin-1).
    sent = request.header("HTTP_X_EDGE_TOKEN").encode("latin-1", "replace")
    return bool(token) and hmac.compare_digest(sent, token.encode())


def program(request: Request, program_id: str) -> Response:
    """One program, cut from the catalog in memory, gzipped for clients that take it; an unknown id is answered
    without any lookup."""
    if not id_valid(program_id):
        return _as(error(404, "no such program"), family="program", row=None)
    held, l1_hit = _held()
    if held is None:
        return _unavailable(family="program", row=None)
    page = held.program(program_id)
    if page is None:
        return _as(error(404, "no such program"), family="program", row=None, l1_hit=l1_hit)
    cache = _catalog_cache_control(held)
    if accepts(request, "gzip"):
        response = _body(request, page.gzip, etag=page.gzip_etag, cache=cache, Content_Encoding="gzip")
    else:
        response = _body(request, page.body, etag=page.etag, cache=cache)
    _vary(response, "Accept-Encoding")
    return _as(response, family="program", row=f"program:{program_id}", l1_hit=l1_hit)


def openapi(request: Request) -> Response:
    """This API's OpenAPI document."""
    return _body(request, OPENAPI, etag=OPENAPI_ETAG, cache=OPENAPI_CACHE)


def healthz(request: Request) -> Response:
    """200 while this process can serve a version, 503 when it cannot; the services' state as JSON."""
    serving, report = health(reader_get())
    return _json(200 if serving else 503, report, Cache_Control="no-store")


def metrics_view(request: Request) -> Response:
    """The counters in the Prometheus text format."""
    metrics.counters_flush()
    # The scrape reads the release state from SQL: as around a request Django answers, a connection past its age
    # or broken is replaced first, and one past its age closed after.
    request_started.send(sender=__name__)
    try:
        body, content_type = metrics.exposition(StateCollector(reader_peek()))
    finally:
        request_finished.send(sender=__name__)
    return Response(200, {"Content-Type": content_type, "Cache-Control": "no-store"}, body)


def events_elsewhere(request: Request) -> Response:
    """GET /api/catalog/events where no stream can be held (a WSGI server): the ASGI application serves it."""
    return error(501, "the events stream is served by the ASGI application (python -m cms.serve)")


# Each route's name is its endpoint label in the latency histogram (a bounded set, unlike the paths).
EVENTS = "/api/catalog/events"
FIXED = {
    "/api/catalog": ("catalog", catalog),
    "/api/catalog/manifest": ("manifest", manifest),
    "/api/openapi.json": ("openapi", openapi),
    "/healthz": ("healthz", healthz),
    "/metrics": ("metrics", metrics_view),
    EVENTS: ("events", events_elsewhere),
}
COUNTED = frozenset(("catalog", "manifest", "chunk", "program"))
# What each endpoint may be asked with, and the request headers a CORS preflight lets a browser send: GET and HEAD
# with If-None-Match, but for the events stream, read with GET alone (an EventSource), with Last-Event-ID when it
# reconnects.
ALLOWED = {"events": (("GET",), "Last-Event-ID")}
ALLOWED_USUALLY = (READ_METHODS, "If-None-Match")
CHUNKS = "/api/catalog/chunks/"
PROGRAMS = "/api/programs/"


def _route(path: str) -> tuple[str, Callable[..., Response], tuple[str, ...]] | None:
    if (fixed := FIXED.get(path)) is not None:
        return fixed[0], fixed[1], ()
    if path.startswith(PROGRAMS):
        rest = path[len(PROGRAMS) :]
        return ("program", program, (rest,)) if rest and "/" not in rest else None
    if path.startswith(CHUNKS):
        parts = path[len(CHUNKS) :].split("/")
        return ("chunk", chunk, tuple(parts)) if len(parts) == 3 and all(parts) else None
    return None


def route_endpoint(path: str) -> str | None:
    """The endpoint `path` names (its label in the metrics), or None."""
    route = _route(path)
    return route[0] if route is not None else None


def _preflight(methods: str, headers: str) -> Response:
    return Response(
        204,
        {
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": headers,
            "Access-Control-Max-Age": "86400",
        },
    )


def _dispatch(request: Request, route) -> Response:
    if route is None:
        return error(404, "no such resource")
    endpoint, view, arguments = route
    methods, headers = ALLOWED.get(endpoint, ALLOWED_USUALLY)
    if request.method == "OPTIONS":
        return _preflight(", ".join(methods), headers)
    if request.method not in methods:
        return error(405, f"{request.method} is not allowed here", Allow=", ".join((*methods, "OPTIONS")))
    started = time.perf_counter()
    response = view(request, *arguments)
    _count(endpoint, response, time.perf_counter() - started)
    return response


def _count(endpoint: str, response: Response, seconds: float) -> None:
    # Reads of the catalog and its programs are counted per family; the documents about the API are not.
    counted = endpoint in COUNTED
    metrics.request_served(
        endpoint,
        seconds,
        response.family if counted else None,
        response.status,
        row=response.row if counted else None,
        l1_hit=response.l1_hit,
        body_bytes=len(response.body) if response.status == 200 else 0,
    )


def is_public(path: str) -> bool:
    """Whether `path` belongs to the public read API (or its health and metrics pages)."""
    return path.startswith("/api/") or path in ("/api", "/healthz", "/metrics")


# -- whole answers, kept per version --
# Behind a CDN the origin sees the same few requests again and again (revalidations, manifest polls, a program
# page at airtime). What a request gets depends only on the headers below, the version held (and its manifest),
# the settings and, while a content boundary makes Cache-Control count down, the whole seconds left to it: its
# whole answer is kept and given again until the process holds something else (or a second passes). Chunks are
# not kept: they depend on the versions around the current one, and a CDN keeps them for a year anyway.
KEPT_ENDPOINTS = frozenset(("catalog", "manifest", "program", "openapi"))
KEPT_HEADERS = (
    "HTTP_ACCEPT_ENCODING",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_ORIGIN",
)
KEPT_MAX, KEPT_KEY_CHARS = 2048, 512


# (the state they were given in: version held, its manifest, the settings; the answers by request). Replaced whole,
# never changed in place but for adding an answer, so a request reads a state and its answers together.
_kept: tuple[tuple, dict[tuple, tuple[str, Response]]] = ((), {})


def _kept_state() -> tuple | None:
    held = reader_get().current()
    if held is None:
        return None
    if held.boundary is None:
        return held, held.manifest, settings._wrapped
    # Cache-Control counts down to the boundary in whole seconds: an answer is the same while those are.
    return held, held.manifest, settings._wrapped, int((held.boundary - clock.now()).total_seconds())


def _kept_key(method: str, path: str, values: list[str]) -> tuple | None:
    """The key of the answer to a request known by its method, path and the values of KEPT_HEADERS ("" for those
    not sent); None for a request with long headers, which is answered, not kept."""
    if len(path) + sum(map(len, values)) > KEPT_KEY_CHARS:
        return None
    return (method, path, *values)


def _kept_values(request: Request) -> list[str]:
    meta = request.meta
    return [meta.get(name, "") for name in KEPT_HEADERS]


def kept_find(method: str, path: str, values: list[str]) -> Response | None:
    """The answer kept for a request known by its method, path and the values of KEPT_HEADERS, in the state this
    process is in (counted as served), or None. Only answers of the endpoints in KEPT_ENDPOINTS are ever kept: no
    route needs finding first."""
    if method not in READ_METHODS:
        return None
    started = time.perf_counter()
    kept_state, answers = _kept
    if not answers or (key := _kept_key(method, path, values)) is None:
        return None
    if (found := answers.get(key)) is None or kept_state != _kept_state():
        return None
    _count(found[0], found[1], time.perf_counter() - started)
    return found[1]


def answer(request: Request) -> Response:
    """The API's answer to `request` (a public path), as JSON whatever goes wrong: the one kept for it, or `fresh`."""
    try:
        kept = kept_find(request.method, request.path, _kept_values(request))
    except Exception:
        kept = None  # `fresh` meets the same fault, and answers it as JSON
    return kept if kept is not None else fresh(request)


def fresh(request: Request) -> Response:
    """The API's answer to `request` made now (and kept when it may be given again)."""
    global _kept
    state = key = None
    try:
        route = _route(request.path)
        if route is not None and route[0] in KEPT_ENDPOINTS and request.method in READ_METHODS:
            state, key = _kept_state(), _kept_key(request.method, request.path, _kept_values(request))
        response = _dispatch(request, route)
    except Exception:
        logger.exception("The read API failed on %s", request.path[:200])
        metrics.error_count(CATALOG, "server")
        response, state = error(500, "internal error"), None
    _finish(request, response)
    if state is not None and key is not None and response.l1_hit and response.status < 500:
        kept = _kept
        if kept[0] != state or len(kept[1]) >= KEPT_MAX:
            kept = _kept = (state, {})
        kept[1][key] = (route[0], response)
    return response


def cors_origin(request: Request) -> str | None:
    """The request's Origin if CACHEOPS_CORS_ORIGINS lets it read the API, else None."""
    origin = request.header("HTTP_ORIGIN")
    allowed = settings.CACHEOPS_CORS_ORIGINS
    return origin if origin and (origin in allowed or "*" in allowed) else None


def _finish(request: Request, response: Response) -> None:
    _vary(response, "Origin")
    if (origin := cors_origin(request)) is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "HEAD":
        response.body = b""
