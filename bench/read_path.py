"""Read path: the compressed catalog served by nginx, a bare WSGI app, Django's per-site cache and Airtime.

.venv/bin/python bench/read_path.py [--programs 360] [--workers N] [--rounds 5] [--duration 5] [--connections 32]
.venv/bin/python bench/read_path.py --compare-servers   # bare app and Airtime: gunicorn sync, gthread, granian

Every server gets the same worker count and serves the same catalog (built into the cache by the cache
engine), driven by wrk in interleaved rounds after a warm-up; the median of the rounds is reported. Then
Airtime alone: shared-cache operations at two loads, and a cold-start stampede.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from environment import ROOT, arguments, median
from stack import (
    VENV_BIN,
    Processes,
    Server,
    bench_main,
    bench_stack,
    free_port,
    granian_start,
    gunicorn_start,
    http_get,
    metric_sum,
    metrics_dir,
    wait_answering,
    wait_log,
    wait_port,
    web_start,
)

BENCH = Path(__file__).resolve().parent
CATALOG_PATH = "/api/catalog"
GZIP_HEADERS = {"Accept-Encoding": "gzip"}
MANIFEST_PATH = "/api/catalog/manifest"
# Against a bare app answering the same bytes on the same server: the whole catalog, and the small answers.
GOAL_CATALOG, GOAL_SMALL = 0.9, 0.8
SERVERS = ("gunicorn", "granian", "granian ASGI", "uvicorn")
STAMPEDE_REQUESTS = 500
# Polling costs a fixed number of operations per second: allow for a poll more or less in a short window.
OPS_GROWTH_TOLERANCE = 1.25
BUILD_TIMEOUT_S = 180


# ---------------------------------------------------------------- the bare app (imported by the servers)


@cache
def _bare_body() -> tuple[bytes, list[tuple[str, str]]]:
    body = Path(os.environ["BENCH_CATALOG_FILE"]).read_bytes()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(len(body))),
        ("Vary", "Accept-Encoding"),
    ]
    return body, headers


def bare_catalog_app(environ, start_response):
    """WSGI app that answers every request with the compressed catalog, held in memory."""
    body, headers = _bare_body()
    start_response("200 OK", headers)
    return [body]


@cache
def _recorded() -> dict[tuple[str, str], tuple[str, list[tuple[str, str]], bytes]]:
    answers = json.loads(Path(os.environ["BENCH_ANSWERS_FILE"]).read_text())
    return {
        (a["path"], a["if_none_match"]): (a["status"], [tuple(h) for h in a["headers"]], base64.b64decode(a["body"]))
        for a in answers
    }


async def bare_asgi(scope, receive, send):
    """The same answers as `bare_app`, as an ASGI application."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    inm = next((v.decode() for k, v in scope["headers"] if k == b"if-none-match"), "")
    status, headers, body = _recorded_asgi()[scope["path"], inm]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@cache
def _recorded_asgi() -> dict[tuple[str, str], tuple[int, list[tuple[bytes, bytes]], bytes]]:
    return {
        key: (int(status.split()[0]), [(k.lower().encode(), v.encode("latin-1")) for k, v in headers], body)
        for key, (status, headers, body) in _recorded().items()
    }


def bare_app(environ, start_response):
    """WSGI app that answers each benchmarked request with the status, headers and bytes Airtime answered it with,
    looked up by path and If-None-Match: the least any application on the same server can do."""
    status, headers, body = _recorded()[environ["PATH_INFO"], environ.get("HTTP_IF_NONE_MATCH", "")]
    start_response(status, headers)
    return [body]


# ---------------------------------------------------------------- tools and processes


def _nginx_path() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def _tools() -> tuple[str | None, str | None, str | None]:
    return shutil.which("wrk"), _nginx_path(), shutil.which("redis-server")


def tools_ensure() -> tuple[str, str]:
    """wrk, nginx and redis-server, installed with apt-get when missing and this runs as root; else say how."""
    if all(_tools()):
        return _tools()[:2]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk, nginx and redis-server with apt-get ...", flush=True)
        install = ["apt-get", "install", "-y", "-q", "wrk", "nginx", "redis-server"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(install, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(install, **quiet)
    if all(_tools()):
        return _tools()[:2]
    raise SystemExit(
        "read_path needs wrk, nginx and redis-server: run `sudo apt-get install wrk nginx redis-server`, then again"
    )


def requirements_ensure() -> None:
    """Install bench/requirements.txt into this virtualenv if a package the benchmark imports is missing."""
    if all(importlib.util.find_spec(name) for name in ("django_redis", "granian", "uvicorn")):
        return
    print("installing bench/requirements.txt ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements.txt")], check=True)


# ---------------------------------------------------------------- the servers


def app_start(procs: Processes, name: str, app, workers: int, interface: str = "wsgi") -> Server:
    """granian serving an `App` of this benchmark."""
    return granian_start(procs, name, app.wsgi, workers, interface=interface, env=app.env, cwd=app.cwd)


def uvicorn_start(procs: Processes, name: str, app, workers: int) -> Server:
    """uvicorn serving the ASGI application `app`, with a metrics directory of its own."""
    port = free_port()
    metrics = metrics_dir(procs, port)
    cmd = [str(VENV_BIN / "uvicorn"), "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--app-dir", str(app.cwd), app.wsgi]
    env = {"PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(metrics), **app.env}
    server = procs.start(name, cmd, port=port, env=env)
    server.metrics = metrics
    return server


def airtime_env() -> dict:
    """What Airtime's web processes and its worker get on top of the benchmark's environment."""
    # Web processes never build: they ask a worker, through the queue, never inline.
    return {"CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_SETTINGS_MODULE": "cms.settings"}


def airtime_start(procs: Processes, workers: int) -> Server:
    """Airtime as production serves it: the web server of cms/serve.py (granian, cms.asgi)."""
    return web_start(procs, "Airtime, granian ASGI", workers, env=airtime_env())


def celery_start(procs: Processes, metrics: Path) -> Server:
    """A Celery worker with the web processes' environment, counting its builds into their metrics directory."""
    cmd = [str(VENV_BIN / "celery"), "-A", "cms", "worker", "--pool=solo", "-l", "info", "--without-gossip"]
    env = {**airtime_env(), "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    worker = procs.start("celery worker", [*cmd, "--without-mingle", "--without-heartbeat"], env=env)
    wait_log(worker, " ready.")
    return worker


# ---------------------------------------------------------------- wrk


@dataclass
class Load:
    requests_per_s: float
    requests: int
    seconds: float
    mb_per_s: float
    p50_ms: float
    errors: int


WRK_SIZE = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
WRK_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(binary: str, url: str, *, connections: int, seconds: float, **headers: str) -> Load:
    """One wrk run with Accept-Encoding: gzip (and `headers`, If_None_Match=...); answers other than 2xx and 3xx
    and socket errors count as errors."""
    threads = max(1, min(2, connections, os.cpu_count() or 1))
    # A 10 MB answer (the uncompressed reference) can take longer than wrk's default 2 s timeout under load.
    cmd = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", "30s"]
    cmd += ["-H", "Accept-Encoding: gzip", url]
    for name, value in headers.items():
        cmd[-1:-1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not done or not rate:
        raise SystemExit(f"unexpected wrk output for {url}:\n{out}")
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(\w+)", out, re.M)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    seconds_taken = float(done.group(2)) * {"s": 1, "m": 60, "ms": 1e-3}.get(done.group(3), 1)
    return Load(
        requests_per_s=float(rate.group(1)),
        requests=int(done.group(1)),
        seconds=seconds_taken,
        mb_per_s=float(transfer.group(1)) * WRK_SIZE.get(transfer.group(2), 1) if transfer else 0.0,
        p50_ms=float(p50.group(1)) * WRK_TIME.get(p50.group(2), 1) if p50 else 0.0,
        errors=errors,
    )


def rounds_run(binary: str, servers: list[Server], args) -> dict[str, list[Load]]:
    """Warm every server up, then run interleaved rounds (rotated order) so that noise spreads over all of them."""
    for server in servers:
        wrk(binary, server.url + CATALOG_PATH, connections=args.connections, seconds=args.warmup)
    results: dict[str, list[Load]] = {server.name: [] for server in servers}
    for round_no in range(args.rounds):
        shift = round_no % len(servers)
        for server in servers[shift:] + servers[:shift]:
            load = wrk(binary, server.url + CATALOG_PATH, connections=args.connections, seconds=args.duration)
            results[server.name].append(load)
        print(f"    round {round_no + 1}/{args.rounds} done", flush=True)
    return results


def rounds_print(results: dict[str, list[Load]]) -> dict[str, float]:
    """Print median req/s, MB/s and p50 latency per server; return the medians of req/s."""
    medians = {}
    width = max(len(name) for name in results) + 2
    print(f"    {'server':<{width}} {'req/s':>8} {'MB/s':>8} {'p50 ms':>8} {'errors':>7}   rounds (req/s)")
    for name, loads in results.items():
        medians[name] = median([load.requests_per_s for load in loads])
        mb = median([load.mb_per_s for load in loads])
        p50 = median([load.p50_ms for load in loads])
        errors = sum(load.errors for load in loads)
        rounds = ", ".join(f"{load.requests_per_s:.0f}" for load in loads)
        print(f"    {name:<{width}} {medians[name]:>8.0f} {mb:>8.0f} {p50:>8.1f} {errors:>7}   {rounds}")
    return medians


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ---------------------------------------------------------------- the catalog


@dataclass
class Catalog:
    version: str
    as_of: str
    raw: bytes
    compressed: bytes
    file: Path


def catalog_publish(workdir: Path) -> Catalog:
    """Build and publish the demo catalog with the cache engine; keep its compressed bytes in a file for nginx."""
    from cacheops import chunks
    from cacheops.build import operations
    from cacheops.manifest import chunks_fetch, manifest_read

    started = time.perf_counter()
    op = operations.catalog_rebuild(full=True, requested_by="bench")
    if op.result != "published":
        raise SystemExit(f"catalog build ended {op.result!r}: {op.detail}")
    manifest = manifest_read(operations.CATALOG)
    compressed = chunks_fetch(manifest)
    file = workdir / "catalog.json.gz"
    file.write_bytes(compressed)
    file.chmod(0o644)
    print(
        f"catalog {manifest['version']}: raw {manifest['raw_bytes']:,} B -> {manifest['codec']} "
        f"{len(compressed):,} B in {len(manifest['chunks'])} chunk(s); built in {time.perf_counter() - started:.1f} s"
    )
    raw = chunks.decompress(compressed, manifest["codec"])
    return Catalog(manifest["version"], manifest["as_of"], raw, compressed, file)


def same_catalog(server: Server, catalog: Catalog) -> str:
    """Check `server` sends the catalog (gzip when asked); describe what went on the wire."""
    status, headers, body = http_get(server.url + CATALOG_PATH, headers=GZIP_HEADERS, timeout=120)
    if status != 200:
        raise SystemExit(f"{server.name} answered {status} to {CATALOG_PATH}:\n{server.log_tail()}")
    encoding = headers.get("content-encoding", "identity")
    raw = gzip.decompress(body) if encoding == "gzip" else body
    if raw != catalog.raw:
        raise SystemExit(f"{server.name} did not send the published catalog ({len(raw):,} B decoded)")
    if body == catalog.compressed:
        same = "the published bytes"
    else:
        same = "same JSON, " + ("its own compression" if encoding != "identity" else "uncompressed")
    return f"{len(body):,} B {encoding} ({same})"


# ---------------------------------------------------------------- metrics and the stampede


def shared_cache_ops(binary: str, server: Server, args) -> None:
    """Shared-cache operations per second and per request at two loads: polling, not requests, should drive them."""
    print(f"\n(b) Airtime shared-cache operations (airtime_shared_cache_ops_total), {args.ops_seconds:g} s per load")
    rates = []
    for connections in (8, 64):
        before = metric_sum(server, "airtime_shared_cache_ops_total")
        started = time.monotonic()
        load = wrk(binary, server.url + CATALOG_PATH, connections=connections, seconds=args.ops_seconds)
        elapsed = time.monotonic() - started
        ops = metric_sum(server, "airtime_shared_cache_ops_total") - before
        rates.append(ops / elapsed)
        print(
            f"    wrk -c {connections:>2}: {load.requests_per_s:.0f} req/s; {ops:.0f} ops in {elapsed:.1f} s = "
            f"{ops / elapsed:.2f} ops/s, {ops / max(load.requests, 1):.5f} per request"
        )
    low, high = rates
    ok = high <= low * OPS_GROWTH_TOLERANCE + 1
    print(f"    ops/s at -c 64 vs -c 8: {high / low if low else float('inf'):.2f}x  goal: no growth: {verdict(ok)}")


def stampede_request(url: str, barrier: threading.Barrier) -> str:
    """One cold-start request; its outcome as '200', '503+retry-after' or what else happened."""
    hostport = url.removeprefix("http://").split("/")[0]
    host, port = hostport.split(":")
    barrier.wait()
    conn = http.client.HTTPConnection(host, int(port), timeout=BUILD_TIMEOUT_S)
    try:
        conn.request("GET", CATALOG_PATH, headers=GZIP_HEADERS)
        response = conn.getresponse()
        response.read()
        if response.status == 503 and response.getheader("Retry-After"):
            return "503+retry-after"
        return str(response.status)
    except Exception as exc:
        return type(exc).__name__
    finally:
        conn.close()


def builds_since(since) -> list:
    """Catalog rebuild operations started at or after `since`."""
    from cacheops.models import Operation

    return list(Operation.objects.filter(kind="rebuild", family="catalog", started_at__gte=since))


def builds_settle(since, *, timeout: float = BUILD_TIMEOUT_S) -> list:
    """Wait until every catalog build started since `since` has ended, and a second passes without a new one."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        ops = builds_since(since)
        if ops and all(op.result for op in ops) and len(ops) == seen:
            return ops
        seen = len(ops)
        time.sleep(1)
    return builds_since(since)


def stampede(procs: Processes, server: Server, workers: int) -> None:
    """Fresh web processes, no manifest in the cache, a worker running: 500 requests at once."""
    from django.utils import timezone

    from cacheops import keys
    from cacheops.backends import backend_get
    from cacheops.build import operations

    print(f"\n(c) cold-start stampede: {STAMPEDE_REQUESTS} concurrent requests to fresh web processes, no manifest")
    procs.stop(server)
    since = timezone.now()
    backend_get().delete(keys.manifest_key(operations.CATALOG))
    fresh = airtime_start(procs, workers)
    # Only the socket: an HTTP probe would start a reader, which would ask for the build before the stampede.
    wait_port(fresh)
    # Started after the server has emptied the metrics directory, so the worker's build counts survive.
    celery_start(procs, fresh.metrics)
    barrier = threading.Barrier(STAMPEDE_REQUESTS)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=STAMPEDE_REQUESTS) as pool:
        outcomes = Counter(pool.map(lambda _: stampede_request(fresh.url, barrier), range(STAMPEDE_REQUESTS)))
    elapsed = time.monotonic() - started
    ops = builds_settle(since)
    try:
        metric = f"{metric_sum(fresh, 'airtime_cache_builds_total', family='catalog'):.0f}"
    except OSError as exc:
        metric = f"unreadable ({exc})"
    others = {k: v for k, v in outcomes.items() if k not in ("200", "503+retry-after")}
    print(f"    every answer in {elapsed:.1f} s")
    print(
        f"    200: {outcomes['200']}, 503 with Retry-After: {outcomes['503+retry-after']}, "
        f"other: {sum(others.values())}{' ' + str(others) if others else ''}"
    )
    detail = "; ".join(f"{op.requested_by or '?'}: {op.result}, {op.duration_ms} ms" for op in ops)
    print(f"    catalog builds: {len(ops)} ({detail}); airtime_cache_builds_total on /metrics: {metric}")
    print(f"    goals: builds == 1: {verdict(len(ops) == 1)}; others == 0: {verdict(not others)}")


# ---------------------------------------------------------------- the runs


@dataclass
class Endpoint:
    """One request of the read path, and the least Airtime must reach against a bare app on the same server."""

    label: str
    path: str
    revalidate: bool  # sent with If-None-Match: the current ETag (a 304)
    goal: float


def endpoints(catalog: Catalog) -> list[Endpoint]:
    """The catalog whole, its revalidation, the manifest and the program page an airtime sends every viewer to."""
    program_id = next(p["id"] for p in json.loads(catalog.raw)["programs"] if p.get("seasons"))
    return [
        Endpoint("/api/catalog", CATALOG_PATH, False, GOAL_CATALOG),
        Endpoint("/api/catalog 304", CATALOG_PATH, True, GOAL_SMALL),
        Endpoint("/api/catalog/manifest", MANIFEST_PATH, False, GOAL_SMALL),
        Endpoint("/api/programs/<id>", f"/api/programs/{program_id}", False, GOAL_SMALL),
    ]


# Headers a server adds on its own: the bare app leaves them to its server, as Airtime does.
SERVER_HEADERS = {"date", "server", "connection", "keep-alive", "transfer-encoding"}


def answers_record(server: Server, wanted: list[Endpoint], file: Path) -> dict[str, str]:
    """Airtime's answer to each endpoint (gzip accepted), written for the bare app; return each path's ETag."""
    recorded, etags = [], {}
    for endpoint in wanted:
        headers = dict(GZIP_HEADERS)
        if endpoint.revalidate:
            headers["If-None-Match"] = etags[endpoint.path]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            conn.request("GET", endpoint.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            sent = [(k, v) for k, v in response.getheaders() if k.lower() not in SERVER_HEADERS]
        finally:
            conn.close()
        if response.status not in (200, 304) or (response.status == 304) != endpoint.revalidate:
            raise SystemExit(f"Airtime answered {response.status} to {endpoint.label}:\n{server.log_tail()}")
        etags.setdefault(endpoint.path, response.getheader("ETag"))
        recorded.append(
            {
                "path": endpoint.path,
                "if_none_match": headers.get("If-None-Match", ""),
                "status": f"{response.status} {response.reason}",
                "headers": sent,
                "body": base64.b64encode(body).decode(),
            }
        )
        encoding = response.getheader("Content-Encoding") or "identity"
        print(f"    {endpoint.label}: {response.status}, {len(body):,} B {encoding}, ETag {response.getheader('ETag')}")
    file.write_text(json.dumps(recorded))
    return etags


NGINX_ENDPOINTS = """\
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{ }}
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""


def nginx_endpoints_start(procs: Processes, nginx: str, recorded: Path, workers: int) -> Server:
    """nginx serving the bytes Airtime answered each endpoint with as static files (its own ETags and 304s)."""
    locations = []
    for i, answer in enumerate(json.loads(recorded.read_text())):
        if answer["if_none_match"]:
            continue
        file = procs.workdir / f"static-{i}"
        file.write_bytes(base64.b64decode(answer["body"]))
        file.chmod(0o644)
        encoding = {k.lower(): v for k, v in answer["headers"]}.get("content-encoding")
        extra = f"add_header Content-Encoding {encoding}; add_header Vary Accept-Encoding; " if encoding else ""
        locations.append(f"        location = {answer['path']} {{ {extra}alias {file}; }}")
    port = free_port()
    conf = procs.workdir / "nginx-endpoints.conf"
    conf.write_text(
        NGINX_ENDPOINTS.format(workers=workers, dir=procs.workdir, port=port, locations="\n".join(locations))
    )
    cmd = [nginx, "-p", str(procs.workdir), "-e", str(procs.workdir / "nginx-error.log"), "-c", str(conf)]
    return procs.start("nginx", cmd, port=port)


@dataclass
class Contender:
    """A server in the endpoint comparison, the endpoints it answers, and the ETag it gives each path."""

    server: Server
    serves: set[str]
    etags: dict[str, str]


def etags_read(server: Server, wanted: list[Endpoint]) -> dict[str, str]:
    """The ETag `server` sends for each path (nginx makes its own)."""
    return {e.path: http_get(server.url + e.path, headers=GZIP_HEADERS)[1].get("etag", "") for e in wanted}


def endpoint_rounds(binary: str, contenders: list[Contender], wanted: list[Endpoint], args) -> dict:
    """Interleaved wrk rounds over every (server, endpoint) pair; the medians of req/s."""
    pairs = [(c, e) for c in contenders for e in wanted if e.label in c.serves]

    def run(contender: Contender, endpoint: Endpoint, seconds: float) -> Load:
        extra = {"If-None-Match": contender.etags[endpoint.path]} if endpoint.revalidate else {}
        return wrk(binary, contender.server.url + endpoint.path, connections=args.connections, seconds=seconds, **extra)

    for contender, endpoint in pairs:
        run(contender, endpoint, args.warmup)
    loads: dict[tuple[str, str], list[Load]] = {(c.server.name, e.label): [] for c, e in pairs}
    for round_no in range(args.rounds):
        shift = round_no * 7 % len(pairs)
        for contender, endpoint in pairs[shift:] + pairs[:shift]:
            loads[contender.server.name, endpoint.label].append(run(contender, endpoint, args.duration))
        print(f"    round {round_no + 1}/{args.rounds} done", flush=True)
    for (name, label), runs in loads.items():
        if errors := sum(load.errors for load in runs):
            print(f"    {name} on {label}: {errors} errors or unexpected statuses")
    return {key: median([load.requests_per_s for load in runs]) for key, runs in loads.items()}


def endpoints_report(medians: dict, contenders: list[Contender], wanted: list[Endpoint]) -> None:
    """The req/s table, each Airtime server against the bare app on the same server, and nginx and Django beside."""
    names = [c.server.name for c in contenders]
    width = max(len(name) for name in names) + 2
    print("    req/s (median)".ljust(width + 4) + "".join(f"{e.label:>24}" for e in wanted))
    for name in names:
        cells = "".join(
            f"{medians[name, e.label]:>24,.0f}" if (name, e.label) in medians else f"{'':>24}" for e in wanted
        )
        print(f"    {name:<{width}}{cells}")
    width = max(len(e.label) for e in wanted) + 2
    for server in SERVERS:
        airtime, bare = f"Airtime, {server}", f"bare app, {server}"
        print(f"\n    Airtime / bare app on {server} (goal):")
        for e in wanted:
            if (airtime, e.label) not in medians:
                continue
            ratio = medians[airtime, e.label] / medians[bare, e.label]
            beside = [f"/ nginx {medians[airtime, e.label] / medians['nginx', e.label]:.2f}x"]
            if ("Django cache_page", e.label) in medians:
                beside.append(
                    f"/ Django cache_page {medians[airtime, e.label] / medians['Django cache_page', e.label]:.2f}x"
                )
            print(
                f"      {e.label:<{width}} {ratio:.2f}x (>= {e.goal}x): {verdict(ratio >= e.goal)}; {', '.join(beside)}"
            )


def run_main(procs: Processes, binary: str, nginx: str, catalog: Catalog, args) -> None:
    """Section (a) per endpoint, then (b) and (c) for Airtime as production serves it."""
    print(f"\n(a) the read path per endpoint, {args.workers} workers per server")
    airtime = airtime_start(procs, args.workers)
    wait_answering(airtime, CATALOG_PATH)
    print(f"    {airtime.name}: {same_catalog(airtime, catalog)}")
    wanted = endpoints(catalog)
    recorded = procs.workdir / "answers.json"
    etags = answers_record(airtime, wanted, recorded)
    every = {e.label for e in wanted}
    bare_env = {"BENCH_ANSWERS_FILE": str(recorded)}
    django_env = {"DJANGO_SETTINGS_MODULE": "django_cache_site", "BENCH_CATALOG_AS_OF": catalog.as_of,
                  "BENCH_DJANGO_CACHE": "page"}  # fmt: skip
    bare = App("bare app", "read_path:bare_app", bare_env, BENCH)
    contenders = [
        Contender(nginx_endpoints_start(procs, nginx, recorded, args.workers), every, {}),
        Contender(
            gunicorn_start(procs, "bare app, gunicorn", bare.wsgi, args.workers, env=bare_env, cwd=BENCH), every, etags
        ),  # fmt: skip
        Contender(
            gunicorn_start(
                procs, "Django cache_page", "django_cache_site:application", args.workers, env=django_env, cwd=BENCH
            ),
            {wanted[0].label, wanted[3].label},
            etags,
        ),  # fmt: skip
    ]
    airtime_wsgi = App("Airtime", "cms.wsgi:application", airtime_env(), ROOT)
    airtime_asgi = App("Airtime", "cms.asgi:application", airtime_env(), ROOT)
    airtime_gunicorn = gunicorn_start(
        procs, "Airtime, gunicorn", "cms.wsgi:application", args.workers, env=airtime_env()
    )
    bare_asgi_app = App("bare app", "read_path:bare_asgi", bare_env, BENCH)
    started = [
        airtime_gunicorn,
        app_start(procs, "bare app, granian", bare, args.workers),
        app_start(procs, "Airtime, granian", airtime_wsgi, args.workers),
        app_start(procs, "bare app, granian ASGI", bare_asgi_app, args.workers, "asgi"),
        airtime,
        uvicorn_start(procs, "bare app, uvicorn", bare_asgi_app, args.workers),
        uvicorn_start(procs, "Airtime, uvicorn", airtime_asgi, args.workers),
    ]
    contenders[2:2] = [Contender(server, every, etags) for server in started]
    for contender in contenders:
        wait_answering(contender.server, CATALOG_PATH)
    contenders[0].etags = etags_read(contenders[0].server, wanted)
    print(
        f"    wrk -t2 -c{args.connections} with Accept-Encoding: gzip, {args.warmup:g} s warm-up each, then "
        f"{args.rounds} interleaved rounds of {args.duration:g} s; medians"
    )
    medians = endpoint_rounds(binary, contenders, wanted, args)
    endpoints_report(medians, contenders, wanted)
    for contender in contenders:
        if contender.server is not airtime:
            procs.stop(contender.server)
    shared_cache_ops(binary, airtime, args)
    stampede(procs, airtime, args.workers)


@dataclass
class App:
    label: str
    wsgi: str
    env: dict
    cwd: Path


def candidate(procs: Processes, app: App, worker_class: str, workers: int, threads: int = 0) -> Server:
    """`app` under bench/gunicorn.conf.py with another worker class, worker count or thread count, or under granian."""
    name = f"{app.label}: {worker_class} x{workers}" + (f" {threads} threads" if threads else "")
    if worker_class == "granian":
        return app_start(procs, name, app, workers)
    # gunicorn turns sync into gthread when threads > 1: the sync candidate must say one thread.
    threads = 1 if worker_class == "sync" else threads
    args = ["-k", worker_class] + (["--threads", str(threads)] if threads else [])
    return gunicorn_start(procs, name, app.wsgi, workers, env=app.env, args=args, cwd=app.cwd)


def run_compare(procs: Processes, binary: str, catalog: Catalog, args) -> None:
    """The bare app (and Airtime) under each candidate server and worker count, for choosing bench/gunicorn.conf.py."""
    cores, workers = os.cpu_count() or 1, args.workers
    apps = [App("bare app", "read_path:bare_catalog_app", {"BENCH_CATALOG_FILE": str(catalog.file)}, BENCH)]
    apps.append(App("Airtime", "cms.wsgi:application", airtime_env(), ROOT))
    granian = ["granian"] if importlib.util.find_spec("granian") else []
    layouts = [("sync", workers, 0), ("gthread", workers, 0), *((g, workers, 0) for g in granian)]
    layouts += [("gthread", n, 0) for n in sorted({cores, 2 * cores, 3 * cores} - {workers})]
    layouts += [("gthread", workers, 2), ("gthread", workers, 8)]
    servers = [candidate(procs, app, kind, n, threads) for app in apps for kind, n, threads in layouts]
    print(f"\n(a) each candidate serving {CATALOG_PATH} ({cores} CPUs; gthread with bench/gunicorn.conf.py's threads)")
    for server in servers:
        wait_answering(server, CATALOG_PATH)
        print(f"    {server.name}: {same_catalog(server, catalog)}")
    print(
        f"    wrk -t2 -c{args.connections}, {args.warmup:g} s warm-up each, then {args.rounds} interleaved rounds "
        f"of {args.duration:g} s; medians"
    )
    medians = rounds_print(rounds_run(binary, servers, args))
    for app in apps:
        reference = f"{app.label}: gthread x{workers}"
        ratios = ", ".join(
            f"{name.split(': ')[1]} {rps / medians[reference]:.2f}"
            for name, rps in medians.items()
            if name.startswith(app.label + ":")
        )
        print(f"    {app.label}, relative to gthread x{workers}: {ratios}")


def options():
    """Command-line options."""
    parser = arguments("Serve the compressed catalog with nginx, a bare WSGI app, Django's cache and Airtime.")
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--workers", type=int, default=max(2, cores), help="worker processes per server (production's default)"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections for the comparison (32)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per server (5)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per round (5)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per server (3)")
    parser.add_argument("--ops-seconds", type=float, default=10, help="seconds per load for shared-cache ops (10)")
    parser.add_argument("--compare-servers", action="store_true", help="compare WSGI servers on the bare app instead")
    return parser.parse_args()


def main() -> None:
    args = options()
    binary, nginx = tools_ensure()
    requirements_ensure()
    # Program families are published by the full build too: at Momento's pace that alone takes minutes.
    os.environ["CACHEOPS_OPS_PER_SECOND"] = "100000"
    with bench_stack("airtime-read-path-", args.programs, "read path: the compressed catalog over HTTP") as procs:
        catalog = catalog_publish(procs.workdir)
        if args.compare_servers:
            run_compare(procs, binary, catalog, args)
        else:
            run_main(procs, binary, nginx, catalog, args)


if __name__ == "__main__":
    bench_main(main)
