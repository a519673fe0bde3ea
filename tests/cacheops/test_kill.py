"""A worker killed in the middle of a publish leaves the previous version whole and current, and its lock breakable."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from cms import services
from tests.cacheops.conftest import body_of, process_env, reassemble, show_create

# A full rebuild whose chunk writes crawl, so the test can kill it after the first new chunk lands.
SLOW_REBUILD = """
import time

import django

django.setup()
from django.core.management import call_command

from cacheops.build import operations

call_command("migrate", verbosity=0)


def crawl(stage, done, total):
    if stage == "write":
        time.sleep(0.2)


operations.catalog_rebuild(full=True, requested_by="doomed-worker", progress=crawl)
"""


# The first worker's build: every process of the cluster shares one SQL database, where releases are decided.
FIRST_BUILD = """
import django

django.setup()
from django.core.management import call_command

from cacheops.build import operations

call_command("migrate", verbosity=0)
print(operations.catalog_rebuild(full=True, requested_by="first-worker").version_after)
"""


# The next worker's build, sharing the dead worker's database (its operations log) and cache.
NEXT_BUILD = """
import django

django.setup()
from cacheops.build import operations
from cacheops.errors import BuildBusy

try:
    op = operations.catalog_rebuild(full=True, requested_by="next-worker")
except BuildBusy as exc:
    print(f"busy: {exc}")
else:
    print(f"{op.result} {op.version_after}")
"""

# The beat's sweep, run until it finds the dead build silent for longer than the time limit (1 s here).
SWEEP = """
import time

import django

django.setup()
from cacheops.oplog import operations_abandoned_mark

deadline = time.monotonic() + 30
while not (marked := operations_abandoned_mark()) and time.monotonic() < deadline:
    time.sleep(0.1)
print(marked)
"""


def episode_titles(view) -> set[str]:
    programs = json.loads(body_of(*reassemble(view)))["programs"]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


def run(script: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.django_db
def test_a_worker_killed_mid_publish_leaves_the_old_version_current(dynamodb, redis_engine, settings, tmp_path):
    settings.CACHEOPS_CHUNK_BYTES = 64
    show = show_create("鬼滅の刃", "kimetsu", [f"第{n}話" for n in range(1, 9)])
    # The dead worker's lock must outlive everything below however slow this machine is: only the end of its
    # operation, as the operations log records it, lets another build take over.
    env = process_env(tmp_path, CACHEOPS_CHUNK_BYTES="64", CACHEOPS_LOCK_SECONDS="600")
    version_a = run(FIRST_BUILD, env)
    chunks_a = {k for k in redis_engine.keys() if ":chunk:" in k}
    first = show.episodes[0]
    services.episode_update(episode_id=first.id, version=first.version, user="eri", title="残酷")

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
    assert redis_engine.get(f"{redis_engine.prefix}:catalog:lock") is not None  # the dead worker's lock
    busy = run(NEXT_BUILD, env)
    assert busy.startswith(f"busy: another build of catalog ({socket.gethostname()} pid {worker.pid}, operation ")
    assert " has been running since " in busy and busy.endswith(" UTC")

    # The sweep marks the dead build abandoned; the next build then breaks its lock instead of waiting it out.
    assert run(SWEEP, env | {"CACHEOPS_BUILD_TIME_LIMIT": "1"}) != "[]"
    result, version = run(NEXT_BUILD, env).split()

    manifest, _ = reassemble(redis_engine)
    assert (result, manifest["version"], manifest["previous_version"]) == ("published", version, version_a)
    assert "残酷" in episode_titles(redis_engine)
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT requested_by, result FROM cacheops_operation WHERE family = 'catalog' ORDER BY id"
        ).fetchall()
    assert rows == [
        ("first-worker", "published"),
        ("doomed-worker", "abandoned"),
        ("next-worker", "busy"),
        ("next-worker", "published"),
    ]
