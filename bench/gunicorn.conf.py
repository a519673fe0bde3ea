"""gunicorn gthread settings for Airtime's WSGI application: the server production ran before granian, kept here as
the candidate `bench/read_path.py` measures it against (`gunicorn -c bench/gunicorn.conf.py cms.wsgi`).

Worker class: gthread, one worker process per core (at least two), 4 threads each, chosen among gunicorn's classes with
`bench/read_path.py --compare-servers`: 2 CPUs, the 2,743,956-byte gzip catalog of 360 demo programs, wrk -t2 -c32,
median of 5 interleaved rounds, req/s of Airtime's /api/catalog (and of a bare WSGI app sending the same bytes):
  sync x4       753 (bare   882)  p50 40 ms  one connection per request; a slow client holds a whole process
  gthread x4    800 (bare 1,035)  p50 21 ms  keep-alive; a slow client holds one thread
  gthread x2    859 (bare 1,070)             one worker per core: as fast as two or three (x6: 762 / 1,009),
                                             within the noise of a shared machine (another run: x2 0.92x of x4)
  2/4/8 threads 822 / 800 / 820              no difference: 4 is room for slow clients and cold-start waits
Production now runs granian (cms/serve.py): on the small answers that reach an origin behind a CDN it does about
three times what gthread does, and it holds the events stream's connections without a thread each.

Everything can be overridden from the environment (below) or on the command line, which gunicorn lets win.
"""

import os
import shutil
import tempfile
from pathlib import Path

from cms.serve import cores, env_int, metrics_dir_empty


def _bind() -> list[str]:
    """GUNICORN_BIND (comma-separated), else 0.0.0.0:$PORT, else 0.0.0.0:8000."""
    if addresses := os.environ.get("GUNICORN_BIND", "").strip():
        return [address.strip() for address in addresses.split(",") if address.strip()]
    return [f"0.0.0.0:{os.environ.get('PORT', '').strip() or 8000}"]


_CREATED_MARK = "AIRTIME_METRICS_DIR_CREATED"


def _metrics_dir() -> tuple[Path, bool]:
    """The prometheus_client multiprocess directory, and whether this file created it."""
    # prometheus_client picks multiprocess mode when it is imported, so the variable must be set here, in the
    # master, before any worker loads the application (workers inherit the environment when forked).
    # Gunicorn reads this file again on a reload (HUP): the marker remembers that the directory is ours.
    if configured := os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        return Path(configured), os.environ.get(_CREATED_MARK) == configured
    created = tempfile.mkdtemp(prefix="airtime-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[_CREATED_MARK] = created
    return Path(created), True


METRICS_DIR, METRICS_DIR_CREATED = _metrics_dir()

bind = _bind()
# One per core (figures above), and never one alone: a worker restarting must not leave the host unserved.
workers = env_int("WEB_CONCURRENCY", max(2, cores()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# Threads wait on sockets (slow clients, a cold-cache wait), not on the CPU: a few per worker keep one slow
# reader from holding a whole process, while idle keep-alive connections wait in the poller, not in a thread.
threads = env_int("GUNICORN_THREADS", 4)
# Above a load balancer's idle timeout (60 s on AWS ALB): the proxy, not gunicorn, must close an idle
# connection, or a request sent as gunicorn closes it becomes a 502.
keepalive = env_int("GUNICORN_KEEPALIVE", 75)
timeout = env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Each web process starts its own catalog poller after fork; loading the app in the master would share none of it.
preload_app = False
# The control socket defaults to one path per user: two instances on one host would fight over it.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Heartbeat files in memory, not on a container's overlay filesystem, where a slow disk can get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def on_starting(server):
    """Start with an empty metrics directory: files left by an earlier run would add its counts to this one's."""
    metrics_dir_empty(METRICS_DIR)


def on_exit(server):
    """Remove the metrics directory if this file made it."""
    if METRICS_DIR_CREATED:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
