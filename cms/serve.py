"""The production web server: granian serving `cms.asgi` (the read side, its events stream, then Django), one
worker process per core. `python -m cms.serve`, from the repository root, as the image runs it.

Chosen by `bench/read_path.py` (README, Serving in production): against gunicorn gthread it answers the small
requests that reach the origin behind a CDN (revalidations, manifest polls, program pages) more than three times as
fast, and only an ASGI server holds the events stream's connections without a thread each. Django's own views run
on a thread per request there (its ASGI handler gives each request its own thread-sensitive context), so one slow
admin page does not hold the others.

Every setting comes from the environment (README, Serving in production). The workers' counters add up in files
under PROMETHEUS_MULTIPROC_DIR, emptied here before any worker starts; a worker that died and was replaced has its
live gauges dropped at the next scrape (cacheops.metrics), as granian has no hook for a worker's exit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# The master never loads Django or prometheus_client: the variable below must be set before a worker imports it.
from granian import Granian
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

APPLICATION = "cms.asgi:application"
PORT_MAX = 65535


def env_int(name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
    """An integer from `low` to `high` from the environment, or `default` when unset or empty; one clear line when
    it is anything else."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise SystemExit(f"{name} must be a whole number from {low} to {high}, not {value[:40]!r}")
    return number


def _bind() -> tuple[str, int]:
    """WEB_BIND (host:port), else 0.0.0.0:$PORT, else 0.0.0.0:8000."""
    address = os.environ.get("WEB_BIND", "").strip()
    if not address:
        return "0.0.0.0", env_int("PORT", 8000, high=PORT_MAX)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= PORT_MAX:
        raise SystemExit(f"WEB_BIND must be host:port (a port from 1 to {PORT_MAX}), not {address[:80]!r}")
    return host.strip("[]"), int(port)


def cores() -> int:
    """CPUs this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def metrics_dir_prepare() -> tuple[Path, bool]:
    """The workers' metrics directory, emptied (files of an earlier run would add its counts to this one's), and
    whether it was made here (then it is removed when the server stops)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="airtime-metrics-"))
    metrics_dir_empty(path)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, not configured


def metrics_dir_empty(path: Path) -> None:
    """Make `path` an empty folder."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def server() -> tuple[Granian, Path, bool]:
    """The server as configured by the environment, its metrics directory, and whether that was made here."""
    host, port = _bind()
    level = os.environ.get("WEB_LOG_LEVEL", "info").strip().lower() or "info"
    if level not in {choice.value for choice in LogLevels}:
        raise SystemExit(f"WEB_LOG_LEVEL must be one of {', '.join(c.value for c in LogLevels)}, not {level[:40]!r}")
    workers = env_int("WEB_CONCURRENCY", max(2, cores()), high=256)
    keepalive_s = env_int("WEB_KEEPALIVE", 75, high=3600)
    connections = env_int("WEB_WORKER_CONNECTIONS", 4096)
    graceful_s = env_int("WEB_GRACEFUL_TIMEOUT", 30, high=3600)
    metrics_dir, made_here = metrics_dir_prepare()
    granian = Granian(
        APPLICATION,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        # Requests a worker serves at once, each open events stream one of them for as long as it lasts. Granian's
        # own default (its backlog shared among the workers: 512 each for two) would leave apps' streams waiting
        # in the backlog, then refused, long before memory runs short (about 40 KiB a stream).
        backpressure=connections,
        # Above a load balancer's idle timeout (60 s on an ALB): the balancer, not the origin, must drop an idle
        # connection, or a request sent as the origin closes it becomes a 502.
        http1_settings=HTTP1Settings(header_read_timeout=keepalive_s * 1000),
        websockets=False,
        respawn_failed_workers=True,
        workers_kill_timeout=graceful_s,
        log_level=LogLevels(level),
        log_access=os.environ.get("WEB_ACCESS_LOG", "").strip().lower() in {"1", "true", "yes"},
        # Workers import the application from the repository root, whatever the caller's directory.
        working_dir=Path(__file__).resolve().parents[1],
    )
    return granian, metrics_dir, made_here


def main() -> None:
    granian, metrics_dir, made_here = server()
    if made_here:
        granian.on_shutdown(lambda: shutil.rmtree(metrics_dir, ignore_errors=True))
    granian.serve()


if __name__ == "__main__":
    main()
