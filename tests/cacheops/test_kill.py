"""A worker killed in the middle of a publish leaves the previous version whole and current."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from cacheops import operations
from cacheops.errors import BuildBusy
from cms import services
from tests.cacheops.conftest import body_of, process_env, reassemble, show_create

# A full rebuild whose chunk writes crawl, so the test can kill it after the first new chunk lands.
SLOW_REBUILD = """
import time

import django

django.setup()
from django.core.management import call_command

from cacheops import operations

call_command("migrate", verbosity=0)


def crawl(stage, done, total):
    if stage == "write":
        time.sleep(0.2)


operations.catalog_rebuild(full=True, requested_by="doomed-worker", progress=crawl)
"""


def episode_titles(view) -> set[str]:
    programs = json.loads(body_of(*reassemble(view)))["programs"]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


@pytest.mark.django_db
def test_a_worker_killed_mid_publish_leaves_the_old_version_current(dynamodb, redis_engine, settings, tmp_path):
    settings.CACHEOPS_CHUNK_BYTES = 64
    # The dead worker's lock must outlive the checks below however slow this machine is; the test then
    # ages it to its end itself instead of betting on how long the checks take.
    settings.CACHEOPS_LOCK_SECONDS = 600
    show = show_create("鬼滅の刃", "kimetsu", [f"第{n}話" for n in range(1, 9)])
    version_a = operations.catalog_rebuild(full=True).version_after
    chunks_a = {k for k in redis_engine.keys() if ":chunk:" in k}
    first = show.episodes[0]
    services.episode_update(episode_id=first.id, version=first.version, user="eri", title="残酷")

    env = process_env(tmp_path, CACHEOPS_CHUNK_BYTES="64", CACHEOPS_LOCK_SECONDS="600")
    worker = subprocess.Popen(
        [sys.executable, "-c", SLOW_REBUILD],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not {k for k in redis_engine.keys() if ":chunk:" in k} - chunks_a:
            assert worker.poll() is None, worker.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker wrote no chunk"
            time.sleep(0.01)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        worker.stderr.close()

    manifest, _ = reassemble(redis_engine)
    assert manifest["version"] == version_a
    assert "残酷" not in episode_titles(redis_engine) and "第1話" in episode_titles(redis_engine)
    lock = f"{redis_engine.prefix}:catalog:lock"
    assert redis_engine.get(lock) is not None  # the dead worker's lock
    with pytest.raises(BuildBusy):
        operations.catalog_rebuild(full=True)

    # Its expiry arrives: Redis drops the key by itself, as it would after CACHEOPS_LOCK_SECONDS.
    redis_engine.client.pexpire(lock, 1)
    deadline = time.monotonic() + 5
    while redis_engine.get(lock) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    rebuilt = operations.catalog_rebuild(full=True)

    manifest, _ = reassemble(redis_engine)
    assert (rebuilt.result, manifest["version"], manifest["previous_version"]) == (
        "published",
        rebuilt.version_after,
        version_a,
    )
    assert "残酷" in episode_titles(redis_engine)
