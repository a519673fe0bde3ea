"""Real servers for the cache backends: the Redis at CACHEOPS_REDIS_URL and an in-process Momento-protocol server."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from momento import Configurations, CredentialProvider
from momento.config import Configuration

from cacheops.backends.momento import MomentoBackend
from cacheops.backends.redis import RedisBackend
from cacheops.momento_local import MomentoLocalServer

MOMENTO_TEST_CACHE = "airtime-test"


def momento_test_configuration() -> Configuration:
    """Return the laptop configuration with a timeout short enough to keep failing tests fast."""
    return Configurations.Laptop.latest().with_client_timeout(timedelta(seconds=2))


@pytest.fixture(scope="session")
def momento_local():
    """Serve the Momento protocol on a free loopback port for the whole session."""
    with MomentoLocalServer("127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def momento_connect():
    """Return a function connecting a Momento backend to a server over gRPC; all are closed afterwards."""
    opened = []

    def connect(server: MomentoLocalServer, **options) -> MomentoBackend:
        options.setdefault("cache_name", MOMENTO_TEST_CACHE)
        options.setdefault("configuration", momento_test_configuration())
        credentials = CredentialProvider.for_momento_local(server.host, server.port)
        opened.append(backend := MomentoBackend(credential_provider=credentials, **options))
        return backend

    yield connect
    for backend in opened:
        backend.close()


@pytest.fixture
def key():
    """Return a function naming keys no other test uses."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield lambda name: prefix + name
    # Redis is shared with Celery and the dev server: remove only this test's keys.
    client = redis.Redis.from_url(settings.CACHEOPS_REDIS_URL)
    stale = list(client.scan_iter(match=f"{prefix}*"))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture(params=["redis", "momento"])
def backend(request):
    """Yield each backend in turn, connected to its real server."""
    if request.param == "momento":
        yield request.getfixturevalue("momento_connect")(request.getfixturevalue("momento_local"))
        return
    instance = RedisBackend(settings.CACHEOPS_REDIS_URL)
    yield instance
    instance.close()
