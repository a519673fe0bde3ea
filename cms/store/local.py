"""Start a local DynamoDB- and S3-API server (moto) for development, tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def moto_server_start(port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start a moto server process on loopback and wait until it answers."""
    port = port or free_port()
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            requests.get(f"{url}/moto-api/data.json", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the local DynamoDB server did not start")
