"""Real workers meeting real faults: a worker killed mid-build, a cache restarted empty; nobody steps in."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from celery import Celery
from django.conf import settings as django_settings
from momento import CredentialProvider

from cacheops.backends.base import CacheUnavailable
from cacheops.backends.momento import MomentoBackend
from cms import services
from cms.store.local import free_port
from tests.cacheops.conftest import (
    body_of,
    listening,
    momento_test_configuration,
    process_env,
    process_stop,
    reassemble,
    show_create,
)
from tests.conftest import paused

# A few seconds here; the default (CELERY_VISIBILITY_TIMEOUT) is ten minutes, Redis' own an hour.
VISIBILITY_S = 3
# Generous for a loaded machine, and still a minute against the hour a killed worker's build used to wait.
TAKEOVER_WITHIN_S = 60


def wait_for(condition, timeout_s: float = TAKEOVER_WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def celery_start(env: dict, log: Path, *args: str) -> subprocess.Popen:
    """Start a Celery process (a worker or the beat) of this project, logging to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cms", *args],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def worker_start(env: dict, log: Path) -> subprocess.Popen:
    """Start a worker and wait until it consumes."""
    worker = celery_start(
        env, log, "worker", "--pool=solo", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"
    )
    assert wait_for(lambda: "ready." in log.read_text() or worker.poll() is not None, 30), log.read_text()
    assert worker.poll() is None, log.read_text()
    return worker


def beat_start(env: dict, tmp_path: Path) -> subprocess.Popen:
    return celery_start(env, tmp_path / "beat.log", "beat", "-l", "info", "-s", str(tmp_path / "beat-schedule"))


def task_send(broker: str, name: str, *, wait: bool = False, **kwargs) -> None:
    """Queue a task by name on `broker`, as the web process would; with `wait`, until it has succeeded."""
    sender = Celery("sender", broker=broker, backend=broker, set_as_current=False)  # not the tests' app
    try:
        result = sender.send_task(name, kwargs=kwargs)
        if wait:
            result.get(timeout=TAKEOVER_WITHIN_S)
    finally:
        sender.close()


def sql(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(query).fetchall()


def titles(view) -> set[str]:
    programs = orjson.loads(body_of(*reassemble(view)))["programs"]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


def test_a_killed_workers_build_is_taken_over_by_a_new_worker_and_its_operation_marked_abandoned(
    private_dynamodb, private_redis, redis_engine, tmp_path
):
    _broker_proc, broker = private_redis
    show = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    env = process_env(
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_S),
        # Heartbeats older than this belong to dead builds; the lock itself would outlive the test.
        CACHEOPS_BUILD_TIME_LIMIT="2",
        CACHEOPS_LOCK_SECONDS="600",
        CACHEOPS_SWEEP_SECONDS="1",
        # Nobody waits on a worker: a stalled store is waited for, not given up on.
        DYNAMODB_READ_TIMEOUT="120",
        DYNAMODB_MAX_RETRIES="0",
    )
    run = {"cwd": django_settings.BASE_DIR, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    subprocess.run([sys.executable, "manage.py", "rebuild_catalog", "--sync", "--full"], **run)
    manifest_key, db = f"{redis_engine.prefix}:catalog:manifest", tmp_path / "db.sqlite3"
    version_a = orjson.loads(redis_engine.get(manifest_key))["version"]
    episode = show.episodes[0]
    services.episode_update(episode_id=episode.id, version=episode.version, user="eri", title="無限列車")

    doomed = worker_start(env, tmp_path / "doomed.log")
    try:
        with paused(private_dynamodb):  # DynamoDB stalls: the build waits on it, holding its lock
            task_send(broker, "cacheops.tasks.rebuild", requested_by="oki", full=True)
            assert wait_for(
                lambda: (
                    sql(db, "SELECT result FROM cacheops_operation WHERE requested_by = 'oki'") == [("",)]
                    and redis_engine.get(f"{redis_engine.prefix}:catalog:lock") is not None
                )
            ), (tmp_path / "doomed.log").read_text()
            doomed.kill()
            doomed.wait()
            killed_at = time.monotonic()
    finally:
        process_stop(doomed)

    heir, beat = worker_start(env, tmp_path / "heir.log"), beat_start(env, tmp_path)
    try:
        assert wait_for(lambda: orjson.loads(redis_engine.get(manifest_key))["version"] != version_a), (
            tmp_path / "heir.log"
        ).read_text()
        took = time.monotonic() - killed_at
        print(f"a new worker published the killed worker's build {took:.1f} s after the kill")
        assert took < TAKEOVER_WITHIN_S
        assert titles(redis_engine) == {"無限列車"}
        # The beat's sweep finds the dead build silent past the time limit.
        assert wait_for(
            lambda: (
                sql(db, "SELECT result FROM cacheops_operation WHERE requested_by = 'oki' ORDER BY id")[0]
                == ("abandoned",)
            )
        ), (tmp_path / "beat.log").read_text()
        # The manifest is swapped before the build's row is closed: wait for that too.
        assert wait_for(
            lambda: ("published",) in sql(db, "SELECT result FROM cacheops_operation WHERE requested_by = 'oki'")
        )
    finally:
        process_stop(beat)
        process_stop(heir)


def momento_local_start(port: int, log: Path, env: dict) -> subprocess.Popen:
    """Start `manage.py momento_local` on `port` (empty, as after any restart) and wait until it listens."""
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "momento_local", "--port", str(port)],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert wait_for(lambda: listening(port) or server.poll() is not None, 30), log.read_text()
    assert server.poll() is None, log.read_text()
    return server


@pytest.mark.django_db
def test_the_catalog_comes_back_by_itself_after_the_cache_restarts_empty(dynamodb, private_redis, settings, tmp_path):
    _broker_proc, broker = private_redis
    show_create("SPY×FAMILY", "spy-family", ["オペレーション〈梟〉"])
    port = free_port()
    env = process_env(
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        CACHEOPS_BACKEND="momento",
        MOMENTO_LOCAL=f"127.0.0.1:{port}",
        MOMENTO_CACHE_NAME="airtime-restarts",
        CACHEOPS_SWEEP_SECONDS="1",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=django_settings.BASE_DIR, env=env, check=True)
    server = momento_local_start(port, tmp_path / "momento.log", env)
    # A reader of its own that never creates the cache (Momento's rules): only the worker brings it back.
    settings.MOMENTO_LOCAL = ""
    observer = MomentoBackend(
        cache_name="airtime-restarts",
        credential_provider=CredentialProvider.for_momento_local("127.0.0.1", port),
        configuration=momento_test_configuration(),
    )
    manifest_key = f"{django_settings.CACHEOPS_KEY_PREFIX}:catalog:manifest"

    def published() -> dict | None:
        try:
            raw = observer.get(manifest_key)
        except CacheUnavailable:
            return None  # the server is down, or the cache is not there yet
        return orjson.loads(raw) if raw else None

    worker, beat = worker_start(env, tmp_path / "worker.log"), beat_start(env, tmp_path)
    try:
        # Every family published and the task done: from here on, nothing but the beat's sweep is due to run.
        task_send(broker, "cacheops.tasks.rebuild", wait=True, requested_by="oki", full=True)
        version = published()["version"]

        server.kill()
        server.wait()
        server = momento_local_start(port, tmp_path / "momento-restarted.log", env)
        restarted_at = time.monotonic()

        assert wait_for(published), (tmp_path / "worker.log").read_text()
        print(f"the catalog was published again {time.monotonic() - restarted_at:.1f} s after the restart")
        assert published()["version"] == version
        log = (tmp_path / "worker.log").read_text()
        assert "The Momento cache 'airtime-restarts' is gone (the local server restarted); creating it again" in log
        assert "The cache has lost the published catalog; queueing a rebuild from the stored sources" in log

        # Published again from the sources stored in SQL: the content store was not read again.
        def catalog_builds() -> list[tuple[str, str]]:
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                query = "SELECT result, detail FROM cacheops_operation WHERE kind = 'rebuild' AND family = 'catalog'"
                return db.execute(query + " ORDER BY id").fetchall()

        assert wait_for(lambda: len(catalog_builds()) >= 2 and catalog_builds()[1][0] != "")
        (_, first), (result, again) = catalog_builds()[:2]
        assert first.startswith("full; ") and result == "published" and again.startswith("again; 0 items read"), again
    finally:
        observer.close()
        process_stop(beat)
        process_stop(worker)
        process_stop(server)
