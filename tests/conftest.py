"""Real servers for the suite: AWS's DynamoDB Local, a moto server for S3, Redis, SQL."""

import contextlib
import os
import shutil
import signal
import subprocess
import time

import boto3
import pytest
import redis
from django.conf import settings

from cms.store.local import dynamodb_local_start, free_port, moto_server_start
from cms.store.local import paused as paused  # tests import it from here

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@contextlib.contextmanager
def server(started: tuple[subprocess.Popen, str]):
    """Yield a started server's URL; stop it afterwards, even if it was left paused."""
    proc, url = started
    try:
        yield url
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_url():
    """A moto server for the S3 API (uploads)."""
    with server(moto_server_start()) as url:
        yield url


@pytest.fixture(scope="session")
def dynamodb_url():
    """AWS's DynamoDB Local, in memory."""
    with server(dynamodb_local_start()) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def dynamodb_tables(dynamodb_url, django_db_blocker):
    """Point the content store at DynamoDB Local and create the tables once."""
    from cms.store.models import models_configure
    from cms.store.tables import tables_create

    settings.DYNAMODB_ENDPOINT_URL = dynamodb_url
    models_configure()
    tables_create()
    yield dynamodb_url


@pytest.fixture
def dynamodb(dynamodb_tables):
    """An empty content store for this test."""
    from cms.store.tables import tables_truncate

    tables_truncate()
    return dynamodb_tables


@pytest.fixture
def raw_number(dynamodb):
    """Return a function writing a number straight into a content item with boto3, as stored before the rules."""
    client = boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )

    def write(table: str, item_id: str, field: str, value: int) -> None:
        client.update_item(
            TableName=settings.DYNAMODB_TABLE_PREFIX + table,
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"N": str(value)}},
        )

    return write


@pytest.fixture(scope="session", autouse=True)
def media_root_cleanup():
    """Remove the suite's temporary media folder when the session ends."""
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@contextlib.contextmanager
def store_at(url: str):
    """Point the content store at `url` for a while, then back at the session's server."""
    from cms.store.models import models_configure

    session_url = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = url
    models_configure()
    try:
        yield
    finally:
        settings.DYNAMODB_ENDPOINT_URL = session_url
        models_configure()


@pytest.fixture(scope="session")
def _spare_dynamodb(dynamodb_tables):
    """A second DynamoDB Local with the content tables, for tests that pause their store."""
    from cms.store.tables import tables_create

    started = dynamodb_local_start()
    with server(started) as url:
        with store_at(url):
            tables_create()
        yield started


@pytest.fixture
def private_dynamodb(_spare_dynamodb):
    """An empty content store of this test's own, whose server process it may pause; yields the process."""
    from cms.store.tables import tables_truncate

    proc, url = _spare_dynamodb
    with store_at(url):
        tables_truncate()
        try:
            yield proc
        finally:
            os.kill(proc.pid, signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server process of this test's own (which it may pause); yields (process, url)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield proc, url
    finally:
        client.close()
        if proc.poll() is None:  # a test may have stopped it already
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=10)
