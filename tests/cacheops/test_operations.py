"""Saves fold into builds, and every cache operation leaves a line in the operations log."""

import json
import sqlite3
import subprocess
import sys
import time
from itertools import pairwise

import pytest
import redis
from django.conf import settings as django_settings

from cacheops import tasks
from cacheops.build import operations, pending
from cacheops.errors import BuildBusy
from cacheops.manifest import manifest_read, snapshot_read
from cacheops.models import Operation, PendingChange
from cacheops.release import release_actions
from cms import services
from tests.cacheops.conftest import body_of, process_env, process_stop, reassemble, show_create

BROKER_URL = django_settings.REDIS_URL.rsplit("/", 1)[0] + "/13"

SAVES = """
import time

import django

django.setup()
from django.conf import settings

from cms import services

settings.CACHEOPS_REBUILD_ON_SAVE = False
program = services.program_create(user="eri", title="鬼滅の刃", slug="kimetsu", status="published")
season = services.season_create(user="eri", program_id=program.id, title="立志編", status="published")
settings.CACHEOPS_REBUILD_ON_SAVE = True
started = time.monotonic()
for number in range(1, 21):
    services.episode_create(
        user="eri", program_id=program.id, season_id=season.id, number=number,
        title=f"第{number}話", duration_s=1440, status="published",
    )
print(f"{time.monotonic() - started:.2f}")
"""


def catalog_titles(view) -> set[str]:
    """Episode titles in the catalog as read straight from the cache (empty when nothing is published)."""
    if view.get(f"{view.prefix}:catalog:manifest") is None:
        return set()
    programs = json.loads(body_of(*reassemble(view)))["programs"]
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


def build() -> Operation:
    """An operation row standing for a build that takes changes."""
    return Operation.objects.create(kind="rebuild", family="catalog")


@pytest.mark.django_db
def test_the_first_change_queues_a_build_and_the_next_ones_ride_along():
    queued = [pending.change_record("catalog", f"program-{n % 5}") for n in range(20)]

    assert queued == [True] + [False] * 19
    taken = pending.changes_take("catalog", build())
    assert (taken.full, set(taken.programs)) == (False, {f"program-{n}" for n in range(5)})
    assert pending.change_record("catalog", "program-9") is True  # taken: the next save queues again
    assert pending.change_record("program:program-9", "program-9") is True  # families fold separately


@pytest.mark.django_db
def test_taken_changes_stay_recorded_and_a_failed_build_gives_them_back_to_the_retry():
    pending.change_record("catalog", "program-1", [("episode", "e1", 3, False)])
    pending.change_record("catalog", "*")
    failed = build()
    with pytest.raises(RuntimeError), pending.changes_held(failed):
        taken = pending.changes_take("catalog", failed)
        assert PendingChange.objects.filter(taken_by=failed).count() == 2
        assert pending.changes_take("catalog", build()).programs == {}  # held: another build takes nothing
        raise RuntimeError("publish failed")

    retry = build()
    assert pending.changes_take("catalog", retry) == taken
    assert taken.full and taken.programs == {"program-1": [("episode", "e1", 3, False)]}
    pending.changes_done(retry, ["catalog"])
    assert not PendingChange.objects.exists()


@pytest.fixture
def worker(tmp_path, redis_engine, dynamodb):
    """A real Celery worker on a broker of its own, sharing this test's DynamoDB, cache prefix and SQL file."""
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    env = process_env(tmp_path, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=BROKER_URL)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=django_settings.BASE_DIR, env=env, check=True)
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cms", "worker", "--pool=solo", "--concurrency=1", "-l", "info"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while "ready." not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ready." in log.read_text(), log.read_text()
    yield env
    process_stop(proc)
    broker.flushdb()
    broker.close()


def test_twenty_saves_during_a_build_fold_into_one_follow_up_build(worker, redis_engine, tmp_path):
    lock = f"{redis_engine.prefix}:catalog:lock"
    redis_engine.set(lock, b"a-build-in-progress", 30)

    saves = subprocess.run(
        [sys.executable, "-c", SAVES],
        cwd=django_settings.BASE_DIR,
        env=worker,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert saves.returncode == 0, saves.stderr
    redis_engine.delete(lock)  # the build in progress ends

    expected = {f"第{n}話" for n in range(1, 21)}
    # The queued build retries with a backoff of up to 15 s while the lock is held, then builds: on a loaded
    # machine that takes a while, so the bound is generous; a healthy run ends in seconds.
    deadline = time.monotonic() + 120
    while catalog_titles(redis_engine) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert catalog_titles(redis_engine) == expected

    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        while db.execute("SELECT count(*) FROM cacheops_pendingchange").fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert db.execute("SELECT count(*) FROM cacheops_buildrequest WHERE queued").fetchone()[0] == 0
        # A build records its result just after its manifest is swapped: wait for the row, not the catalog.
        unfinished = "SELECT count(*) FROM cacheops_operation WHERE kind = 'rebuild' AND result = ''"
        while db.execute(unfinished).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        builds = db.execute(
            "SELECT result FROM cacheops_operation WHERE kind = 'rebuild' AND family = 'catalog' "
            "AND result IN ('published', 'unchanged')"
        ).fetchall()
    # Twenty saves: the build already queued, plus at most one follow-up.
    assert len(builds) in (1, 2)


@pytest.mark.django_db
def test_every_save_rebuilds_when_celery_runs_inline_and_the_log_chains_the_versions(dynamodb, redis_engine, settings):
    settings.CACHEOPS_REBUILD_ON_SAVE = True
    show = show_create("鬼滅の刃", "kimetsu", [])

    for number in range(1, 21):
        services.episode_create(
            user="eri",
            program_id=show.program.id,
            season_id=show.season.id,
            number=number,
            title=f"第{number}話",
            duration_s=1440,
            status="published",
        )

    assert catalog_titles(redis_engine) == {f"第{n}話" for n in range(1, 21)}
    builds = list(Operation.objects.filter(kind="rebuild", family="catalog").order_by("id"))
    assert len(builds) == 22 and {op.result for op in builds} == {"published"}
    assert builds[0].version_before == ""
    assert all(later.version_before == earlier.version_after for earlier, later in pairwise(builds))
    assert builds[-1].version_after == manifest_read("catalog")["version"]
    program = snapshot_read(f"program:{show.program.id}")[1]
    assert len(json.loads(program)["program"]["seasons"][0]["episodes"]) == 20


def logged(**match) -> Operation:
    """The latest operation on the catalog matching `match`."""
    return Operation.objects.filter(family="catalog", **match).order_by("-id").first()


def assert_logged(op: Operation, kind: str, result: str, before: str, after: str, requested_by: str = "oki"):
    assert (op.kind, op.family, op.requested_by, op.result) == (kind, "catalog", requested_by, result)
    assert (op.version_before, op.version_after) == (before, after)
    assert op.duration_ms is not None and op.duration_ms >= 0


@pytest.mark.django_db
def test_every_operation_is_logged_with_who_asked_how_long_it_took_and_the_versions(dynamodb, redis_engine):
    show = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    v1 = operations.catalog_rebuild(requested_by="oki", full=True).version_after
    assert_logged(logged(kind="rebuild"), "rebuild", "published", "", v1)

    services.program_update(
        program_id=show.program.id, version=show.program.version, user="eri", title="呪術廻戦 第2期"
    )
    v2 = operations.catalog_rebuild(requested_by="oki", full=True).version_after
    assert v2 != v1
    assert_logged(logged(kind="rebuild"), "rebuild", "published", v1, v2)

    operations.prewarm(requested_by="oki")
    assert_logged(logged(kind="prewarm"), "prewarm", "done", v2, v2)

    release_actions.rollback(family="catalog", requested_by="oki", reason="wrong title")
    assert_logged(logged(kind="rollback"), "rollback", "pinned", v2, v1)
    assert manifest_read("catalog")["version"] == v1
    release_actions.resume(family="catalog", requested_by="oki")
    assert_logged(logged(kind="resume"), "resume", "resumed", v1, v2)

    operations.invalidate(requested_by="oki")
    invalidated = logged(kind="invalidate")
    assert_logged(invalidated, "invalidate", "done", v2, "")
    follow_up = Operation.objects.filter(kind="rebuild", family="catalog", id__gt=invalidated.id).get()
    assert (follow_up.result, follow_up.version_before, follow_up.version_after) == ("published", v2, v2)
    assert not manifest_read("catalog").get("stale")

    operations.invalidate(hard=True, requested_by="oki")
    assert_logged(logged(kind="invalidate-hard"), "invalidate-hard", "done", v2, "")
    assert manifest_read("catalog") is None


@pytest.mark.django_db
def test_the_ttl_refresh_and_a_busy_build_are_logged_too(dynamodb, redis_engine, settings):
    show = show_create("ワンピース", "one-piece", ["俺はルフィ"])
    settings.CACHEOPS_TTL_SECONDS = 10
    version = tasks.rebuild.delay("catalog", requested_by="oki").get()["version"]

    settings.CACHEOPS_TTL_SECONDS = 100  # the entries now expire within half their lifetime
    # The first build was a full one: the program's own family was published with the catalog.
    assert operations.ttl_refresh_due() == ["catalog", f"program:{show.program.id}"]
    assert_logged(logged(kind="refresh_ttl"), "refresh_ttl", "done", version, version, requested_by="beat")
    manifest, _ = reassemble(redis_engine)
    chunk_left = min(redis_engine.ttl_left(c["key"]) for c in manifest["chunks"])
    assert 90 < redis_engine.ttl_left(f"{redis_engine.prefix}:catalog:manifest") <= chunk_left

    redis_engine.set(f"{redis_engine.prefix}:catalog:lock", b"another-build", 30)
    with pytest.raises(BuildBusy):
        operations.catalog_rebuild(requested_by="oki")
    busy = logged(kind="rebuild")
    assert_logged(busy, "rebuild", "busy", "", "")
    assert busy.detail == "BuildBusy: another build of catalog is running"


@pytest.mark.django_db
def test_an_evicted_chunk_found_by_the_ttl_refresh_is_written_again_by_a_build(dynamodb, redis_engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 200
    show_create("ワンピース", "one-piece", [f"第{n}話" for n in range(1, 6)])
    version = operations.catalog_rebuild(requested_by="oki", full=True).version_after
    evicted = reassemble(redis_engine)[0]["chunks"][1]["key"]
    redis_engine.delete(evicted)

    assert "catalog" not in operations.ttl_refresh_due()

    refresh = logged(kind="refresh_ttl")
    assert (refresh.result, refresh.requested_by) == ("failed", "beat")
    assert f"chunk 1 ({evicted}) is missing" in refresh.detail
    repair = logged(kind="rebuild")
    assert (repair.result, repair.version_before, repair.version_after) == ("published", version, version)
    manifest, stream = reassemble(redis_engine)
    assert evicted in {c["key"] for c in manifest["chunks"]}
    assert "第5話" in body_of(manifest, stream).decode()


@pytest.mark.django_db
def test_a_program_rebuilt_before_the_first_catalog_build_does_not_shrink_the_catalog(dynamodb, redis_engine):
    first = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    second = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])

    operations.family_rebuild(family=f"program:{first.program.id}", requested_by="oki")
    operations.catalog_rebuild(requested_by="oki")

    programs = json.loads(snapshot_read("catalog")[1])["programs"]
    assert [p["id"] for p in programs] == [first.program.id, second.program.id]
    assert catalog_titles(redis_engine) == {"残酷", "両面宿儺"}


@pytest.mark.django_db
def test_after_the_cache_was_emptied_the_next_edit_brings_back_every_family(dynamodb, redis_engine, settings):
    settings.CACHEOPS_REBUILD_ON_SAVE = True
    edited = show_create("鬼滅の刃", "kimetsu")
    untouched = show_create("呪術廻戦", "jujutsu")
    operations.catalog_rebuild(full=True)
    families = {"catalog", f"program:{edited.program.id}", f"program:{untouched.program.id}"}
    assert all(manifest_read(family) for family in families)

    for name in redis_engine.keys():  # a restart or a flush: nothing of this prefix is left
        redis_engine.delete(name)
    services.episode_update(
        episode_id=edited.episodes[0].id, version=edited.episodes[0].version, user="eri", title="残酷"
    )

    assert "残酷" in catalog_titles(redis_engine)
    # Not only the edited program: every family the cache lost is published again.
    for family in families:
        manifest, _stream = reassemble(redis_engine, family)
        assert manifest["name"] == family
