"""The read path in real processes: a cold stampede on several web workers makes one build, and /metrics adds up."""

import asyncio
import http.client
import os
import resource
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cacheops.conftest import (
    get,
    listening,
    process_stop,
    show_create,
    stack_env,
    wait_for,
    web_start,
    worker_start,
)

WEB_WORKERS = 3
STAMPEDE = 120


def metric_total(port: int, name: str, **labels: str) -> float:
    """The sum of a counter's samples matching `labels`, as this server's /metrics reports it."""
    status, _, body = get(port, "/metrics")
    assert status == 200
    family = next((f for f in text_string_to_metric_families(body.decode()) if f.name == name), None)
    if family is None:
        return 0.0  # nothing counted yet: a process hands its counts over once a second
    samples = [s for s in family.samples if s.name == f"{name}_total"]
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def stack(private_redis, redis_engine, dynamodb, tmp_path):
    """A Celery worker and the production web server with several workers, sharing this test's cache prefix and an
    empty SQL db."""
    env = stack_env(tmp_path, private_redis[1])
    started = []
    try:
        yield env, started
    finally:
        for proc in reversed(started):
            process_stop(proc)


def test_a_cold_stampede_on_several_workers_makes_one_build_and_metrics_add_up(stack, tmp_path):
    env, started = stack
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    started.append(worker_start(env, tmp_path / "worker.log"))
    with (tmp_path / "web.log").open("w") as log:
        web, port = web_start(env, log, WEB_WORKERS)
    started.append(web)

    with ThreadPoolExecutor(max_workers=STAMPEDE) as pool:
        answers = list(pool.map(lambda _: get(port, "/api/catalog"), range(STAMPEDE)))

    statuses = [status for status, _, _ in answers]
    others = [s for s, headers, _ in answers if s != 200 and not (s == 503 and headers.get("Retry-After"))]
    assert others == [], (tmp_path / "web.log").read_text()[-3000:]
    assert statuses.count(200) >= 1
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        builds = db.execute(
            "SELECT requested_by FROM cacheops_operation WHERE kind = 'rebuild' AND family = 'catalog'"
        ).fetchall()
    assert builds == [("reader",)]
    bodies = {body for status, _, body in answers if status == 200}
    assert len(bodies) == 1
    size = len(bodies.pop())

    # Every worker's counts add up in each scrape, whichever worker answers it, once each has handed its batch
    # over (every second).
    assert wait_for(lambda: metric_total(port, "airtime_requests", family="catalog") == STAMPEDE, 5)
    for _ in range(WEB_WORKERS * 2):
        assert metric_total(port, "airtime_requests", family="catalog") == STAMPEDE
        assert metric_total(port, "airtime_bytes_served", family="catalog") == size * statuses.count(200)
    # Shared-cache operations follow the pollers, not the requests.
    before = metric_total(port, "airtime_shared_cache_ops")
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: get(port, "/api/catalog"), range(400)))
    time.sleep(0.5)
    spent = metric_total(port, "airtime_shared_cache_ops") - before
    assert spent < 400 / 4, spent


def gauge(port: int, name: str) -> float:
    """A gauge's value, summed over this server's live workers, as its /metrics reports it."""
    status, _, body = get(port, "/metrics")
    assert status == 200
    family = next(f for f in text_string_to_metric_families(body.decode()) if f.name == name)
    return sum(s.value for s in family.samples)


def events_open(port: int) -> http.client.HTTPResponse:
    """An open events stream, its first event read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/api/catalog/events")
    response = connection.getresponse()
    assert response.status == 200
    while not response.readline().startswith(b"data:"):
        pass
    return response


def stream_ended(stream: http.client.HTTPResponse) -> bool:
    """Whether the stream ends (cleanly or cut) rather than sending more."""
    try:
        return stream.read() == b""
    except (http.client.IncompleteRead, ConnectionError):
        return True


def test_workers_killed_and_replaced_keep_their_counts_and_drop_their_live_gauges(stack, tmp_path):
    env, started = stack
    show_create("薬屋のひとりごと", "kusuriya")
    started.append(worker_start(env, tmp_path / "worker.log"))
    with (tmp_path / "web.log").open("w") as log:
        web, port = web_start(env, log, WEB_WORKERS)
    started.append(web)
    for _ in range(30):
        assert get(port, "/api/catalog")[0] == 200
    # Counted in each worker's batch, handed to the metrics every second.
    assert wait_for(lambda: metric_total(port, "airtime_requests", family="catalog") == 30, 5)
    stream = events_open(port)
    assert gauge(port, "airtime_events_connections") == 1

    # The server replaces workers that die: the dead ones' counts stay in the total, their open streams do not.
    def workers() -> set[int]:
        return set(
            map(int, subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split())
        )

    doomed = workers()
    assert len(doomed) == WEB_WORKERS
    for pid in doomed:
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not doomed & workers() and len(workers()) == WEB_WORKERS, 30)
    assert stream_ended(stream)  # its worker is gone
    assert wait_for(lambda: listening(port), 30)  # the new workers listen once they have started
    for _ in range(10):
        assert get(port, "/api/catalog")[0] == 200
    assert wait_for(lambda: metric_total(port, "airtime_requests", family="catalog", status="200") == 40, 5), (
        metric_total(port, "airtime_requests", family="catalog", status="200")
    )
    assert metric_total(port, "airtime_requests", family="catalog", status="200") == 40
    assert gauge(port, "airtime_events_connections") == 0

    # A server started again counts from zero: it empties the metrics folder before its workers start.
    process_stop(web)
    with (tmp_path / "web2.log").open("w") as log:
        web, port = web_start(env, log, WEB_WORKERS)
    started.append(web)
    assert get(port, "/api/catalog")[0] == 200
    assert wait_for(lambda: metric_total(port, "airtime_requests", family="catalog") == 1, 5)

    # Asked to stop, the server ends its open streams instead of waiting for them until it kills its workers.
    stream = events_open(port)
    web.terminate()
    assert web.wait(timeout=60) == 0
    assert stream_ended(stream)
    assert "refused to gracefully stop" not in (tmp_path / "web2.log").read_text()


STREAMS = 1100  # more than granian holds at once by default (its backlog of 1024 shared among the workers)


async def _streams_open(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` events streams open at once, each with its first event read; their writers, to hang up."""
    request = b"GET /api/catalog/events HTTP/1.1\r\nHost: airtime\r\nAccept: text/event-stream\r\n\r\n"

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await reader.readuntil(b"\ndata: ")
        return writer

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 60)


def test_one_worker_started_with_the_usual_open_files_limit_holds_more_streams_than_granians_default(stack, tmp_path):
    env, started = stack
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    started.append(worker_start(env, tmp_path / "worker.log"))
    with (tmp_path / "web.log").open("w") as log:
        web, port = web_start(env, log, 1, open_files=1024)
    started.append(web)
    assert wait_for(lambda: get(port, "/api/catalog")[0] == 200, 30)

    async def held() -> float:
        writers = await _streams_open(port, STREAMS)
        try:
            return await asyncio.to_thread(gauge, port, "airtime_events_connections")
        finally:
            for writer in writers:
                writer.close()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * STREAMS)), hard))  # this test's clients
    try:
        assert asyncio.run(held()) == STREAMS
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert wait_for(lambda: gauge(port, "airtime_events_connections") == 0, 30)
