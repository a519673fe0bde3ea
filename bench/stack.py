"""The processes a benchmark starts (Redis, web servers, Celery), each in a session of its own, and how it waits on
them.

Everything started through `processes()` is stopped when the block ends, on Ctrl-C, SIGTERM and failure too.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from environment import ROOT

VENV_BIN = Path(sys.executable).parent
GUNICORN_CONF = ROOT / "bench" / "gunicorn.conf.py"
STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    metrics: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's output, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Processes:
    """Every process the benchmark starts, each in a session of its own, stopped together."""

    workdir: Path
    running: list[Server] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], *, port: int = 0, env: dict | None = None, cwd: Path = ROOT) -> Server:
        """Start `cmd` with its output in a log file."""
        log = self.workdir / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.log"
        with log.open("ab") as out:
            # A session of its own: Ctrl-C reaches only this script, which then stops the whole group.
            proc = subprocess.Popen(
                cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=out, start_new_session=True
            )
        server = Server(name, port, proc, log)
        self.running.append(server)
        return server

    def stop(self, server: Server) -> None:
        """SIGTERM the server's process group; SIGKILL what is left after 15 s."""
        if server in self.running:
            self.running.remove(server)
        _group_signal(server.proc, signal.SIGTERM)
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _group_signal(server.proc, signal.SIGKILL)
            server.proc.wait(timeout=10)
        # Children that outlived their parent (a worker mid-request) go too.
        _group_signal(server.proc, signal.SIGKILL)

    def kill(self, server: Server) -> None:
        """SIGKILL the server's whole process group at once, as a crash or the kernel's OOM killer would."""
        if server in self.running:
            self.running.remove(server)
        _group_signal(server.proc, signal.SIGKILL)
        server.proc.wait(timeout=10)

    def stop_all(self, *, keep: tuple[Server, ...] = ()) -> None:
        """Stop everything still running but `keep`: all asked at once (SIGTERM), what is left after 15 s killed."""
        stopping = [server for server in self.running if server not in keep]
        for server in stopping:
            self.running.remove(server)
            _group_signal(server.proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for server in stopping:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for server in stopping:
            # Children that outlived their parent (a worker mid-request) go too.
            _group_signal(server.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=10)


def _group_signal(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextlib.contextmanager
def processes(prefix: str = "airtime-bench-", *, keep_workdir: bool = False) -> Iterator[Processes]:
    """A scratch directory and a process registry; both gone on exit, Ctrl-C and SIGTERM included (the directory
    stays with `keep_workdir`)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    # nginx started as root serves with unprivileged workers (nobody), which must read the catalog file.
    workdir.chmod(0o755)
    registry = Processes(workdir)
    previous = signal.signal(signal.SIGTERM, _sigterm_exit)
    try:
        yield registry
    finally:
        registry.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _sigterm_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


def http_get(url: str, *, headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    """GET `url`: status, headers (lower-case names), body."""
    host, _, rest = url.removeprefix("http://").partition("/")
    hostname, _, port = host.partition(":")
    conn = http.client.HTTPConnection(hostname, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", "/" + rest, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def wait_answering(server: Server, path: str, *, timeout: float = STARTUP_TIMEOUT_S) -> int:
    """Wait until `server` answers `path` with any HTTP status; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            return http_get(server.url + path, timeout=5)[0]
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not answer {path} within {timeout:.0f} s:\n{server.log_tail()}")


def wait_port(server: Server, *, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Wait until `server` accepts TCP connections (its listening socket, not yet its application)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            return
        time.sleep(0.1)
    raise SystemExit(f"{server.name} did not listen within {timeout:.0f} s:\n{server.log_tail()}")


def wait_log(server: Server, text: str, *, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Wait until `text` appears in the server's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        if text in server.log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.name} did not log {text!r} within {timeout:.0f} s:\n{server.log_tail()}")


# ---------------------------------------------------------------- the servers


@contextlib.contextmanager
def bench_stack(prefix: str, programs: int, title: str, overrides: dict[str, str] | None = None) -> Iterator[Processes]:
    """A benchmark's own Redis (as REDIS_URL) and environment (DynamoDB Local, Django, the demo seeded, see
    `environment.bench_environment`); yields the registry of the processes it starts, all stopped at the end."""
    from environment import bench_environment, header

    with processes(prefix) as procs:
        # Celery's queue takes no key prefix: on a shared Redis another run's worker could take this run's tasks.
        redis = redis_start(procs)
        os.environ["REDIS_URL"] = redis_url(redis)
        with bench_environment(programs, overrides) as bench:
            try:
                header(title, bench)
                yield procs
            finally:
                # Servers go before the environment's own cleanup; Redis stays for it.
                procs.stop_all(keep=(redis,))


class Announcements:
    """Each version's announcement: the instant the publisher sent it (in the message) and this process heard it."""

    def __init__(self) -> None:
        from cacheops import keys
        from cacheops.backends import backend_get

        self.at: dict[str, float] = {}  # heard here (time.monotonic)
        self.sent: dict[str, float] = {}  # sent by the publisher (wall clock, from the message)
        self._subscription = backend_get().subscribe(keys.versions_channel("catalog"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if (message := self._subscription.receive(0.2)) is not None:
                announced = orjson.loads(message)
                self.at.setdefault(announced["version"], time.monotonic())
                self.sent.setdefault(announced["version"], datetime.fromisoformat(announced["at"]).timestamp())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._subscription.close()


def bench_main(main) -> None:
    """Run a benchmark's `main`; Ctrl-C ends it with one line (everything it started is stopped by then)."""
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted: everything the benchmark started has been stopped") from None


def redis_start(procs: Processes, name: str = "redis", *, port: int = 0) -> Server:
    """A Redis of the benchmark's own, keeping nothing on disk (on `port` to start one again where it was)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: run `sudo apt-get install redis-server`, then again")
    port = port or free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = procs.start(name, [*cmd, "--dir", str(procs.workdir)], port=port)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return server
        time.sleep(0.1)
    raise SystemExit(f"redis-server did not start:\n{server.log_tail()}")


def redis_url(server: Server) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


def metrics_dir(procs: Processes, port: int) -> Path:
    """A prometheus_client multiprocess directory for the server on `port`, empty."""
    metrics = procs.workdir / f"metrics-{port}"
    metrics.mkdir()
    return metrics


def granian_start(
    procs: Processes, name: str, app: str, workers: int, *, interface: str = "wsgi", env=None, cwd=ROOT, args=()
) -> Server:
    """granian (its WSGI or ASGI interface) serving `app` from `cwd`, with a metrics directory of its own."""
    port = free_port()
    metrics = metrics_dir(procs, port)
    cmd = [str(VENV_BIN / "granian"), "--interface", interface, "--workers", str(workers), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--working-dir", str(cwd), "--log-level", "warning", *args, app]
    settings = {"PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(metrics), **(env or {})}
    server = procs.start(name, cmd, port=port, env=settings, cwd=cwd)
    server.metrics = metrics
    return server


def web_start(procs: Processes, name: str, workers: int, *, env=None) -> Server:
    """The production web server (`python -m cms.serve`: granian, cms.asgi) with a metrics directory of its own."""
    port = free_port()
    metrics = metrics_dir(procs, port)
    settings = {
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "WEB_LOG_LEVEL": "warning",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        **(env or {}),
    }
    server = procs.start(name, [sys.executable, "-m", "cms.serve"], port=port, env=settings)
    server.metrics = metrics
    return server


def gunicorn_start(procs: Processes, name: str, app: str, workers: int, *, env=None, args=(), cwd=ROOT) -> Server:
    """gunicorn gthread (bench/gunicorn.conf.py, the candidate it was measured against) with a metrics directory of
    its own."""
    port = free_port()
    metrics = metrics_dir(procs, port)
    settings = {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "GUNICORN_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    cmd = [str(VENV_BIN / "gunicorn"), "-c", str(GUNICORN_CONF), *args, app]
    server = procs.start(name, cmd, port=port, env=settings, cwd=cwd)
    server.metrics = metrics
    return server


def bin_run_command(service: str) -> list[str]:
    """The command line `bin/run` starts `service` (worker, beat) with, so a benchmark runs exactly that."""
    script = (ROOT / "bin" / "run").read_text()
    found = re.search(rf"^\s*start {re.escape(service)} \S+ (.+)$", script, re.M)
    if found is None:
        raise SystemExit(f"bin/run starts no {service} with `start {service} <log> <command>`: cannot copy it")
    return shlex.split(found.group(1))


def celery_start(procs: Processes, service: str, name: str, *extra: str, env: dict | None = None) -> Server:
    """A Celery worker or beat started with bin/run's command line (and `extra` arguments) from the repository."""
    return procs.start(name, [*bin_run_command(service), *extra], env=env)


def metric_sum(server: Server, name: str, **labels: str) -> float:
    """The sum of the samples of counter `name` (with these label values) on the server's /metrics."""
    return metric_sums(server, name, **labels)[name]


def metric_sums(server: Server, *names: str, **labels: str) -> dict[str, float]:
    """The sums of the samples named `names` (with these label values) on one scrape of the server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    status, _headers, body = http_get(server.url + "/metrics", timeout=60)
    if status != 200:
        raise SystemExit(f"{server.name} answered {status} to /metrics")
    totals = dict.fromkeys(names, 0.0)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name in totals and labels.items() <= sample.labels.items():
                totals[sample.name] += sample.value
    return totals


def worker_pids(server: Server) -> list[int]:
    """The worker processes of a pre-forking server (gunicorn, granian), as the kernel lists the master's children."""
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


def connection_owners(server: Server) -> dict[int, int]:
    """Which worker process holds each client connection to `server`: {client port: worker pid} (Linux /proc)."""
    sockets: dict[int, int] = {}
    for pid in worker_pids(server):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        sockets[int(target[8:-1])] = pid
    owners = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, remote_port = (int(address.split(":")[1], 16) for address in fields[1:3])
            if local_port == server.port and int(fields[9]) in sockets:
                owners[remote_port] = sockets[int(fields[9])]
    return owners
