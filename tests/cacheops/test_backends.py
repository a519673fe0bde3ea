"""One contract suite run against every cache backend, then what only one backend can show."""

import os
import pickle
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from momento import Configurations
from momento.config.transport.transport_strategy import StaticGrpcConfiguration, StaticTransportStrategy

from cacheops import tasks
from cacheops.backends import CacheItemTooLarge, CacheUnavailable, backend_get, backend_reset
from cacheops.backends.base import CacheError
from cacheops.backends.momento import CacheNotFound, MomentoBackend
from cacheops.backends.redis import RedisBackend
from cacheops.momento_local import DEFAULT_MAX_ITEM_BYTES, MomentoLocalServer
from cms.store.local import free_port
from tests.cacheops.conftest import MOMENTO_TEST_CACHE

MB = 1024 * 1024
EXPIRY_WAIT_S = 1.2


def test_get_of_a_missing_key_is_none(backend, key):
    assert backend.get(key("absent")) is None


@pytest.mark.parametrize(
    "value",
    [bytes(range(256)) * 4, os.urandom(1 * MB), os.urandom(int(4.9 * MB))],
    ids=["every-byte", "1MB", "4.9MB"],
)
def test_set_then_get_returns_the_same_bytes(backend, key, value):
    backend.set(key("blob"), value, 60)

    assert backend.get(key("blob")) == value


def test_set_replaces_the_value(backend, key):
    backend.set(key("manifest"), b"v1", 60)
    backend.set(key("manifest"), b"v2", 60)

    assert backend.get(key("manifest")) == b"v2"


def test_delete_removes_the_key_and_ignores_a_missing_one(backend, key):
    backend.set(key("chunk"), b"data", 60)

    backend.delete(key("chunk"))
    backend.delete(key("never-set"))

    assert backend.get(key("chunk")) is None


def test_add_stores_only_for_the_first_caller(backend, key):
    assert backend.add(key("lock"), b"build-1", 60) is True
    assert backend.add(key("lock"), b"build-2", 60) is False
    assert backend.get(key("lock")) == b"build-1"


def test_add_succeeds_again_once_the_holder_expired(backend, key):
    assert backend.add(key("lock"), b"build-1", 1) is True

    time.sleep(EXPIRY_WAIT_S)

    assert backend.add(key("lock"), b"build-2", 60) is True
    assert backend.get(key("lock")) == b"build-2"


def test_items_and_counters_expire_after_their_ttl(backend, key):
    backend.set(key("chunk"), b"data", 1)
    backend.incr(key("hits"), 1)

    time.sleep(EXPIRY_WAIT_S)

    assert backend.get(key("chunk")) is None
    assert backend.incr(key("hits"), 60) == 1


def test_incr_counts_from_one(backend, key):
    assert [backend.incr(key("hits"), 60) for _ in range(3)] == [1, 2, 3]
    assert backend.get(key("hits")) == b"3"


def test_get_many_returns_hits_and_misses_in_order(backend, key):
    backend.set(key("a"), b"\x00a", 60)
    backend.set(key("c"), b"\xffc", 60)

    assert backend.get_many([key("a"), key("b"), key("c")]) == [b"\x00a", None, b"\xffc"]
    assert backend.get_many([]) == []


def test_ttl_counts_down_to_the_millisecond_where_the_cache_can_tell(backend, key):
    backend.set(key("manifest"), b"m", 1.5)

    left = backend.ttl(key("manifest"))

    # Momento's SDK cannot read a TTL: None tells callers to use the expiry they recorded.
    assert left is None if isinstance(backend, MomentoBackend) else 1.4 < left <= 1.5
    assert backend.ttl(key("absent")) == (None if isinstance(backend, MomentoBackend) else 0.0)


def test_momento_local_refuses_an_item_over_its_limit(momento_local, momento_connect, key):
    # Raise the SDK's own message cap so the item reaches the server, as it would reach the service.
    grpc_config = StaticGrpcConfiguration(
        deadline=timedelta(seconds=5), max_send_message_length=16 * MB, max_receive_message_length=16 * MB
    )
    configuration = Configurations.Laptop.latest().with_transport_strategy(StaticTransportStrategy(grpc_config))
    backend = momento_connect(momento_local, configuration=configuration)

    with pytest.raises(CacheItemTooLarge) as refused:
        backend.set(key("chunk"), os.urandom(6 * MB), 60)

    message = str(refused.value)
    assert key("chunk") in message
    assert "Item size limit exceeded" in message
    assert f"over the limit of {DEFAULT_MAX_ITEM_BYTES} bytes" in message
    assert backend.get(key("chunk")) is None


def test_momento_sdk_refuses_an_item_over_its_message_limit(momento_local, momento_connect, key):
    backend = momento_connect(momento_local)

    with pytest.raises(CacheItemTooLarge, match="larger than max"):
        backend.set(key("chunk"), os.urandom(6 * MB), 60)


def test_momento_creates_a_missing_cache(momento_local, momento_connect):
    momento_connect(momento_local, cache_name="airtime-created")

    assert "airtime-created" in momento_local.store.caches


def test_momento_a_cache_lost_by_a_local_server_restart_is_created_again(settings, momento_local, momento_connect, key):
    settings.MOMENTO_LOCAL = f"{momento_local.host}:{momento_local.port}"
    backend = momento_connect(momento_local, cache_name="airtime-restarted")
    backend.set(key("manifest"), b"v1", 60)
    with momento_local.store.lock:
        del momento_local.store.caches["airtime-restarted"]  # the server restarted, empty

    assert backend.get(key("manifest")) is None
    backend.set(key("manifest"), b"v2", 60)
    assert backend.get(key("manifest")) == b"v2"


def test_momento_a_missing_cache_on_the_service_is_an_error_naming_it_that_tasks_retry(
    settings, momento_local, momento_connect, key
):
    settings.MOMENTO_LOCAL = ""  # Momento itself: a missing cache is a wrong name or a deleted cache
    backend = momento_connect(momento_local, cache_name="airtime-deleted")
    with momento_local.store.lock:
        del momento_local.store.caches["airtime-deleted"]

    for call in (lambda: backend.get(key("manifest")), lambda: backend.set(key("manifest"), b"v1", 60)):
        with pytest.raises(CacheNotFound, match="the Momento cache 'airtime-deleted' does not exist") as missing:
            call()
        assert isinstance(missing.value, tasks.TRANSIENT)
    assert "airtime-deleted" not in momento_local.store.caches


def test_momento_with_nothing_listening_is_unavailable(momento_connect):
    started = time.monotonic()

    with pytest.raises(CacheUnavailable, match="create cache 'airtime-test'"):
        momento_connect(MomentoLocalServer("127.0.0.1", free_port()))
    assert time.monotonic() - started < 2


def test_momento_server_gone_is_unavailable(momento_connect, key):
    with MomentoLocalServer("127.0.0.1", 0) as server:
        backend = momento_connect(server)
        backend.set(key("manifest"), b"v1", 60)

    with pytest.raises(CacheUnavailable, match="get"):
        backend.get(key("manifest"))


def test_redis_down_is_unavailable(key):
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(CacheUnavailable, match=key("manifest")):
        backend.get(key("manifest"))
    with pytest.raises(CacheUnavailable):
        backend.set(key("manifest"), b"v1", 60)


@pytest.fixture
def fresh_backend_slot():
    backend_reset()
    yield
    backend_reset()


def test_backend_get_follows_the_setting(settings, momento_local, fresh_backend_slot):
    settings.CACHEOPS_BACKEND = "momento"
    settings.MOMENTO_LOCAL = f"127.0.0.1:{momento_local.port}"
    settings.MOMENTO_CACHE_NAME = MOMENTO_TEST_CACHE

    chosen = backend_get()

    assert isinstance(chosen, MomentoBackend)
    assert backend_get() is chosen

    settings.CACHEOPS_BACKEND = "cacheops.backends.redis.RedisBackend"
    backend_reset()
    assert isinstance(backend_get(), RedisBackend)


def test_backend_get_rejects_an_unknown_backend(settings, fresh_backend_slot):
    settings.CACHEOPS_BACKEND = "memcached"

    with pytest.raises(ImproperlyConfigured, match="'memcached'"):
        backend_get()


@pytest.mark.parametrize("error", [CacheError, CacheUnavailable, CacheItemTooLarge])
def test_a_cache_error_survives_the_trip_to_a_task_result(error):
    # Celery pickles a failed task's exception; ops must read the cache's own words, not a wrapper.
    raised = error("set", "p:catalog:chunk:abc:0", "LIMIT_EXCEEDED_ERROR: item size limit exceeded")

    reported = pickle.loads(pickle.dumps(raised))

    assert type(reported) is error
    assert str(reported) == "cache set 'p:catalog:chunk:abc:0' failed: LIMIT_EXCEEDED_ERROR: item size limit exceeded"
