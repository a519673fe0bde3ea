"""New versions are announced: readers hear of them at once, and a lost announcement costs one fallback poll."""

import threading
import time
from datetime import timedelta

import orjson
import pytest
import redis

from cacheops import clock, keys
from cacheops.backends import CacheUnavailable, backend_get
from cacheops.build import operations
from cacheops.chunks import canonical
from cacheops.models import Family
from cacheops.momento_local import MomentoLocalServer
from cacheops.read.reader import Reader, readers_stop
from cacheops.release import publisher, releases
from cms.store.local import free_port
from tests.cacheops.conftest import _engine_use, momento_test_configuration, show_create, wait_for

CATALOG = operations.CATALOG
# Longer than any wait below: a reader that finds a new version in time heard of it.
FALLBACK_S = 60.0


def _readers(settings):
    """Start readers polling only every minute (returns a function making one); stop them all afterwards."""
    settings.CACHEOPS_READER_POLL_SECONDS = FALLBACK_S
    readers_stop()
    started: list[Reader] = []

    def reader() -> Reader:
        started.append(Reader(CATALOG))
        started[-1].current()  # starts its threads
        return started[-1]

    yield reader
    for one in started:
        one.stop()
    readers_stop()


@pytest.fixture
def announced(engine, settings, transactional_db, dynamodb):
    """The engine on each backend, and readers of its catalog."""
    yield from _readers(settings)


@pytest.fixture
def own_redis(private_redis, request, settings):
    """The engine on a Redis of this test's own, whose connections it may cut; yields its URL."""
    settings.CACHEOPS_REDIS_URL = private_redis[1]
    for _ in _engine_use(request, settings, "redis"):
        yield private_redis[1]


def _pubsub_kill(url: str) -> int:
    """Cut every subscriber's connection, as a network fault or a proxy restart does; how many were cut."""
    client = redis.Redis.from_url(url)
    try:
        return client.client_kill_filter(_type="pubsub")
    finally:
        client.close()


def _version(n: int) -> dict:
    """Version `n` of a catalog written to the cache (not current yet)."""
    body = canonical({"programs": [{"id": f"01J{n:023d}", "title": f"第{n}話", "seasons": []}]})
    return publisher.version_write(CATALOG, body, as_of=clock.now() + timedelta(milliseconds=n), next_boundary=None)


def _serving(reader: Reader) -> str | None:
    held = reader.current()
    return held.version if held is not None else None


def test_a_subscription_receives_what_is_published_after_it_and_nothing_before(engine):
    backend, channel = backend_get(), keys.versions_channel("announce-test")
    backend.publish(channel, b"before")
    subscription = backend.subscribe(channel)
    try:
        backend.publish(channel, "一".encode())
        backend.publish(channel, b"two")
        assert [subscription.receive(5), subscription.receive(5)] == ["一".encode(), b"two"]
        assert subscription.receive(0.2) is None
    finally:
        subscription.close()


def test_a_subscription_cut_off_says_so_instead_of_waiting_forever(own_redis):
    subscription = backend_get().subscribe(keys.versions_channel("announce-test"))
    try:
        assert _pubsub_kill(own_redis) == 1
        with pytest.raises(CacheUnavailable):
            for _ in range(5):
                subscription.receive(1)
    finally:
        subscription.close()


def test_a_momento_subscription_whose_server_went_away_says_so(settings):
    from momento import CredentialProvider

    from cacheops.backends.momento import MomentoBackend

    server = MomentoLocalServer(port=free_port())
    port = server.start()
    settings.MOMENTO_LOCAL = f"127.0.0.1:{port}"
    backend = MomentoBackend(
        cache_name="announce-test",
        credential_provider=CredentialProvider.for_momento_local("127.0.0.1", port),
        configuration=momento_test_configuration(),
    )
    try:
        subscription = backend.subscribe("versions")
        backend.publish("versions", b"one")
        assert subscription.receive(5) == b"one"
        server.stop(0)
        with pytest.raises(CacheUnavailable):
            for _ in range(10):
                subscription.receive(1)
        subscription.close()
    finally:
        backend.close()
        server.stop(0)


def test_readers_serve_a_new_version_as_soon_as_it_is_announced(announced):
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    reader = announced
    readers = [reader(), reader()]
    first = Family.objects.get(name=CATALOG).current_version
    assert wait_for(lambda: all(_serving(r) == first for r in readers), 10)
    assert wait_for(lambda: all(r.subscribed for r in readers), 10)

    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    second = Family.objects.get(name=CATALOG).current_version

    assert second != first
    assert wait_for(lambda: all(_serving(r) == second for r in readers), 10)


def test_ten_versions_in_a_second_every_reader_ends_on_the_last_and_never_goes_back(announced):
    reader = announced
    facts = [_version(n) for n in range(11)]
    row = Family.objects.get_or_create(name=CATALOG)[0]
    generation = row.published_generation
    releases.built(CATALOG, facts[0], generation=generation + 1)
    readers = [reader() for _ in range(3)]
    assert wait_for(lambda: all(_serving(r) == facts[0]["version"] for r in readers), 10)
    order = [f["version"] for f in facts]
    seen: list[list[str]] = [[] for _ in readers]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for i, r in enumerate(readers):
                if (version := _serving(r)) and (not seen[i] or seen[i][-1] != version):
                    seen[i].append(version)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    for n, one in enumerate(facts[1:], 2):
        releases.built(CATALOG, one, generation=generation + n)
    publishing_s = time.monotonic() - started
    try:
        assert wait_for(lambda: all(_serving(r) == order[-1] for r in readers), 10)
        time.sleep(0.5)  # and it stays there
    finally:
        done.set()
        watcher.join()

    assert publishing_s < 1.0
    for versions in seen:
        assert versions[-1] == order[-1]
        positions = [order.index(v) for v in versions]
        assert positions == sorted(positions), versions  # never back to an earlier version


def test_a_lost_announcement_costs_one_fallback_poll(announced, settings):
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    settings.CACHEOPS_READER_POLL_SECONDS = 2
    reader = announced
    one = reader()
    assert wait_for(lambda: _serving(one) is not None and one.subscribed, 10)
    facts = _version(1)
    # Made current with its announcement lost: written as the publisher writes it, but on no channel.
    row = Family.objects.get(name=CATALOG)
    manifest = {**facts, "revision": row.revision + 1, "previous_version": row.current_version}
    backend_get().set(keys.manifest_key(CATALOG), orjson.dumps(manifest), 600)

    started = time.monotonic()
    assert wait_for(lambda: _serving(one) == facts["version"], 10)
    assert time.monotonic() - started <= 2 + 1.5


@pytest.fixture
def announced_own(own_redis, settings, transactional_db, dynamodb):
    yield from _readers(settings)


def test_a_killed_subscription_is_opened_again_and_the_reader_converges(announced_own, own_redis):
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    reader = announced_own
    readers = [reader(), reader()]
    assert wait_for(lambda: all(r.subscribed and _serving(r) for r in readers), 10)

    killed = _pubsub_kill(own_redis)
    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    newer = Family.objects.get(name=CATALOG).current_version

    assert killed == len(readers)
    # Well within the fallback poll: each reader subscribes again and reads the manifest as it does.
    assert wait_for(lambda: all(_serving(r) == newer for r in readers), 10)
    assert wait_for(lambda: all(r.subscribed for r in readers), 10)
