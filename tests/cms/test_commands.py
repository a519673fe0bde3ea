"""The content management commands: init, demo seeding, dump and load."""

import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation

from cacheops.build.snapshot import catalog_body, sources_build
from cms import demo, domain, validation
from cms.domain import time_parse
from cms.store import bulk
from cms.store import episodes as episode_store
from cms.store import programs as program_store
from cms.store.tables import tables_truncate

NOW = "2026-11-26T23:40:00+09:00"
# seed_demo and dynamodb_load bring the SQL program list up to date after writing.
pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    with translation.override("en"):
        call_command(*args, stdout=out)
    return out.getvalue()


def dump(tmp_path, name: str) -> str:
    run("dynamodb_dump", str(tmp_path / name))
    return (tmp_path / name).read_text(encoding="utf-8")


def test_dynamodb_init_restores_missing_tables_and_indexes_and_is_idempotent(raw_dynamodb):
    client, programs, uniques = raw_dynamodb.client, raw_dynamodb.table("programs"), raw_dynamodb.table("uniques")
    client.delete_table(TableName=uniques)
    client.update_table(TableName=programs, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_deleted"}}])

    first = run("dynamodb_init")
    assert f"Created {uniques}." in first
    assert f"Created {programs}/by_deleted." in first
    indexes = client.describe_table(TableName=programs)["Table"]["GlobalSecondaryIndexes"]
    assert "by_deleted" in {index["IndexName"] for index in indexes}
    assert program_store.programs_deleted_ids() == []  # the restored index answers queries

    assert run("dynamodb_init").strip() == "All tables and indexes exist already."


def test_seed_demo_is_deterministic_for_a_seed(raw_dynamodb, tmp_path):
    run("seed_demo", "--programs", "8", "--seed", "7", "--now", NOW, "--reset")
    first = dump(tmp_path, "first.jsonl")
    run("seed_demo", "--programs", "8", "--seed", "7", "--now", NOW, "--reset")
    assert dump(tmp_path, "second.jsonl") == first
    assert raw_dynamodb.count("programs") == 8

    run("seed_demo", "--programs", "8", "--seed", "8", "--now", NOW, "--reset")
    assert dump(tmp_path, "other.jsonl") != first


def test_demo_content_is_the_same_all_hour():
    early = demo.demo_generate(seed=3, programs=6, now=datetime(2026, 11, 26, 14, 1, tzinfo=UTC))
    late = demo.demo_generate(seed=3, programs=6, now=datetime(2026, 11, 26, 14, 59, tzinfo=UTC))
    next_hour = demo.demo_generate(seed=3, programs=6, now=datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    assert early == late
    assert early != next_hour


def live(item, at: datetime) -> bool:
    return (
        item.status == domain.PUBLISHED
        and (item.publish_at is None or item.publish_at <= at)
        and (item.expire_at is None or at < item.expire_at)
    )


@pytest.mark.parametrize("seed", range(12))
def test_demo_always_has_draft_expired_and_scheduled_programs(seed):
    now = datetime.now(UTC)
    programs = demo.demo_generate(seed=seed, programs=5).programs
    assert any(p.status == domain.DRAFT for p in programs)
    assert any(p.status == domain.PUBLISHED and p.expire_at and p.expire_at < now for p in programs)
    assert any(p.status == domain.PUBLISHED and p.publish_at and p.publish_at > now for p in programs)
    assert any(live(p, now) for p in programs)


def boundaries(content: demo.DemoContent) -> list[datetime]:
    objects = [*content.programs, *content.seasons, *content.episodes]
    return [t for obj in objects for t in (obj.publish_at, obj.expire_at) if t]


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_demo_times_keep_an_hour_clear_of_now_at_any_time_of_day(hour):
    start = datetime(2026, 11, 26, hour, tzinfo=UTC)
    for minute in (0, 59):
        now = start + timedelta(minutes=minute)
        times = boundaries(demo.demo_generate(seed=hour, programs=60, now=now))
        assert not [t for t in times if abs(t - now) < timedelta(hours=1)]
        assert any(t < now for t in times) and any(t > now for t in times)


def test_seeded_programs_show_every_state_and_keep_clear_of_now(raw_dynamodb):
    before = datetime.now(UTC)
    run("seed_demo", "--programs", "6")
    now = datetime.now(UTC)
    programs = [p for p, _ in program_store.programs_stream()]
    assert {p.slug for p in programs} == {p.slug for p in demo.demo_generate(seed=1, programs=6).programs}
    assert any(p.status == domain.DRAFT for p in programs)
    assert any(p.status == domain.PUBLISHED and p.expire_at and p.expire_at < now for p in programs)
    assert any(p.status == domain.PUBLISHED and p.publish_at and p.publish_at > now for p in programs)

    tables = raw_dynamodb.snapshot()
    stored = [
        time_parse(item[name])
        for table in ("programs", "seasons", "episodes")
        for item in tables[table]
        for name in ("publish_at", "expire_at")
        if name in item
    ]
    assert len(stored) > 100
    assert not [t for t in stored if before - timedelta(hours=1) < t < now + timedelta(hours=1)]


def test_seed_demo_reports_progress(raw_dynamodb):
    output = run("seed_demo", "--programs", "20")
    assert re.search(r"Generated 20 programs, \d+ seasons, \d+ episodes \(seed 1,", output)
    steps = [(int(done), int(total)) for done, total in re.findall(r"Written (\d+) of (\d+) items", output)]
    assert len(steps) >= 3
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert steps[-1][0] == steps[-1][1] == sum(raw_dynamodb.counts().values())


def test_seed_demo_refuses_to_take_a_slug_in_use(raw_dynamodb):
    slug = demo.demo_generate(seed=1, programs=3).programs[2].slug
    program_store.program_create(domain.Program(id="existing", slug=slug, title="既存の番組"))
    before = raw_dynamodb.snapshot()

    with pytest.raises(CommandError, match="--reset"):
        run("seed_demo", "--programs", "3")
    assert raw_dynamodb.snapshot() == before

    run("seed_demo", "--programs", "3", "--reset")
    assert raw_dynamodb.count("programs") == 3


def manage(*args) -> subprocess.CompletedProcess:
    """Run manage.py in a process of its own against the suite's DynamoDB server."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "cms.settings",
        "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL,
        "DYNAMODB_TABLE_PREFIX": settings.DYNAMODB_TABLE_PREFIX,
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_seed_demo_over_seeded_content_refuses_unless_told_to_replace(raw_dynamodb):
    run("seed_demo", "--programs", "2", "--now", NOW)
    seeded = raw_dynamodb.snapshot()
    first_id = demo.demo_generate(seed=1, programs=2, now=datetime.fromisoformat(NOW)).programs[0].id
    program = program_store.program_get(first_id)
    program_store.program_update(replace(program, title="編集済みの題名"), old_slug=program.slug)
    before = raw_dynamodb.snapshot()

    result = manage("seed_demo", "--programs", "2", "--now", NOW)

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("CommandError:") and program.id in line
    assert "--replace" in line and "--reset" in line
    assert raw_dynamodb.snapshot() == before
    assert raw_dynamodb.get("programs", program.id)["version"] == 2
    with pytest.raises(CommandError, match=f"{sum(raw_dynamodb.counts().values())} items exist already"):
        run("seed_demo", "--programs", "2", "--now", NOW)

    run("seed_demo", "--programs", "2", "--now", NOW, "--replace")
    assert raw_dynamodb.snapshot() == seeded  # the edit was overwritten, at version 1 again
    assert raw_dynamodb.counters() == raw_dynamodb.children()


def test_dynamodb_load_over_existing_content_refuses_unless_told_to_replace(raw_dynamodb, tmp_path):
    run("seed_demo", "--programs", "5", "--now", NOW)
    first = dump(tmp_path, "first.jsonl")
    # An editor renumbers an episode and moves another one to a different season of its program.
    seasons = raw_dynamodb.snapshot()["seasons"]
    program_id = next(s["program_id"] for s in seasons if sum(t["program_id"] == s["program_id"] for t in seasons) > 1)
    first_season, second_season = [s["id"] for s in seasons if s["program_id"] == program_id][:2]
    renumbered, moved = episode_store.episodes_of_season(first_season)[:2]
    episode_store.episode_save(replace(renumbered, number=901), old=renumbered)
    episode_store.episode_save(replace(moved, season_id=second_season, number=902), old=moved)
    before = raw_dynamodb.snapshot()

    with pytest.raises(CommandError) as refused:
        run("dynamodb_load", str(tmp_path / "first.jsonl"))
    message = str(refused.value)
    exist = first.count("\n") - 2  # all but the two numbers the edits gave up
    assert f"{exist} items exist already" in message and "nothing was written" in message
    assert "--replace" in message and "\n" not in message
    assert raw_dynamodb.snapshot() == before

    run("dynamodb_load", str(tmp_path / "first.jsonl"), "--replace")
    assert dump(tmp_path, "second.jsonl") == first  # numbers the edits claimed are released too
    assert raw_dynamodb.counters() == raw_dynamodb.children()


def test_dynamodb_load_racing_another_writer_keeps_what_was_whole_and_counts_right(raw_dynamodb, tmp_path, monkeypatch):
    run("seed_demo", "--programs", "5", "--now", NOW)
    lines = dump(tmp_path, "all.jsonl").splitlines()
    tables_truncate()
    # Another writer stores the dump's last item after the load found nothing there.
    (tmp_path / "last.jsonl").write_text(lines[-1] + "\n", encoding="utf-8")
    run("dynamodb_load", str(tmp_path / "last.jsonl"))
    monkeypatch.setattr(bulk, "items_existing", lambda client, records: {})

    with pytest.raises(CommandError) as refused:
        run("dynamodb_load", str(tmp_path / "all.jsonl"))

    told = re.search(r"the (\d+) items written before it were kept", str(refused.value))
    kept = int(told.group(1))
    assert 0 < kept < len(lines) - 1
    assert sum(raw_dynamodb.counts().values()) == kept + 1  # the message tells what is stored; its group wrote nothing
    assert raw_dynamodb.counters() == raw_dynamodb.children()


def test_dynamodb_init_counts_the_children_of_content_written_before_counters(raw_dynamodb):
    run("seed_demo", "--programs", "3", "--now", NOW)
    counted = raw_dynamodb.counters()
    raw_dynamodb.client.delete_table(TableName=raw_dynamodb.table("counters"))

    assert f"Created {raw_dynamodb.table('counters')}." in run("dynamodb_init")
    assert raw_dynamodb.counters() == raw_dynamodb.children() == counted

    key = next(iter(counted))
    raw_dynamodb.client.put_item(
        TableName=raw_dynamodb.table("counters"), Item={"key": {"S": key}, "children": {"N": "99"}}
    )
    assert f"Counted the children of {len(counted)} programs and seasons." in run("dynamodb_init", "--recount")
    assert raw_dynamodb.counters() == counted


def test_demo_content_passes_the_editorial_rules():
    content = demo.demo_generate(seed=2, programs=60)
    for program in content.programs:
        validation.program_validate(program)
    for season in content.seasons:
        validation.season_validate(season)
    numbers = set()
    for episode in content.episodes:
        validation.episode_validate(episode)
        assert episode.video_url.startswith("https://") and episode.video_url.endswith(".m3u8")
        assert episode.duration_s > 0
        numbers.add((episode.season_id, episode.number))
    assert len(numbers) == len(content.episodes)
    assert len({p.slug for p in content.programs}) == 60
    kana = [p.title_kana for p in content.programs]
    assert all(re.fullmatch(r"[\u3041-\u309f\u30a0-\u30ff0-9・ー]+", k) for k in kana)
    assert any(re.fullmatch(r"[A-Za-z0-9 ]+", p.title) for p in content.programs)  # some English titles


def test_demo_catalog_of_360_programs_leaves_out_drafts_and_future_episodes():
    content = demo.demo_generate(seed=1, programs=360)
    now = datetime.now(UTC)

    body = catalog_body(sources_build((content.programs, content.seasons, content.episodes)).values(), now)

    assert 15_000 <= len(content.episodes) <= 20_000
    live_episodes = [e for p in orjson.loads(body)["programs"] for s in p["seasons"] for e in s["episodes"]]
    assert 10_000 <= len(live_episodes) < len(content.episodes)  # drafts and future episodes are left out


def test_dump_and_load_commands_round_trip(dynamodb, tmp_path):
    run("seed_demo", "--programs", "5")
    first = dump(tmp_path, "first.jsonl")
    tables_truncate()
    output = run("dynamodb_load", str(tmp_path / "first.jsonl"))
    assert f"Loaded {first.count(chr(10))} items" in output
    assert dump(tmp_path, "second.jsonl") == first


BROKEN_LINES = {
    "cut short": lambda line: line[:40],
    "unknown table": lambda line: line.replace('"table": "', '"table": "no-such-'),
    "no id": lambda line: line.replace('"id": {"S"', '"ident": {"S"'),
    "repeated": lambda line: line,
}


@pytest.mark.parametrize("breakage", BROKEN_LINES, ids=list(BROKEN_LINES))
def test_dynamodb_load_of_a_broken_file_writes_nothing(raw_dynamodb, tmp_path, breakage):
    run("seed_demo", "--programs", "2")
    lines = dump(tmp_path, "good.jsonl").splitlines()
    tables_truncate()
    lines[3] = BROKEN_LINES[breakage](lines[0 if breakage == "repeated" else 3])
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(CommandError) as refused:
        run("dynamodb_load", str(broken))
    assert "line 4" in str(refused.value) and "\n" not in str(refused.value)
    assert set(raw_dynamodb.counts().values()) == {0}


def test_dynamodb_load_of_a_missing_file_fails_cleanly(dynamodb, tmp_path):
    with pytest.raises(CommandError, match="missing.jsonl"):
        run("dynamodb_load", str(tmp_path / "missing.jsonl"))


def test_dynamodb_load_exits_non_zero_with_one_line(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"table": "programs", "item": {"id": {"S": "x"}}}\nnot json\n', encoding="utf-8")
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "cms.settings",
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:9",  # never reached: the file is refused first
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "dynamodb_load", str(broken)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("CommandError:") and "line 2" in line


def test_dynamodb_dump_to_a_missing_folder_fails_cleanly(dynamodb, tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        run("dynamodb_dump", str(tmp_path / "missing" / "dump.jsonl"))
    assert not (tmp_path / "missing").exists()
