"""/api/catalog/events under load: idle connections held per process, memory per connection, and how soon every
connection hears of a new version.

.venv/bin/python bench/events.py [--connections 2000] [--workers 2] [--changes 10] [--programs 20]

The production web server (`python -m cms.serve`: granian serving cms.asgi), Redis as the shared cache, DynamoDB
Local. Clients are asyncio connections of this process reading the stream as a browser's EventSource does. Memory is
the server's workers' resident set before and after the connections opened; latency runs from the version's
announcement (as a subscriber in this process hears it) to each connection's receipt of its event.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from pathlib import Path

from environment import arguments, percentile
from stack import (
    Announcements,
    Processes,
    bench_main,
    bench_stack,
    celery_start,
    metric_sum,
    wait_answering,
    wait_log,
    web_start,
    worker_pids,
)

REQUEST = b"GET /api/catalog/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


class Listener:
    """One idle EventSource: it reads events and keeps the instant each id arrived."""

    def __init__(self) -> None:
        self.heard: dict[str, float] = {}
        self.first = asyncio.Event()

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST)
        await writer.drain()
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buffer += data
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"id: "):
                        self.heard.setdefault(line[4:].decode(), time.time())
                        self.first.set()


async def _open(port: int, count: int) -> tuple[list[Listener], list[asyncio.Task]]:
    listeners = [Listener() for _ in range(count)]
    tasks = []
    for i, listener in enumerate(listeners):
        tasks.append(asyncio.ensure_future(listener.run(port)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a crowd arriving, not a single SYN flood
    await asyncio.wait_for(asyncio.gather(*(listener.first.wait() for listener in listeners)), 120)
    return listeners, tasks


async def _close(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run(procs: Processes, args) -> None:
    from cacheops.build import operations
    from cms import services

    operations.catalog_rebuild(requested_by="bench", full=True)
    server = web_start(procs, "web (python -m cms.serve)", args.workers, env={"CACHEOPS_READER_POLL_SECONDS": "30"})
    env = {"CELERY_TASK_ALWAYS_EAGER": "false", "PROMETHEUS_MULTIPROC_DIR": str(server.metrics)}
    wait_log(celery_start(procs, "worker", "celery worker", env=env), " ready.")
    wait_answering(server, "/api/catalog")
    time.sleep(2)
    pids = worker_pids(server)
    # The clients run on a loop of their own thread, reading as they would on their devices while this one publishes.
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    before = rss_kib(pids)
    started = time.monotonic()
    listeners, tasks = asyncio.run_coroutine_threadsafe(_open(server.port, args.connections), loop).result()
    opened_s = time.monotonic() - started
    time.sleep(2)
    after = rss_kib(pids)
    open_now = metric_sum(server, "airtime_events_connections")
    print(f"\n(a) {args.connections} idle connections to {args.workers} granian workers, opened in {opened_s:.1f} s")
    print(
        f"    open on /metrics (airtime_events_connections): {open_now:.0f}, "
        f"about {open_now / args.workers:.0f} per process"
    )
    print(
        f"    workers' resident memory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after: "
        f"{(after - before) / args.connections:.1f} KiB per connection"
    )
    print(f"\n(b) {args.changes} saves, each built by the worker; from the announcement to every connection's event")
    program = services.program_create(user="bench", title="速報", slug="sokuho", genre="news", status="published")
    season = services.season_create(user="bench", program_id=program.id, title="速報 第1期", status="published")
    episode = services.episode_create(
        user="bench", program_id=program.id, season_id=season.id, number=1, title="第0版",
        duration_s=600, status="published",
    )  # fmt: skip
    time.sleep(3)  # its own builds, out of the way
    announced = Announcements()
    delays: list[float] = []
    missed = 0
    for n in range(1, args.changes + 1):
        seen = set(announced.sent)
        episode = services.episode_update(
            episode_id=episode.id, version=episode.version, user="bench", title=f"第{n}版"
        )
        version, deadline = None, time.monotonic() + 30
        while version is None and time.monotonic() < deadline:
            new = [v for v in announced.sent if v not in seen]
            if new and all(new[-1] in listener.heard for listener in listeners):
                version = new[-1]
            time.sleep(0.01)
        if version is None:
            missed += len(listeners)
            continue
        delays += [max(0.0, listener.heard[version] - announced.sent[version]) for listener in listeners]
        time.sleep(0.5)
    announced.close()
    p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
    print(
        f"    announced -> event received: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms over {len(delays)} receipts; missed {missed}"
    )
    asyncio.run_coroutine_threadsafe(_close(tasks), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)


def options():
    parser = arguments("Idle /api/catalog/events connections: memory per connection and time to hear a version.")
    parser.add_argument("--connections", type=int, default=2000, help="idle connections to open (2000)")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes (2)")
    parser.add_argument("--changes", type=int, default=10, help="versions to publish (10)")
    parser.set_defaults(programs=20)
    return parser.parse_args()


def main() -> None:
    args = options()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2 * args.connections + 200:
        raise SystemExit(
            f"{args.connections} connections need {2 * args.connections + 200} open files; the limit is {hard}"
        )
    overrides = {"CELERY_TASK_ALWAYS_EAGER": "false", "CACHEOPS_REBUILD_ON_SAVE": "true"}
    title = "events: idle connections and the time to hear a new version"
    with bench_stack("airtime-events-", args.programs, title, overrides) as procs:
        run(procs, args)


if __name__ == "__main__":
    bench_main(main)
