"""Start local servers for development, tests and benchmarks: AWS's DynamoDB Local, and moto for S3."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

# Where bin/dynamodb-local-install puts the emulator.
DYNAMODB_LOCAL_HOME = Path(
    os.environ.get("DYNAMODB_LOCAL_HOME", Path(__file__).resolve().parents[2] / ".tools/dynamodb-local")
)
START_SECONDS = 30


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dynamodb_local_command(port: int, data_dir: Path | None = None) -> list[str]:
    """The command line of a DynamoDB Local server on loopback: in memory, or kept in `data_dir`."""
    jar = DYNAMODB_LOCAL_HOME / "DynamoDBLocal.jar"
    if not jar.exists():
        raise RuntimeError(f"DynamoDB Local is not installed in {DYNAMODB_LOCAL_HOME} (run bin/dynamodb-local-install)")
    # -sharedDb: one database whatever credentials and region a client sends.
    storage = ["-dbPath", str(data_dir)] if data_dir else ["-inMemory"]
    # A server for one developer or one test process: the JVM's quick compiler only and one garbage collector
    # thread. Its optimising compiler would take seconds of a core at every start, for no faster answers here.
    return [
        *["java", "-Xmx1g", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"],
        f"-Djava.library.path={DYNAMODB_LOCAL_HOME / 'DynamoDBLocal_lib'}",
        *["-jar", str(jar), "-sharedDb", "-disableTelemetry", *storage, "-port", str(port)],
    ]


def dynamodb_local_start(port: int | None = None, data_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start DynamoDB Local and wait until it answers; return the process and its endpoint URL."""
    port = port or free_port()
    command = dynamodb_local_command(port, data_dir)
    # Its own session: a terminal's Ctrl-C reaches whoever started it, which then stops it in order.
    # Its working folder gets a metadata file of its own: keep it beside the emulator, out of the checkout.
    proc = subprocess.Popen(
        command, cwd=DYNAMODB_LOCAL_HOME, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    _answers_wait(proc, url, "DynamoDB Local")
    return proc, url


def moto_server_start(port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start a moto server process (the S3 API, for uploads) on loopback and wait until it answers."""
    port = port or free_port()
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    _answers_wait(proc, url, "moto server")
    return proc, url


def _answers_wait(proc: subprocess.Popen, url: str, name: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(url, timeout=1)  # any HTTP answer means it listens
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the local {name} did not start")


@contextlib.contextmanager
def paused(proc: subprocess.Popen) -> Iterator[None]:
    """Freeze a server process, as a stalled peer looks to its clients (connections open, no answers)."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)
