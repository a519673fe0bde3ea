"""The public read API (/api/...), /healthz and /metrics: answered from this process's memory.

`PublicApiMiddleware` answers these paths before sessions, locale, CSRF and authentication run: the API uses
none of them, and a `Vary: Accept-Language` or `Cookie` would split every CDN's copy of the catalog.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, path, resolve
from django.utils.cache import get_conditional_response, patch_vary_headers

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
IMMUTABLE = "public, max-age=31536000, immutable"
# Release decisions readers act on, not part of the public manifest (a staged version is unreleased content).
INTERNAL = ("staged", "revision", "purged", "pinned")
# The API's description (OpenAPI 3.1), served as committed; it changes only with a deploy.
OPENAPI = (Path(__file__).parent / "openapi.json").read_bytes()
OPENAPI_ETAG = f'"o-{chunks.sha16(OPENAPI)}"'
OPENAPI_CACHE = "public, max-age=3600"


@dataclass
class Served:
    """A view's answer, with what the request cost for the counters."""

    response: HttpResponse
    family: str = CATALOG  # the counters' label (bounded: catalog or program)
    row: str | None = CATALOG  # the per-minute row, None for answers not worth a row (an unknown id)
    l1_hit: bool = True


def _json(status: int, payload: dict, **headers: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")
    response["Content-Length"] = str(len(response.content))
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error(status: int, message: str, **headers: str) -> HttpResponse:
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


def accepts(request: HttpRequest, coding: str) -> bool:
    """Whether the request's Accept-Encoding admits `coding` (q=0 refuses it; `*` stands for any other)."""
    qualities = {}
    for item in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        match = re.search(r"q=([0-9.]+)", params)
        try:
            qualities[name.strip().lower()] = float(match.group(1)) if match else 1.0
        except ValueError:
            qualities[name.strip().lower()] = 0.0
    quality = qualities.get(coding, qualities.get("*", 0.0))
    return quality > 0


def _body(request: HttpRequest, body: bytes, *, etag: str, cache: str, **headers: str) -> HttpResponse:
    """`body` with its validators, or 304 when the client holds it; HEAD gets the headers only."""
    response = HttpResponse(body if request.method == "GET" else b"", content_type="application/json")
    response["Content-Length"] = str(len(body))
    response["ETag"] = etag
    response["Cache-Control"] = cache
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    answer = get_conditional_response(request, etag=etag, response=response)
    if answer.status_code == 412:
        # Django answers a failed If-Match (or any If-Unmodified-Since: nothing here has a date) with an empty page.
        return error(412, "the precondition failed: this resource has another ETag now")
    return answer


def _held(request: HttpRequest) -> tuple[Held | None, bool]:
    reader = reader_get()
    if (held := reader.current()) is not None:
        return held, True
    # Nothing held yet (a cold cache, a new process): one bounded wait on the poller, never a build.
    return reader.current(wait_s=settings.CACHEOPS_READER_MISS_WAIT_SECONDS), False


def _unavailable() -> HttpResponse:
    retry = str(max(1, round(settings.CACHEOPS_READER_MISS_WAIT_SECONDS)))
    return error(503, "the catalog is being built; try again shortly", Retry_After=retry)


def catalog(request: HttpRequest) -> Served:
    """The whole catalog: the stored compressed bytes, or the decoded JSON for clients refusing the codec."""
    held, l1_hit = _held(request)
    if held is None:
        return Served(_unavailable(), l1_hit=False)
    codec, version = held.manifest["codec"], held.version
    if accepts(request, codec):
        body, etag, encoding = held.stream, f'"{version}"', {"Content_Encoding": codec}
    else:
        body, etag, encoding = held.identity(), f'"{version}-id"', {}
    response = _body(request, body, etag=etag, cache=_catalog_cache_control(held), **encoding)
    patch_vary_headers(response, ["Accept-Encoding"])
    return Served(response, l1_hit=l1_hit)


def manifest(request: HttpRequest) -> Served:
    """The current manifest, so clients and CDNs can fetch its chunks in parallel."""
    held, l1_hit = _held(request)
    if held is None:
        return Served(_unavailable(), l1_hit=False)
    listed = [{**entry, "url": keys.chunk_path(held.version, entry)} for entry in held.manifest["chunks"]]
    public = orjson.dumps({k: v for k, v in held.manifest.items() if k not in INTERNAL} | {"chunks": listed})
    cache = cache_control(held.boundary, max_age=settings.CACHEOPS_MANIFEST_MAX_AGE)
    # Named by its bytes: the same version's manifest changes (stale, expires_at, next_boundary...).
    response = _body(request, public, etag=f'"m-{chunks.sha16(public)}"', cache=cache)
    return Served(response, l1_hit=l1_hit)


def chunk(request: HttpRequest, version: str, index: str, digest: str) -> Served:
    """One chunk of a version this process holds, or of the version before the current one, if its bytes are the
    ones the URL names (served immutable: a URL never answers other bytes)."""
    if not VERSION.fullmatch(version) or not INDEX.fullmatch(index) or not VERSION.fullmatch(digest):
        return Served(error(404, "no such chunk"))
    reader = reader_get()
    if version in reader.purged:
        return Served(error(410, f"version {version} was taken down"), row=None)
    if _held(request)[0] is None:  # a process that just started waits for its first version, as the catalog does
        return Served(_unavailable(), l1_hit=False)
    # A staged version is unreleased content: before its instant only the CDN, with the edge token, may fetch it.
    held, l1_hit = reader.version_get(version, embargoed=_edge(request)), True
    if held is None:
        held, l1_hit = reader.previous_fetch(version), False
    data = held.parts[int(index)] if held is not None and int(index) < len(held.parts) else None
    # Chunks held were verified against the manifest when fetched: its hashes name their bytes.
    named = held.manifest["chunks"][int(index)]["sha256"][:16] if data is not None else None
    if data is None and _edge(request):
        # A version prepared for an airtime, not staged yet: the CDN warms its edges with it ahead.
        data, l1_hit = reader.prepared_fetch(version, int(index)), False
        named = chunks.sha16(data) if data is not None else None
    if data is None or named != digest:
        return Served(error(404, f"version {version} has no chunk {index} with those bytes here"), l1_hit=l1_hit)
    response = _body(request, data, etag=f'"{digest}"', cache=IMMUTABLE)
    response["Content-Type"] = "application/octet-stream"
    return Served(response, l1_hit=l1_hit)


def _edge(request: HttpRequest) -> bool:
    token = settings.CACHEOPS_EDGE_TOKEN
    # Compared as bytes: a header may carry any octet (WSGI hands it over decoded as latin-1).
    sent = request.headers.get("X-Edge-Token", "").encode("latin-1", "replace")
    return bool(token) and hmac.compare_digest(sent, token.encode())


def program(request: HttpRequest, program_id: str) -> Served:
    """One program, cut from the catalog in memory; an unknown id is answered without any lookup."""
    if not id_valid(program_id):
        return Served(error(404, "no such program"), family="program", row=None)
    held, l1_hit = _held(request)
    if held is None:
        return Served(_unavailable(), family="program", row=None, l1_hit=False)
    body = held.program(program_id)
    if body is None:
        return Served(error(404, "no such program"), family="program", row=None, l1_hit=l1_hit)
    etag = f'"p-{chunks.sha16(body)}"'
    response = _body(request, body, etag=etag, cache=_catalog_cache_control(held))
    return Served(response, family="program", row=f"program:{program_id}", l1_hit=l1_hit)


def openapi(request: HttpRequest) -> HttpResponse:
    """This API's OpenAPI document."""
    return _body(request, OPENAPI, etag=OPENAPI_ETAG, cache=OPENAPI_CACHE)


def healthz(request: HttpRequest) -> HttpResponse:
    """200 while this process can serve a version, 503 when it cannot; the services' state as JSON."""
    serving, report = health(reader_get())
    return _json(200 if serving else 503, report, Cache_Control="no-store")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The counters in the Prometheus text format."""
    body, content_type = metrics.exposition(StateCollector(reader_peek()))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


# Each route's name is its endpoint label in the latency histogram (a bounded set, unlike the paths).
urlpatterns = [
    path("api/catalog", catalog, name="catalog"),
    path("api/catalog/manifest", manifest, name="manifest"),
    path("api/catalog/chunks/<str:version>/<str:index>/<str:digest>", chunk, name="chunk"),
    path("api/programs/<str:program_id>", program, name="program"),
    path("api/openapi.json", openapi, name="openapi"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]


def _cors(request: HttpRequest, response: HttpResponse) -> None:
    patch_vary_headers(response, ["Origin"])
    origin = request.headers.get("Origin")
    allowed = settings.CACHEOPS_CORS_ORIGINS
    if origin and (origin in allowed or "*" in allowed):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "ETag, Content-Length, Content-Encoding, Retry-After"


def _preflight(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "GET, HEAD"
    response["Access-Control-Allow-Headers"] = "If-None-Match"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _dispatch(request: HttpRequest) -> HttpResponse:
    try:
        match = resolve(request.path_info, urlconf=__name__)
    except Resolver404:
        return error(404, "no such resource")
    if request.method == "OPTIONS":
        return _preflight(request)
    if request.method not in READ_METHODS:
        return error(405, f"{request.method} is not allowed here", Allow="GET, HEAD, OPTIONS")
    started = time.perf_counter()
    answer = match.func(request, *match.args, **match.kwargs)
    metrics.request_time(match.url_name, time.perf_counter() - started)
    if not isinstance(answer, Served):
        return answer
    response = answer.response
    metrics.request_count(
        answer.family,
        response.status_code,
        row=answer.row,
        l1_hit=answer.l1_hit,
        body_bytes=len(response.content) if response.status_code == 200 else 0,
    )
    return response


def is_public(path_info: str) -> bool:
    """Whether `path_info` belongs to the public read API (or its health and metrics pages)."""
    return path_info.startswith("/api/") or path_info in ("/api", "/healthz", "/metrics")


class PublicApiMiddleware:
    """Answer the public API paths with JSON, whatever goes wrong; leave every other path to Django."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_public(request.path_info):
            return self.get_response(request)
        try:
            response = _dispatch(request)
        except Exception:
            logger.exception("The read API failed on %s", request.path_info[:200])
            metrics.error_count(CATALOG, "server")
            response = error(500, "internal error")
        _cors(request, response)
        response["X-Content-Type-Options"] = "nosniff"
        return response
