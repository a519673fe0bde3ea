"""The cache commands as an operator runs them: rebuild_catalog, catalog_status, prewarm."""

import io
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery.result import AsyncResult
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from cacheops.build import operations
from cacheops.errors import PublishError
from cacheops.keys import CATALOG
from cacheops.management.commands import catalog_status, prewarm, rebuild_catalog
from cacheops.models import AirtimeSchedule, BuildRequest, Family, Operation, PendingChange
from cacheops.release import release_actions
from cms import services
from cms.celery import app
from cms.domain import time_text
from tests.cacheops.conftest import body_of, catalog_published_twice, reassemble, show_create, wait_for

pytestmark = pytest.mark.django_db

COMMANDS = {"rebuild_catalog": rebuild_catalog, "prewarm": prewarm, "catalog_status": catalog_status}
# A well-formed program id no program has.
NO_SUCH_ID = "01" + "J" * 24


def run(capsys, *args) -> str:
    """Run a command in English; return everything it printed on stdout."""
    capsys.readouterr()
    with translation.override("en"):
        call_command(*args)
    return capsys.readouterr().out


def refused(capsys, name: str, *args, language: str = "en") -> str:
    """Run a command as from a shell, expecting it to refuse: check it exits 1, printing nothing on stdout and one
    line on stderr; return that line. It closes the database connections as it ends: tests using it look at SQL
    afterwards only with transactional_db."""
    capsys.readouterr()
    with translation.override(language), pytest.raises(SystemExit) as exit_:
        COMMANDS[name].Command().run_from_argv(["manage.py", name, *args])
    captured = capsys.readouterr()
    assert exit_.value.code == 1
    assert captured.out == ""
    [line] = captured.err.splitlines()
    return line


def written() -> dict[str, int]:
    """How many rows each table a command may write holds."""
    tables = (Family, Operation, PendingChange, BuildRequest, AirtimeSchedule)
    return {table.__name__: table.objects.count() for table in tables}


def test_rebuild_then_status_json_is_one_document_with_catalog_first(dynamodb, engine, capsys):
    show = show_create("鬼滅の刃", "kimetsu", ["残酷", "育手"])
    family = f"program:{show.program.id}"

    program_line = run(capsys, "rebuild_catalog", "--sync", "--family", family)
    catalog_line = run(capsys, "rebuild_catalog", "--sync")
    out = run(capsys, "catalog_status", "--json")

    manifest, stream = reassemble(engine)
    assert catalog_line.startswith(f"catalog: published {manifest['version']} (")
    assert program_line.startswith(f"{family}: published ")
    assert "残酷" in body_of(manifest, stream).decode()
    assert out.endswith("\n") and out.count("\n") == 1
    status = json.loads(out)
    assert [f["name"] for f in status["families"]] == ["catalog", family]
    assert status["families"][0]["manifest"] == manifest
    assert status["families"][1]["manifest"] == reassemble(engine, family)[0]
    assert all(0 < f["ttl_left_s"] <= 86400 for f in status["families"])


def test_status_for_people_lists_every_chunk_key_with_its_size(dynamodb, redis_engine, settings, capsys):
    settings.CACHEOPS_CHUNK_BYTES = 200
    show_create("SPY×FAMILY", "spy-family", [f"第{n}話" for n in range(1, 6)])
    run(capsys, "rebuild_catalog", "--sync")

    out = run(capsys, "catalog_status")

    manifest, _ = reassemble(redis_engine)
    assert out.startswith(f"catalog: version {manifest['version']}, gzip, {manifest['raw_bytes']} bytes raw")
    assert len(manifest["chunks"]) > 1
    for chunk in manifest["chunks"]:
        assert f"  {chunk['key']}  {chunk['bytes']} bytes\n" in out


def test_status_reports_the_ttl_the_cache_keeps_and_a_refresh_never_lets_the_manifest_outlive_a_chunk(
    dynamodb, redis_engine, settings, capsys
):
    settings.CACHEOPS_CHUNK_BYTES = 200
    show_create("SPY×FAMILY", "spy-family", [f"第{n}話" for n in range(1, 6)])
    run(capsys, "rebuild_catalog", "--sync", "--full")
    manifest, _ = reassemble(redis_engine)
    redis_engine.client.pexpire(manifest["chunks"][1]["key"], 500_000)  # the cache will drop this chunk first

    [catalog] = [f for f in json.loads(run(capsys, "catalog_status", "--json"))["families"] if f["name"] == "catalog"]

    assert 490 <= catalog["ttl_left_s"] <= 500  # the manifest claims a day; the version is readable for 500 s
    assert 490 <= int(re.search(r"^catalog: .*TTL left (\d+) s", run(capsys, "catalog_status"), re.M)[1]) <= 500

    assert "catalog" in operations.ttl_refresh_due()

    manifest, _ = reassemble(redis_engine)
    chunk_left = min(redis_engine.ttl_left(c["key"]) for c in manifest["chunks"])
    assert 86000 < redis_engine.ttl_left(f"{redis_engine.prefix}:catalog:manifest") <= chunk_left
    [catalog] = [f for f in json.loads(run(capsys, "catalog_status", "--json"))["families"] if f["name"] == "catalog"]
    assert 86000 < catalog["ttl_left_s"] <= chunk_left


def test_status_before_anything_is_published(redis_engine, capsys):
    assert run(capsys, "catalog_status") == "nothing published yet\n"
    assert json.loads(run(capsys, "catalog_status", "--json")) == {"families": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "not-a-date"], "CommandError: --as-of 'not-a-date' is not an ISO 8601 time like"),
        (["--as-of", "2026-11-26T23:45:00"], "CommandError: --as-of '2026-11-26T23:45:00' needs a time zone"),
        (["--family", "bogus"], "CommandError: Unknown family bogus: use catalog or program:<id> of an existing"),
    ],
)
def test_bad_rebuild_arguments_exit_non_zero_with_one_line(redis_engine, capsys, args, message):
    assert refused(capsys, "rebuild_catalog", "--sync", *args).startswith(message)
    assert redis_engine.keys() == set()


@pytest.mark.parametrize(
    ("name", "queued"),
    [("rebuild_catalog", []), ("rebuild_catalog", ["--wait"]), ("prewarm", []), ("prewarm", ["--wait"])]
    + [("catalog_status", [])],
)
@pytest.mark.parametrize("family", ["bogus", "program:NOPE", f"program:{NO_SUCH_ID}", "program:", "catalog:x"])
def test_an_unknown_family_or_program_is_one_line_and_writes_nothing(
    transactional_db, dynamodb, redis_engine, capsys, name, family, queued
):
    show_create("鬼滅の刃", "kimetsu")  # a program exists; the one named does not
    before = written()

    line = refused(capsys, name, "--family", family, *queued)

    assert line == f"CommandError: Unknown family {family}: use catalog or program:<id> of an existing program."
    assert written() == before  # no family row, no operation logged, no change noted, no task run or scheduled
    assert redis_engine.keys() == set()


def test_the_refusal_speaks_the_configured_language(transactional_db, dynamodb, redis_engine, capsys):
    line = refused(capsys, "prewarm", "--family", "program:NOPE", language="ja")

    assert line == "CommandError: 不明なファミリー program:NOPE です。" + (
        "catalog か、存在する番組の program:<id> を指定してください。"
    )
    assert Family.objects.count() == 0


def test_a_deleted_program_is_known_only_while_its_family_is_published(
    transactional_db, dynamodb, redis_engine, capsys
):
    published, never = (
        services.program_create(user="test", title=title, slug=slug, genre="anime", status="published")
        for title, slug in (("鬼滅の刃", "kimetsu"), ("呪術廻戦", "jujutsu"))
    )
    run(capsys, "rebuild_catalog", "--sync", "--family", f"program:{published.id}")
    for program in (published, never):
        services.program_delete(program_id=program.id, version=program.version, user="test")

    line = refused(capsys, "rebuild_catalog", "--sync", "--family", f"program:{never.id}")
    out = run(capsys, "rebuild_catalog", "--sync", "--family", f"program:{published.id}")

    assert line.startswith(f"CommandError: Unknown family program:{never.id}:")
    assert out.startswith(f"program:{published.id}: published ")  # its family is published again, empty
    assert not Family.objects.filter(name=f"program:{never.id}").exists()


def test_help_describes_every_option(capsys):
    for name, module in COMMANDS.items():
        parser = module.Command().create_parser("manage.py", name)
        undescribed = [action.option_strings for action in parser._actions if not action.help]
        assert undescribed == [], name
    helped = rebuild_catalog.Command().create_parser("manage.py", "rebuild_catalog").format_help()
    assert "--wait" in helped and "--timeout" in helped


def test_prewarm_shows_progress_and_leaves_every_chunk_verified(dynamodb, redis_engine, settings, capsys):
    settings.CACHEOPS_CHUNK_BYTES = 100
    show_create("進撃の巨人", "shingeki", [f"第{n}話" for n in range(1, 6)])

    out = run(capsys, "prewarm")

    manifest, stream = reassemble(redis_engine)
    total = len(manifest["chunks"])
    assert total > 3
    assert f"\rrefresh  [{'#' * 30}] {total}/{total}" in out
    assert f"\rwrite    [{'#' * 30}] {total}/{total}" in out  # built first: nothing was published
    assert out.splitlines()[-1].startswith(f"catalog: done {manifest['version']} in ")
    assert all(redis_engine.ttl_left(c["key"]) > 86000 for c in manifest["chunks"])
    assert "第5話" in body_of(manifest, stream).decode()


def test_the_result_lines_speak_the_configured_language(transactional_db, dynamodb, redis_engine, capsys):
    show_create("進撃の巨人", "shingeki", ["第1話"])
    capsys.readouterr()

    with translation.override(django_settings.LANGUAGE_CODE):
        call_command("rebuild_catalog", "--sync", "--full")
    built = capsys.readouterr().out
    manifest, _stream = reassemble(redis_engine)
    redis_engine.delete(manifest["chunks"][0]["key"])
    failed = refused(capsys, "prewarm", language=django_settings.LANGUAGE_CODE)

    assert re.fullmatch(rf"catalog: 公開 {manifest['version']}（全体構築; \d+ 件を読み込み; [\d,]+ バイト.*）\n", built)
    key = manifest["chunks"][0]["key"]
    assert failed == (
        f"CommandError: catalog の事前準備に失敗しました: catalog のバージョン {manifest['version']} はキャッシュに"
        f"そろっていません: チャンク 0（{key}）がありません"
    )


def test_status_shows_the_staged_version_the_pin_and_the_next_boundary(dynamodb, redis_engine, capsys):
    published = catalog_published_twice()
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    services.episode_create(
        user="test", program_id=published.show.program.id, season_id=published.show.season.id, number=3,
        title="最終話", duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    assert "staged" in operations.catalog_rebuild(requested_by="test", full=True).detail
    release_actions.rollback(family=CATALOG, version=published.v1, requested_by="oki", reason="字幕に誤り")
    row = Family.objects.get(name=CATALOG)
    assert row.staged_version and row.pinned_at is not None  # what the status has to show

    out = run(capsys, "catalog_status", "--family", CATALOG)
    [catalog] = json.loads(run(capsys, "catalog_status", "--json", "--family", CATALOG))["families"]

    lines = out.splitlines()
    assert lines[0].startswith(f"catalog: version {published.v1}, ")
    assert lines[1] == f"  staged: {row.staged_version}, current from {time_text(instant)}"
    assert lines[2] == f"  pinned by oki at {time_text(row.pinned_at)}: 字幕に誤り"
    assert lines[3] == f"  next boundary: {time_text(instant)}"
    assert catalog["release"] == {
        "staged_version": row.staged_version,
        "staged_at": time_text(instant),
        "pin": {"pinned_at": time_text(row.pinned_at), "pinned_by": "oki", "reason": "字幕に誤り"},
        "next_boundary": time_text(instant),
    }


def test_status_without_a_pin_or_anything_staged_says_so(dynamodb, redis_engine, capsys):
    show_create("SPY×FAMILY", "spy-family")
    run(capsys, "rebuild_catalog", "--sync")

    lines = run(capsys, "catalog_status").splitlines()

    assert lines[1:4] == ["  staged: none", "  pinned: no", "  next boundary: none"]


def test_status_of_one_family_shows_only_that_family(dynamodb, redis_engine, capsys):
    show = show_create("鬼滅の刃", "kimetsu", ["残酷"])
    family = f"program:{show.program.id}"
    run(capsys, "rebuild_catalog", "--sync")
    assert [f["name"] for f in json.loads(run(capsys, "catalog_status", "--json"))["families"]] == [CATALOG, family]

    out = run(capsys, "catalog_status", "--family", family)
    [only] = json.loads(run(capsys, "catalog_status", "--json", "--family", family))["families"]

    heads = [line for line in out.splitlines() if not line.startswith("  ")]
    assert heads == [
        f"{family}: version {reassemble(redis_engine, family)[0]['version']}, " + heads[0].split(", ", 1)[1]
    ]
    assert not any(line.startswith("catalog") for line in out.splitlines())
    assert only["name"] == family and only["manifest"] == reassemble(redis_engine, family)[0]


def test_status_of_a_known_family_not_published_yet(dynamodb, redis_engine, capsys):
    show = show_create("鬼滅の刃", "kimetsu")

    out = run(capsys, "catalog_status", "--family", f"program:{show.program.id}")

    assert out.splitlines()[0] == f"program:{show.program.id}: no current version"
    assert Family.objects.count() == 0


def test_a_queued_rebuild_says_how_to_follow_it(dynamodb, redis_engine, capsys):
    show_create("鬼滅の刃", "kimetsu")

    out = run(capsys, "rebuild_catalog")

    queued, hint = out.splitlines()
    assert re.fullmatch(r"Queued the rebuild of catalog as task [0-9a-f-]{36}\.", queued)
    assert hint == (
        "Follow it on the console at /admin/cacheops/family/catalog/ or with: manage.py catalog_status --family catalog"
    )


def test_rebuild_wait_follows_the_task_to_its_end(dynamodb, redis_engine, capsys):
    show_create("鬼滅の刃", "kimetsu", ["残酷"])

    out = run(capsys, "rebuild_catalog", "--wait", "--full")

    manifest, _ = reassemble(redis_engine)
    queued, finished = out.splitlines()  # the eager task had ended when it was sent: nothing to wait for
    assert queued.startswith("Queued the rebuild of catalog as task ")
    assert finished == f"catalog: finished, published {manifest['version']}"


def test_prewarm_wait_sends_the_task_and_follows_it_to_its_end(dynamodb, redis_engine, capsys):
    show_create("進撃の巨人", "shingeki", ["第1話"])

    out = run(capsys, "prewarm", "--wait")

    manifest, _ = reassemble(redis_engine)
    sent, finished = out.splitlines()
    assert re.fullmatch(r"catalog: prewarm sent as task [0-9a-f-]{36}", sent)
    assert finished == f"catalog: finished, done {manifest['version']}"
    assert Operation.objects.filter(kind="prewarm", family=CATALOG, result="done").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wait", "--timeout", "0"], "CommandError: --timeout must be a positive number of seconds, not 0.0."),
        (["--wait", "--sync"], "CommandError: --wait follows a queued rebuild; with --sync it runs here"),
        (["--wait", "--as-of", "2099-01-01T00:00:00Z"], "CommandError: --wait follows a queued rebuild, not an"),
    ],
)
def test_wait_refuses_what_it_cannot_follow(transactional_db, dynamodb, redis_engine, capsys, args, message):
    before = written()

    assert refused(capsys, "rebuild_catalog", *args).startswith(message)
    assert written() == before


# The follow tests write a task's states into the result backend themselves, as a worker does, and read them back
# although the suite runs tasks eagerly.
reads_the_result_backend = pytest.mark.filterwarnings("ignore:Results are not stored in backend")


@pytest.fixture
def task_id():
    """A task id of this test's own in the result backend; its state is forgotten afterwards."""
    found = str(uuid.uuid4())
    yield found
    app.backend.forget(found)


def follow(task: str, timeout: float) -> tuple[io.StringIO, Exception | None]:
    """Follow task `task` as --wait does, in English; return what it printed and the error it ended with."""
    out = io.StringIO()
    try:
        with translation.override("en"):
            prewarm.task_wait(prewarm.Command(stdout=out), AsyncResult(task, app=app), CATALOG, timeout)
    except CommandError as exc:
        return out, exc
    return out, None


@reads_the_result_backend
def test_wait_prints_a_line_per_change_of_a_running_task_until_it_succeeds(task_id):
    out = io.StringIO()
    steps = [
        ("PROGRESS", {"stage": "write", "done": 1, "total": 3}),
        ("PROGRESS", {"stage": "write", "done": 3, "total": 3}),
        ("PROGRESS", {"stage": "verify", "done": 3, "total": 3}),
    ]

    def worker() -> None:
        # Each change only once the one before it was printed: the follower sees every one.
        for printed, (state, meta) in enumerate(steps, 1):
            assert wait_for(lambda n=printed: out.getvalue().count("\n") >= n, 10)
            app.backend.store_result(task_id, meta, state)
        assert wait_for(lambda: out.getvalue().count("\n") >= len(steps) + 1, 10)
        app.backend.mark_as_done(task_id, {"result": "done", "version": "0123456789abcdef"})

    running = threading.Thread(target=worker)
    running.start()
    try:
        with translation.override("en"):
            prewarm.task_wait(prewarm.Command(stdout=out), AsyncResult(task_id, app=app), CATALOG, 30)
    finally:
        running.join(10)

    assert out.getvalue().splitlines() == [
        "catalog: waiting for a worker",
        "catalog: writing chunks, 1 of 3",
        "catalog: writing chunks, 3 of 3",
        "catalog: verifying chunks, 3 of 3",
        "catalog: finished, done 0123456789abcdef",
    ]


@reads_the_result_backend
def test_wait_ends_with_one_line_when_the_task_fails(task_id):
    app.backend.mark_as_failure(task_id, PublishError("chunk 3 of catalog is gone\nafter its write"))

    out, error = follow(task_id, 10)

    assert out.getvalue() == ""
    assert str(error) == f"Task {task_id} of catalog failed: chunk 3 of catalog is gone after its write"


@reads_the_result_backend
def test_wait_gives_up_after_its_timeout(task_id):
    started = time.monotonic()
    out, error = follow(task_id, 1)

    assert time.monotonic() - started >= 1  # it waited its timeout out, then gave up
    assert out.getvalue() == "catalog: waiting for a worker\n"
    assert str(error) == f"Task {task_id} of catalog has not ended within 1 s; it goes on without waiting."
