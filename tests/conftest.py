"""Real servers for the suite: a moto server process for DynamoDB and S3, Redis, SQL."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def moto_server_start() -> tuple[subprocess.Popen, str]:
    """Start a moto server process on a free port and wait until it answers."""
    port = free_port()
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/moto-api/data.json", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="session")
def moto_url():
    proc, url = moto_server_start()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def dynamodb_tables(moto_url, django_db_blocker):
    """Point the content store at the moto server and create the tables once."""
    from cms.store.models import models_configure
    from cms.store.tables import tables_create

    settings.DYNAMODB_ENDPOINT_URL = moto_url
    models_configure()
    tables_create()
    yield moto_url


@pytest.fixture
def dynamodb(dynamodb_tables):
    """An empty content store for this test."""
    from cms.store.tables import tables_truncate

    tables_truncate()
    return dynamodb_tables
