"""The build lock: it names its holder, lives as long as its build, and never outlives a holder known to be dead."""

import json
import os
import signal
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cacheops.backends import backend_reset
from cacheops.backends.base import CacheUnavailable
from cacheops.build import lock, operations
from cacheops.errors import BuildBusy
from cacheops.manifest import manifest_read
from cacheops.models import Operation
from cacheops.oplog import operation_log
from cms import services
from cms.domain import time_text
from tests.cacheops.conftest import RedisView, body_of, reassemble, show_create
from tests.conftest import paused

HERE = f"{socket.gethostname()} pid {os.getpid()}"


def wait_for(condition, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def lock_value(view, family: str = "catalog") -> dict | None:
    raw = view.get(f"{view.prefix}:{family}:lock")
    return json.loads(raw) if raw else None


def titles(view) -> set[str]:
    programs = json.loads(body_of(*reassemble(view)))["programs"]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


@pytest.fixture
def cache_process(private_redis, settings):
    """The engine on a redis-server of this test's own, which it may pause or kill; yields (process, view)."""
    proc, url = private_redis
    settings.CACHEOPS_BACKEND, settings.CACHEOPS_REDIS_URL, settings.CACHEOPS_KEY_PREFIX = "redis", url, "p"
    backend_reset()
    view = RedisView(url, "p")
    yield proc, view
    backend_reset()
    view.client.close()  # its keys go with the server


@pytest.mark.django_db
def test_a_busy_build_is_told_who_holds_the_lock_and_since_when(engine):
    with operation_log("rebuild", "catalog", "oki") as op, lock.build_lock("catalog") as build_id:
        held = lock_value(engine)
        with pytest.raises(BuildBusy) as busy, lock.build_lock("catalog"):
            pass

    since = held.pop("since")  # 2026-11-26T14:02:03Z
    assert held == {"build": build_id, "host": socket.gethostname(), "pid": os.getpid(), "operation": op.pk}
    assert str(busy.value) == (
        f"another build of catalog ({HERE}, operation {op.pk}) has been running since {since[11:19]} UTC"
    )
    assert lock_value(engine) is None


@pytest.mark.django_db
def test_a_lock_is_broken_only_once_its_holder_is_known_to_be_dead(engine, settings, caplog):
    settings.CACHEOPS_BUILD_TIME_LIMIT = 300
    key = f"{engine.prefix}:catalog:lock"
    running = Operation.objects.create(kind="rebuild", family="catalog", heartbeat_at=timezone.now())
    engine.set(key, lock.Holder("b1", "celery@w1", 123, running.pk, time_text(timezone.now())).value(), 600)

    with pytest.raises(BuildBusy, match=rf"\(celery@w1 pid 123, operation {running.pk}\) has been running since"):
        with lock.build_lock("catalog"):
            pass
    # Silent for longer than the build time limit: its worker is dead, whatever its row says.
    Operation.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=301))
    with lock.build_lock("catalog"):
        pass
    assert f"held by celery@w1 pid 123, operation {running.pk} since " in caplog.text
    assert f"operation {running.pk} has shown no sign of life since" in caplog.text

    with operation_log("rebuild", "catalog", "w2") as ended:
        stray = lock.Holder.here().value()  # what a build killed while holding its lock leaves behind
    engine.set(key, stray, 600)
    with operation_log("rebuild", "catalog", "w3") as taker, lock.build_lock("catalog"):
        assert lock_value(engine)["operation"] == taker.pk
    assert f"Breaking the build lock of catalog held by {HERE}, operation {ended.pk} since " in caplog.text
    assert f"operation {ended.pk} ended: done" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_long_build_renews_its_lock_past_its_first_lifetime(dynamodb, engine, settings):
    settings.CACHEOPS_LOCK_SECONDS = 60
    settings.CACHEOPS_LOCK_RENEW_SECONDS = 0.1
    show_create("鬼滅の刃", "kimetsu", ["残酷"])
    key = f"{engine.prefix}:catalog:lock"
    seen = {}

    def long_build(stage, done, total):
        if stage != "assemble":
            return
        seen["value"] = engine.get(key)
        seen["heartbeat"] = Operation.objects.get(pk=json.loads(seen["value"])["operation"]).heartbeat_at
        # The lock's first lifetime is all but over (the cache's clock moved on, not this test's).
        engine.expire_in(key, 3)
        aged_until = time.monotonic() + 3
        seen["renewed"] = wait_for(lambda: (engine.ttl_left(key) or 0) > 30)
        while time.monotonic() < aged_until + 0.5:
            time.sleep(0.1)
        seen["after"] = engine.get(key)
        seen["heartbeat_later"] = Operation.objects.get(pk=json.loads(seen["value"])["operation"]).heartbeat_at

    op = operations.catalog_rebuild(requested_by="oki", progress=long_build)

    assert seen["renewed"], "the lock was not renewed"
    assert seen["after"] == seen["value"]  # past the end of its first lifetime, still this build's
    assert op.result == "published" and engine.get(key) is None
    assert seen["heartbeat_later"] > seen["heartbeat"]  # the operation's heartbeat went on in SQL too


@pytest.mark.django_db
def test_a_build_takes_over_an_expired_lock_and_the_stuck_build_publishes_nothing(dynamodb, engine, settings):
    settings.CACHEOPS_LOCK_RENEW_SECONDS = 3600  # the stuck build's renewals never come
    show = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    key = f"{engine.prefix}:catalog:lock"
    outcome = {}

    def stuck(stage, done, total):
        if stage != "assemble" or outcome:
            return
        holder = lock_value(engine)
        with pytest.raises(BuildBusy, match=rf"operation {holder['operation']}\) has been running since"):
            operations.catalog_rebuild(requested_by="second")
        episode = show.episodes[0]
        services.episode_update(episode_id=episode.id, version=episode.version, user="eri", title="呪胎戴天")
        engine.expire_in(key, 0.001)  # its lifetime ends
        assert wait_for(lambda: engine.get(key) is None)
        outcome["second"] = operations.catalog_rebuild(requested_by="second", full=True)
        engine.set(key, b"a-third-build", 60)

    first = operations.catalog_rebuild(requested_by="first", full=True, progress=stuck)

    assert outcome["second"].result == "published"
    assert first.result == "superseded"  # it read the content before the second build: it writes nothing
    assert manifest_read("catalog")["version"] == outcome["second"].version_after
    assert titles(engine) == {"呪胎戴天"}
    assert engine.get(key) == b"a-third-build"  # the stuck build leaves the next holder's lock alone


@pytest.mark.django_db
def test_a_lock_request_that_timed_out_in_a_pause_is_broken_by_the_next_build(dynamodb, cache_process, caplog):
    proc, view = cache_process
    show = show_create("進撃の巨人", "shingeki", ["二千年後の君へ"])
    version_a = operations.catalog_rebuild(full=True).version_after
    episode = show.episodes[0]
    services.episode_update(episode_id=episode.id, version=episode.version, user="eri", title="その日")

    with paused(proc), pytest.raises(CacheUnavailable, match="lock"):
        operations.catalog_rebuild(full=True, requested_by="first")
    failed = Operation.objects.filter(requested_by="first").get()
    assert failed.result == "failed"
    # Resumed, the cache runs the lock request it had received: a lock that nobody holds.
    assert wait_for(lambda: lock_value(view) is not None)
    assert lock_value(view)["operation"] == failed.pk

    op = operations.catalog_rebuild(full=True, requested_by="second")

    assert op.result == "published" and manifest_read("catalog")["previous_version"] == version_a
    assert titles(view) == {"その日"}
    assert f"Breaking the build lock of catalog held by {HERE}, operation {failed.pk} since " in caplog.text
    assert f": operation {failed.pk} ended: failed" in caplog.text


@pytest.mark.django_db
def test_a_release_that_fails_is_logged_and_the_build_failure_is_what_is_raised(
    dynamodb, cache_process, settings, caplog
):
    proc, _view = cache_process
    settings.CACHEOPS_CHUNK_BYTES = 64
    show_create("葬送のフリーレン", "frieren", [f"第{n}話" for n in range(1, 9)])

    def outage(stage, done, total):
        if stage == "write" and done == 1:
            proc.send_signal(signal.SIGKILL)
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead (the fixture reaps it)

    with pytest.raises(CacheUnavailable) as failure:
        operations.catalog_rebuild(full=True, requested_by="oki", progress=outage)

    assert (failure.value.operation, ":chunk:" in failure.value.key) == ("set", True)
    assert "Could not release the build lock of catalog; it expires by itself" in caplog.text
    op = Operation.objects.get(requested_by="oki", family="catalog")
    assert op.result == "failed" and op.detail.startswith("CacheUnavailable: cache set ")
