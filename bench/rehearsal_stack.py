"""The rehearsal's stack: the web server of cms/serve.py, Celery workers and beat with bin/run's command lines, two
Redis servers and DynamoDB Local; and a monitor that watches them while the drill runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stack import (
    Processes,
    Server,
    bin_run_command,
    celery_start,
    http_get,
    redis_start,
    wait_answering,
    wait_log,
    web_start,
)

WEB_WORKERS = 2
WORKER_NODES = ("rehearsal-1", "rehearsal-2")
# The stack's processes log what they do (into the work directory).
STACK_SETTINGS = {"LOG_LEVEL": "INFO"}
# How often the monitor looks at the processes and at the catalog manifest in the shared cache.
MONITOR_EVERY_S = 0.25
# How often ops' console page asks for its tasks' progress (the family page's script polls like this).
CONSOLE_POLL_S = 2.0


def now() -> float:
    return time.time()


@dataclass
class Stack:
    """The processes of the rehearsal, and how to start, restart and kill them."""

    procs: Processes
    web: Server
    broker: Server
    cache: Server
    dynamodb: subprocess.Popen
    workers: dict[str, Server] = field(default_factory=dict)  # by Celery node name
    beat: Server | None = None
    starts: int = 0
    # Held while a worker is killed or started, so the monitor never takes a killed worker for a dead one.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def worker_start(self, node: str) -> Server:
        """A worker with bin/run's command line and node name `node` (started again under the same name)."""
        self.starts += 1
        name = f"worker {node}" + (f" start {self.starts}" if node in self.workers else "")
        self.workers[node] = celery_start(self.procs, "worker", name, "-n", f"{node}@%h", env=STACK_SETTINGS)
        return self.workers[node]

    def worker_kill(self, node: str) -> tuple[Server, float]:
        """SIGKILL the worker's whole process group (its pool too), then start it again, as a supervisor would; the
        killed worker and when it died."""
        with self.lock:
            killed = self.workers[node]
            self.procs.kill(killed)
            at = now()
            self.worker_start(node)
        return killed, at

    @contextlib.contextmanager
    def workers_stopped(self) -> Iterator[None]:
        """Stop every worker (SIGTERM, a warm shutdown, as a deploy does) for the block; then start them again."""
        with self.lock:
            for server in self.workers.values():
                self.procs.stop(server)
            try:
                yield
            finally:
                for node in list(self.workers):
                    self.worker_start(node)

    def redis_restart(self, which: str) -> tuple[float, float]:
        """Stop the broker's or the shared cache's Redis, then start an empty one on its port; (down, up) times."""
        server: Server = getattr(self, which)
        down = now()
        self.procs.stop(server)
        setattr(self, which, redis_start(self.procs, f"{which} redis restarted", port=server.port))
        return down, now()

    def exited(self) -> list[tuple[str, Server]]:
        """The stack's processes that have exited, by role (a worker by its node name)."""
        roles = [("web", self.web), ("beat", self.beat), *self.workers.items()]
        return [(role, server) for role, server in roles if server is not None and server.proc.poll() is not None]


def stack_start(procs: Processes, dynamodb: subprocess.Popen, broker: Server, cache: Server) -> Stack:
    """The web server (production configuration), two workers and beat; every one of them answering."""
    web = web_start(procs, "web", WEB_WORKERS, env=STACK_SETTINGS)
    stack = Stack(procs, web, broker, cache, dynamodb)
    for node in WORKER_NODES:
        stack.worker_start(node)
    beat = bin_run_command("beat")
    if "--schedule" in beat:
        # bin/run keeps beat's schedule in .run/: this stack's goes into its own folder.
        beat[beat.index("--schedule") + 1] = str(procs.workdir / "beat-schedule")
    stack.beat = procs.start("beat", beat, env=STACK_SETTINGS)
    wait_answering(web, "/healthz")
    for server in stack.workers.values():
        wait_log(server, " ready.")
    for _ in range(4 * WEB_WORKERS):
        if http_get(web.url + "/api/catalog", headers={"Accept-Encoding": "gzip"})[0] != 200:
            raise SystemExit(f"the web server does not serve the catalog:\n{web.log_tail()}")
    return stack


@dataclass
class Death:
    """A process of the stack found exited that the rehearsal did not stop, and what the monitor did about it."""

    role: str
    at: float
    phase: str
    code: int | None
    log_tail: str
    restarted: bool
    server: Server


@dataclass
class Publication:
    """A catalog manifest the shared cache held from `at` on: a build's (its `built_at`) or a release change's."""

    at: float
    version: str
    built_at: float


class Monitor(threading.Thread):
    """While the drill runs: processes that die (a dead worker is started again, as a supervisor would), every
    catalog manifest the shared cache holds, and the progress of ops' console tasks (as their open page asks)."""

    def __init__(self, stack: Stack, phase_at: Callable[[float], str], console_tasks: list[int]) -> None:
        super().__init__(name="monitor", daemon=True)
        self.stack, self.phase_at, self.console_tasks = stack, phase_at, console_tasks
        self.deaths: list[Death] = []
        self.publications: list[Publication] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import connections

        console_due = 0.0
        try:
            while not self.stopped.wait(MONITOR_EVERY_S):
                self.watch()
                self.manifest_note()
                if time.monotonic() >= console_due:
                    console_due = time.monotonic() + CONSOLE_POLL_S
                    self.console_ask()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)

    def watch(self) -> None:
        """Record each process of the stack that exited by itself; start a dead worker again."""
        with self.stack.lock:
            for role, server in self.stack.exited():
                if any(death.server is server for death in self.deaths):
                    continue
                restart, at = role in self.stack.workers, now()
                tail = server.log_tail(3)
                self.deaths.append(Death(role, at, self.phase_at(at), server.proc.returncode, tail, restart, server))
                if restart:
                    self.stack.procs.running.remove(server)
                    self.stack.worker_start(role)

    def manifest_note(self) -> None:
        from cacheops.manifest import manifest_read
        from cms.domain import time_parse

        try:
            manifest = manifest_read("catalog")
        except Exception:
            return  # the shared cache is restarting
        if manifest is None:
            return
        built_at = time_parse(manifest["built_at"]).timestamp()
        last = self.publications[-1] if self.publications else None
        if last is None or (last.version, last.built_at) != (manifest["version"], built_at):
            self.publications.append(Publication(now(), manifest["version"], built_at))

    def console_ask(self) -> None:
        from cacheops.console import actions
        from cacheops.models import ConsoleTask

        try:
            for task in ConsoleTask.objects.filter(id__in=self.console_tasks, finished_at__isnull=True):
                actions.task_status(task)
        except Exception:
            return  # SQLite busy, the broker restarting: the page asks again in a moment
