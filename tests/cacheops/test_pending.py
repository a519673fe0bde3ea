"""A change stays recorded until a build that contains it is published, whatever kills or fails the build."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from cacheops.build import operations, pending
from cacheops.build.pacing import Pace
from cacheops.errors import PublishError
from cacheops.manifest import manifest_read, snapshot_read
from cacheops.models import Operation, PendingChange
from cms import services
from tests.cacheops.conftest import (
    body_of,
    kill_when,
    process_env,
    process_stop,
    reassemble,
    show_create,
    wait_for,
    worker_start,
)


def change_note(program, *written) -> None:
    """Record a change as the save's signal would, without the build it would queue."""
    pending.change_record("catalog", program.id, written, riders=[f"program:{program.id}"])


def program_title(family: str) -> str | None:
    program = json.loads(snapshot_read(family)[1])["program"]
    return program and program["title"]


@pytest.mark.django_db
def test_a_publish_that_fails_gives_every_change_back_and_the_retry_publishes_them(dynamodb, redis_engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 64
    show = show_create("鬼滅の刃", "kimetsu", [f"第{n}話" for n in range(1, 6)])
    version = operations.catalog_rebuild(full=True).version_after
    edited = services.program_update(
        program_id=show.program.id, version=show.program.version, user="eri", title="鬼滅の刃 無限列車編"
    )
    change_note(edited, ("program", edited.id, edited.version, False))
    chunks_before = {k for k in redis_engine.keys() if ":chunk:" in k}

    def evict(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 2:  # the cache evicts the first new chunk before the read-back
            for key in {k for k in redis_engine.keys() if ":chunk:" in k} - chunks_before:
                redis_engine.delete(key)

    with pytest.raises(PublishError, match="verification failed"):
        operations.catalog_rebuild(requested_by="oki", progress=evict)

    assert manifest_read("catalog")["version"] == version
    changes = PendingChange.objects.order_by("family").values_list("family", "taken_by")
    assert list(changes) == [("catalog", None), (f"program:{show.program.id}", None)]

    retry = operations.catalog_rebuild(requested_by="oki")

    assert retry.result == "published" and retry.detail.startswith("incremental")
    assert json.loads(snapshot_read("catalog")[1])["programs"][0]["title"] == "鬼滅の刃 無限列車編"
    assert program_title(f"program:{show.program.id}") == "鬼滅の刃 無限列車編"
    assert not PendingChange.objects.exists()


@pytest.mark.django_db
def test_a_program_family_whose_build_is_busy_keeps_its_change_and_the_others_publish(dynamodb, redis_engine):
    busy, free = show_create("呪術廻戦", "jujutsu"), show_create("チェンソーマン", "chainsaw")
    operations.catalog_rebuild(full=True)
    for show, title in ((busy, "呪術廻戦 渋谷事変"), (free, "チェンソーマン レゼ篇")):
        edited = services.program_update(
            program_id=show.program.id, version=show.program.version, user="eri", title=title
        )
        change_note(edited, ("program", edited.id, edited.version, False))
    redis_engine.set(f"{redis_engine.prefix}:program:{busy.program.id}:lock", b"another-build", 30)

    build = operations.catalog_rebuild(requested_by="oki")

    assert build.result == "published"
    assert program_title(f"program:{free.program.id}") == "チェンソーマン レゼ篇"
    assert program_title(f"program:{busy.program.id}") == "呪術廻戦"
    # Given back, not lost: the next build of that family (queued already, or by the sweep) takes it.
    left = PendingChange.objects.values_list("family", "taken_by")
    assert list(left) == [(f"program:{busy.program.id}", None)]
    redis_engine.delete(f"{redis_engine.prefix}:program:{busy.program.id}:lock")
    operations.family_rebuild(family=f"program:{busy.program.id}")
    assert program_title(f"program:{busy.program.id}") == "呪術廻戦 渋谷事変"
    assert not PendingChange.objects.exists()


@pytest.mark.django_db
def test_a_full_rebuild_publishes_the_program_families_whose_version_changed_and_skips_the_rest(dynamodb, redis_engine):
    kept, edited, gone = (
        show_create(t, s) for t, s in (("ワンピース", "one-piece"), ("NARUTO", "naruto"), ("終了", "ended"))
    )
    draft = show_create("準備中", "draft", status="draft")
    first = operations.catalog_rebuild(full=True)
    published = {op.family for op in Operation.objects.filter(id__gt=first.id)}
    assert published == {f"program:{s.program.id}" for s in (kept, edited, gone)}  # a draft gets none
    kept_version = manifest_read(f"program:{kept.program.id}")["version"]
    # Changed behind the engine's back (no change noted): only a full rebuild can notice.
    services.program_update(program_id=edited.program.id, version=edited.program.version, user="eri", title="BORUTO")
    services.program_delete(program_id=gone.program.id, version=gone.program.version, user="eri")

    second = operations.catalog_rebuild(full=True)

    republished = Operation.objects.filter(id__gt=second.id).values_list("family", "result")
    assert sorted(republished) == sorted(
        [(f"program:{edited.program.id}", "published"), (f"program:{gone.program.id}", "published")]
    )
    assert program_title(f"program:{edited.program.id}") == "BORUTO"
    assert program_title(f"program:{gone.program.id}") is None  # {"program": null}
    assert manifest_read(f"program:{kept.program.id}")["version"] == kept_version
    assert manifest_read(f"program:{draft.program.id}") is None


@pytest.mark.django_db
def test_program_family_publishes_are_paced_to_the_operation_quota(dynamodb, redis_engine, settings):
    shows = [show_create(f"番組{n}", f"bangumi-{n}") for n in range(4)]
    settings.CACHEOPS_OPS_PER_SECOND = 20
    started = time.monotonic()
    operations.catalog_rebuild(full=True)
    took = time.monotonic() - started

    spent = len(shows) * (operations.VERSION_READ_OPS + operations.PROGRAM_PUBLISH_OPS)
    last = operations.PROGRAM_PUBLISH_OPS  # the last publish starts as soon as the ones before are paid for
    assert took >= (spent - last) / 20


def test_a_pace_lets_through_no_more_than_its_rate():
    pace = Pace(200)
    started = time.monotonic()
    for _ in range(6):
        pace.spend(10)
    assert time.monotonic() - started >= 50 / 200


# A worker that saves an edit (its build is queued on the broker) and then runs a full build whose chunk
# writes crawl, so that the test can kill it mid-publish with the edit taken.
DOOMED = """
import sys
import time

import django

django.setup()
from django.conf import settings

from cacheops.build import operations
from cms import services

settings.CACHEOPS_REBUILD_ON_SAVE = True
services.episode_update(episode_id=sys.argv[1], version=int(sys.argv[2]), user="eri", title="残酷")


def crawl(stage, done, total):
    if stage == "write":
        time.sleep(0.2)


operations.catalog_rebuild(full=True, requested_by="doomed-worker", progress=crawl)
"""

SWEEP = """
import django

django.setup()
from cacheops.build import operations

print(operations.stalled_changes_requeue(older_than_s=0))
"""


def episode_titles(view, family: str = "catalog") -> set[str]:
    body = json.loads(body_of(*reassemble(view, family)))
    programs = body["programs"] if family == "catalog" else [body["program"]]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


def test_an_edit_taken_by_a_killed_build_is_published_after_the_sweep(dynamodb, redis_engine, private_redis, tmp_path):
    show = show_create("鬼滅の刃", "kimetsu", [f"第{n}話" for n in range(1, 9)])
    family = f"program:{show.program.id}"
    _proc, broker = private_redis
    env = process_env(
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        CACHEOPS_CHUNK_BYTES="64",
        CACHEOPS_LOCK_SECONDS="600",
        CACHEOPS_OPS_PER_SECOND="100000",
    )
    run = {"cwd": django_settings.BASE_DIR, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    subprocess.run([sys.executable, "manage.py", "rebuild_catalog", "--sync", "--full"], **run)
    chunks_a = {k for k in redis_engine.keys() if ":chunk:" in k}
    first = show.episodes[0]

    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED, first.id, str(first.version)],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    kill_when(doomed, lambda: {k for k in redis_engine.keys() if ":chunk:" in k} - chunks_a, "no chunk written")

    db = sqlite3.connect(tmp_path / "db.sqlite3")

    def changes() -> list[tuple]:
        return db.execute(
            "SELECT family, taken_by_id IS NOT NULL FROM cacheops_pendingchange ORDER BY family"
        ).fetchall()

    assert changes() == [("catalog", 1), (family, 1)]  # still recorded, held by the dead build
    assert "残酷" not in episode_titles(redis_engine, family)
    redis_engine.delete(f"{redis_engine.prefix}:catalog:lock")  # the dead build's lock expires
    log = tmp_path / "worker.log"
    worker = worker_start(env, log)
    try:
        # The dead build misses its heartbeats (its worker is gone): its changes are free, and the build the edit
        # queued, or the beat's sweep, takes them.
        with db:
            db.execute("UPDATE cacheops_operation SET heartbeat_at = '2000-01-01 00:00:00' WHERE result = ''")
        subprocess.run([sys.executable, "-c", SWEEP], **run | {"timeout": 60})

        assert wait_for(lambda: not changes(), 60), log.read_text()
        assert wait_for(lambda: "残酷" in episode_titles(redis_engine, family), 60), log.read_text()
        assert "残酷" in episode_titles(redis_engine)
    finally:
        process_stop(worker)
        db.close()
