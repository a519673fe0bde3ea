"""The capacity plan: its arithmetic on fixed inputs (worked out by hand below), its operation counts against what
Redis itself sees a real build and a real reader send, its read units against DynamoDB Local's own accounting, and
the command as an operator runs it."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import threading
from dataclasses import replace

import boto3
import orjson
import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from cacheops.capacity.figures import Catalog, Inputs, Limits, ProgramFamilies, Table, round_up
from cacheops.capacity.inputs import inputs_read
from cacheops.capacity.plan import item_units, page_units, plan_make, scan_units
from cacheops.management.commands import capacity_plan
from cacheops.read.reader import Reader
from cms import services
from cms.store.local import free_port
from cms.store.usage import build_tables_describe
from tests.cacheops.conftest import reassemble, show_create

MB = 1_000_000

# A catalog of the demo's size: 2,743,956 bytes in chunks of 1,000,000; 360 program families of 10,000 bytes in one
# chunk each; 1,000-byte manifests everywhere.
CATALOG = Catalog("0123456789abcdef", "gzip", 1_000, 2_743_956, (1_000_000, 1_000_000, 743_956))
PROGRAMS = ProgramFamilies(count=360, compressed_bytes=3_600_000, chunks=360, manifest_bytes=360_000,
                           largest_chunk_bytes=20_000)  # fmt: skip
# Averages: programs 1,000,000 / 360 = 2,777.8 bytes, seasons 240,000 / 600 = 400, episodes 20,000,000 / 17,000 =
# 1,176.5.
TABLES = (
    Table("programs", 360, 1_000_000, True, None, None),
    Table("seasons", 600, 240_000, True, None, None),
    Table("episodes", 17_000, 20_000_000, True, None, None),
)
INPUTS = Inputs(
    rps=5000, processes=40, cdn_hit=0.98, changes_per_hour=30, process_rps=429, process_rps_source="given",
    catalog=CATALOG, programs=PROGRAMS, limits=Limits(100, 1024, 5120, 86400), cache_name="airtime",
    poll_s=1.0, sweep_s=60, ttl_check_s=3600, ttl_s=86400, stage_ahead_s=600, chunk_limit_bytes=1_000_000,
    build_ops_per_s=50, program_pace_ops=13, build_time_limit_s=300, scan_segments=4, scan_page_items=500,
    tables=TABLES,
)  # fmt: skip


def test_the_shared_cache_figures_are_those_worked_out_by_hand():
    cache = plan_make(INPUTS).cache

    # At rest: 40 processes read the 1,000-byte manifest every second (40 ops/s, 40,000 B/s); the beat's sweep reads
    # it every 60 s and its hourly TTL check reads the 361 manifests (361,000 bytes).
    #   ops/s = 40 + 1/60 + 361/3600 = 40.116944;  KiB/s = (40,000 + 1,000/60 + 361,000/3600) / 1024 = 39.176704
    assert cache.polls.ops_per_s == 40 and cache.polls.kib_per_s == pytest.approx(39.0625)
    assert cache.at_rest.ops_per_s == pytest.approx(40.116944)
    assert cache.at_rest.kib_per_s == pytest.approx(39.176704)
    # A version change: told of it, each process reads the manifest and gets the 3 chunks (160 gets, 40 x (1,000 +
    # 2,743,956) bytes); the catalog's build reads its lock to wait its turn (1), takes it (3: add, get, delete),
    # reads the manifest (1), sets and reads back 3 chunks (6), writes the copy and the manifest (2) and announces it
    # (1): 14 operations, 2 x 2,743,956 + 3 x 1,000 + 3 x 200 (the lock's value) + 200 (the announcement) bytes; the
    # edited program's family: 3 + 2 x 1 + 2 + 1 = 8 operations, 2 x 10,000 + 2 x 1,000 + 400 + 200 bytes.
    assert (cache.readers_fetch.ops, cache.readers_fetch.bytes) == (160, 109_798_240)
    assert (cache.catalog_build.ops, cache.catalog_build.bytes) == (14, 5_491_712)
    assert (cache.program_build.ops, cache.program_build.bytes) == (8, 22_600)
    # The peak: at rest, plus the 160 gets and 109,798,240 bytes within the second every process is told in:
    #   200.116944 ops/s; 39.176704 + 109,798,240 / 1024 = 107,264.020454 KiB/s
    assert cache.peak.ops_per_s == pytest.approx(200.116944)
    assert cache.peak.kib_per_s == pytest.approx(107_264.020454)
    # The hour: 30 changes of 160 + 14 + 8 = 182 operations and 115,312,552 bytes:
    #   40.116944 + 30 x 182 / 3600 = 41.633611 ops/s; 39.176704 + 30 x 115,312,552 / 3600 / 1024 = 977.592655 KiB/s
    assert cache.hour.ops_per_s == pytest.approx(41.633611)
    assert cache.hour.kib_per_s == pytest.approx(977.592655)
    # A full rebuild: 360 families, each a manifest read, a lock, a chunk set and read back, a copy, a manifest and
    # its announcement (9 operations: 3,240), paced at 13 per family at 50/s: 93.6 s; bytes 2 x 3,600,000 +
    # 3 x 360,000 + 360 x 600.
    #   3,240 / 93.6 = 34.615385 ops/s on top of 40.116944; 8,496,000 / 93.6 / 1024 = 88.641827 KiB/s on top
    assert (cache.full_rebuild.ops, cache.full_rebuild.bytes, cache.full_rebuild_s) == (3240, 8_496_000, 93.6)
    assert cache.full_rebuild_load.ops_per_s == pytest.approx(74.732329)
    assert cache.full_rebuild_load.kib_per_s == pytest.approx(127.818531)
    # The TTL refresh: 361 families (6 operations each besides chunks) and 363 chunks read and written:
    #   361 x 6 + 2 x 363 = 2,892 operations; 2 x 6,343,956 + 2 x 361,000 + 361 x 600 = 13,626,512 bytes
    assert (cache.ttl_refresh.ops, cache.ttl_refresh.bytes) == (2892, 13_626_512)
    assert cache.largest_item_bytes == 1_000_000


def test_figures_over_80_percent_are_flagged_and_asked_for_with_room_to_spare():
    plan = plan_make(INPUTS)
    shares = {check.figure: (round(check.share, 4), check.flagged) for check in plan.cache.checks}

    assert shares == {
        "operations/s at rest": (0.4012, False),
        "operations/s at a version change": (2.0012, True),
        "operations/s over the hour": (0.4163, False),
        "operations/s in a full rebuild": (0.7473, False),
        "throughput at rest": (0.0383, False),
        "throughput at a version change": (104.75, True),
        "throughput over the hour": (0.9547, True),  # 977.59 of 1,024 KiB/s
        "throughput in a full rebuild": (0.1248, False),
        "largest item": (0.1907, False),  # 976.6 KiB of 5,120
        "TTL": (1.0, True),  # at Momento's ceiling, not over it: nothing to ask for
    }
    # Enough for the highest flagged figure to sit at 80%, rounded up to two digits:
    #   200.116944 / 0.8 = 250.1 -> 260 operations/s; 107,264.020454 / 0.8 = 134,080.0 -> 140,000 KiB/s
    assert plan.raises == (
        "Momento: raise max_traffic_rate to 260 operations/s and max_throughput_kbps to 140,000 KiB/s for cache "
        "'airtime'",
    )


def test_the_origin_with_and_without_the_cdn():
    origin = plan_make(INPUTS).origin

    # Without: 5,000 catalogs of 2,743,956 bytes a second, ceil(5,000 / 429) = 12 processes. With 98% answered by
    # the CDN: 100 req/s, 274,395,600 bytes/s, one process.
    assert (origin.without_cdn.rps, origin.without_cdn.bytes_per_s, origin.without_cdn.processes) == (
        5000, 13_719_780_000, 12
    )  # fmt: skip
    assert (origin.with_cdn.rps, origin.with_cdn.bytes_per_s, origin.with_cdn.processes) == (100, 274_395_600, 1)


def test_dynamodb_read_units_per_full_build_and_per_edit():
    store = plan_make(INPUTS).store

    # A full build scans each table in 4 segments, pages of at most 500 items, each page rounded up to 4 KB:
    #   programs: 90 items a segment x 2,777.8 = 250,000 bytes -> 62 units, x 4 = 248
    #   seasons: 150 x 400 = 60,000 -> 15, x 4 = 60
    #   episodes: 4,250 a segment = 8 pages of 500 (588,235 bytes -> 144 units) + 250 (294,118 -> 72): 1,224, x 4
    assert store.full_build == type(store.full_build)(17_960, 248 + 60 + 4_896)
    # An edit: the program by key (2,777.8 bytes -> 1 unit), its 1.67 seasons and 47.2 episodes by index
    # (666.7 bytes -> 1 unit, 55,556 bytes -> 14 units, halved: eventually consistent), the episode written by key
    # (1 unit): 9.5 units for 2 + 1.67 + 47.22 items; 30 an hour: 285.
    assert store.per_edit.read_units == 9.5
    assert store.per_edit.items == pytest.approx(50.888889)
    assert store.per_hour.read_units == 285
    assert store.checks == ()  # on demand, no maximum set: nothing to compare a scan's pace with


def test_a_provisioned_table_too_slow_for_a_full_build_is_asked_to_read_faster():
    slow = replace(TABLES[2], on_demand=False, read_units=10, write_units=5)
    plan = plan_make(replace(INPUTS, tables=(*TABLES[:2], slow)))

    # 4,896 units at 10 a second: 489.6 s, 163% of the 300-s time limit; 4,896 / (0.8 x 300) = 20.4 -> 21 units/s.
    [scan] = plan.store.checks
    assert (scan.value, scan.flagged) == (pytest.approx(489.6), True)
    assert plan.raises[-1].startswith("DynamoDB: raise the provisioned read capacity of table episodes to 21 units/s")


def test_read_units_round_each_page_and_each_item_up_to_4_kb():
    assert page_units(0, 1_000) == 1  # a page that finds nothing still costs a unit
    assert page_units(3, 1_500) == 2  # 4,500 bytes in one page
    assert page_units(1_000, 1_000, 500) == 2 * 123  # two pages of 500,000 bytes
    assert page_units(2_000, 1_000) == 256 + 233  # 1 MB pages: 1,048 items (1,048,000 bytes), then 952 (952,000)
    assert (item_units(1), item_units(4096), item_units(4097)) == (1, 1, 2)
    assert (round_up(3_510), round_up(100.03), round_up(7), round_up(0)) == (3_600, 110, 7, 0)


@contextlib.contextmanager
def commands_seen(prefix: str):
    """Yield a list that gets each command Redis runs on this test's keys while the block runs (Redis's MONITOR)."""
    url, stop = settings.CACHEOPS_REDIS_URL, f"{prefix}:monitor-stop"
    seen: list[tuple[str, list[str]]] = []
    started = threading.Event()

    def watch() -> None:
        with redis.Redis.from_url(url).monitor() as monitor:
            started.set()
            for entry in monitor.listen():
                name, *args = entry["command"].split(" ")
                if args and args[0] == stop:
                    return
                # Only keys are counted: a value (a manifest) may itself name keys.
                keys = args if name.upper() in ("MGET", "DEL") else args[:1]
                if any(key.startswith(f"{prefix}:") for key in keys):
                    seen.append((name.upper(), keys))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert started.wait(5)
    try:
        yield seen
    finally:
        redis.Redis.from_url(url).get(stop)
        watcher.join(5)


def _per_key(commands: list[tuple[str, list[str]]]) -> int:
    # Momento counts a key read as one operation, however Redis batches them.
    return sum(len(keys) for _, keys in commands)


@pytest.mark.django_db
def test_builds_and_readers_send_what_the_plan_counts(dynamodb, redis_engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 300  # several chunks, in the catalog and in the program's family
    show = show_create("呪術廻戦", "jujutsu", [f"第{n}話" for n in range(1, 7)])
    call_command("rebuild_catalog", "--sync", "--full", stdout=io.StringIO())
    reader = Reader(polling=False)
    reader.poll()
    settings.CACHEOPS_REBUILD_ON_SAVE = True  # the next save builds at once (Celery runs inline here)

    with commands_seen(redis_engine.prefix) as edit:
        services.episode_create(
            user="test", program_id=show.program.id, season_id=show.season.id, number=7, title="第7話",
            duration_s=1440, synopsis="第7話。", status="published",
        )  # fmt: skip
    with commands_seen(redis_engine.prefix) as poll:
        reader.poll()

    plan = plan_make(inputs_read(rps=0, processes=1, cdn_hit=0, changes_per_hour=1))
    manifest, _ = reassemble(redis_engine)
    assert reader.current().version == manifest["version"]  # the edit's version, fetched by that poll
    assert len(manifest["chunks"]) > 1 and plan.inputs.programs.chunks > 1
    # One save: the catalog's build and the program family's build, as counted.
    assert _per_key(edit) == plan.cache.catalog_build.ops + plan.cache.program_build.ops
    # One poll of one process after the change: the manifest, then every chunk.
    assert [name for name, _ in poll] == ["GET"] * (1 + len(manifest["chunks"]))
    assert plan.cache.polls.ops_per_s * settings.CACHEOPS_READER_POLL_SECONDS == 1
    assert plan.cache.readers_fetch.ops == 1 + len(manifest["chunks"])
    assert plan.cache.readers_fetch.bytes == len(orjson.dumps(manifest)) + manifest["compressed_bytes"]


@pytest.mark.django_db
def test_full_build_read_units_are_dynamodb_locals_own(dynamodb):
    call_command("seed_demo", programs=4, seed=1, stdout=io.StringIO())  # about 100 items, 120 KB
    usages = build_tables_describe()
    plan = plan_make(replace(INPUTS, tables=tuple(
        Table(u.name, u.items, u.bytes, u.on_demand, u.read_units, u.write_units) for u in usages
    )))  # fmt: skip
    client = boto3.client("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name="ap-northeast-1")

    for usage in usages:
        counted = consumed = 0
        for segment in range(4):  # the store's full read: 4 segments, pages of 500, strongly consistent
            pages = client.get_paginator("scan").paginate(
                TableName=settings.DYNAMODB_TABLE_PREFIX + usage.name, Segment=segment, TotalSegments=4,
                ConsistentRead=True, ReturnConsumedCapacity="TOTAL", PaginationConfig={"PageSize": 500},
            )  # fmt: skip
            for page in pages:
                counted += page["Count"]
                consumed += page["ConsumedCapacity"]["CapacityUnits"]
        estimate = scan_units(plan.inputs.tables[[t.name for t in plan.inputs.tables].index(usage.name)], 4, 500)
        assert usage.items == counted
        # The plan spreads the items evenly over the segments, the store's hash does not: each segment's page may
        # round the other way, by one unit.
        assert abs(estimate - consumed) <= 4, usage.name
    assert sum(u.items for u in usages) == plan.store.full_build.items > 90
    assert plan.store.full_build.read_units >= sum(math.ceil(u.bytes / 4096) for u in usages) > 12


def _published() -> None:
    show_create("葬送のフリーレン", "frieren", [f"第{n}話" for n in range(1, 5)])
    call_command("rebuild_catalog", "--sync", "--full", stdout=io.StringIO())


def run(capsys, *args) -> str:
    capsys.readouterr()
    call_command("capacity_plan", *args)
    return capsys.readouterr().out


@pytest.mark.django_db
def test_the_command_prints_the_plan_of_the_published_catalog(dynamodb, redis_engine, settings, capsys):
    settings.CACHEOPS_SHARED_CACHE_THROUGHPUT_KIB = 16  # a cache this small is outgrown by 40 processes' fetches
    _published()
    manifest, _ = reassemble(redis_engine)

    out = run(capsys, "--rps", "5000", "--processes", "40")

    size, chunks = manifest["compressed_bytes"], len(manifest["chunks"])
    lines, words = out.splitlines(), " ".join(out.split())
    assert lines[0] == "Capacity plan: 5,000 req/s on 40 web processes, CDN hit ratio 98%, 30 catalog versions an hour"
    assert lines[1].startswith(f"Catalog {manifest['version']} (gzip): {size:,} bytes in {chunks} chunk(s)")
    assert lines[2].startswith("Program families: 1, ")
    assert "Shared cache: 100 operations/s, 16 KiB/s, items up to 5,120 KiB, TTL up to 86,400 s" in lines
    assert "https://docs.momentohq.com/cache/limits" in out
    # 40 processes fetching the catalog within one second: 40 x its bytes, over 16 KiB/s.
    assert 40 * size > 16 * 1024
    [peak] = [line for line in lines if line.strip().startswith("throughput at a version change")]
    assert peak.endswith("OVER THE LIMIT")
    assert "- Momento: raise " in words and "max_throughput_kbps to " in words and "for cache 'airtime'" in words
    assert re.search(r"^  programs +1 items .* on demand$", out, re.M)
    assert re.search(r"^  episodes +4 items .* on demand$", out, re.M)
    assert "How long ahead:" in words
    assert (
        "- CACHEOPS_READER_POLL_SECONDS (now 30 s), the poll for a version whose announcement was lost: at 60 s"
        in words
    )
    assert "the processes poll 0.7 operations/s at rest" in words
    assert max(len(line) for line in lines) < 130


@pytest.mark.django_db
def test_json_is_one_document_whose_figures_follow_the_manifest(dynamodb, redis_engine, capsys):
    _published()
    manifest, _ = reassemble(redis_engine)

    out = run(capsys, "--rps", "1000", "--processes", "8", "--cdn-hit", "0.5", "--changes-per-hour", "12", "--json")

    assert out.count("\n") == 1
    plan = json.loads(out)
    chunks = len(manifest["chunks"])
    assert plan["inputs"]["catalog"]["chunk_bytes"] == [c["bytes"] for c in manifest["chunks"]]
    told = {"ops": 8 * (1 + chunks), "bytes": 8 * (len(orjson.dumps(manifest)) + manifest["compressed_bytes"])}
    assert plan["cache"]["readers_fetch"] == told
    assert plan["origin"]["with_cdn"]["rps"] == 500
    assert plan["origin"]["with_cdn"]["bytes_per_s"] == 500 * manifest["compressed_bytes"]
    assert plan["store"]["full_build"]["items"] == 1 + 1 + 4
    assert {c["figure"] for c in plan["cache"]["checks"]} >= {"operations/s at rest", "TTL"}


@pytest.mark.django_db
def test_an_unreachable_store_is_one_line_and_the_cache_part_is_still_planned(dynamodb, redis_engine, settings, capsys):
    _published()
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    out = run(capsys, "--rps", "5000", "--processes", "40")

    [line] = [line for line in out.splitlines() if line.startswith("DynamoDB")]
    assert line.startswith("DynamoDB: not reachable, so no read figures (DynamoDB did not describe ")
    assert "at a version change (peak)" in out and "with the CDN (98% hits)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rps", "-1", "--processes", "40"], "CommandError: --rps must be at least 0, not -1"),
        (["--rps", "nan", "--processes", "40"], "CommandError: --rps must be at least 0, not nan"),
        (["--rps", "5000", "--processes", "0"], "CommandError: --processes must be at least 1, not 0"),
        (["--rps", "5000", "--processes", "40", "--cdn-hit", "1.5"], "CommandError: --cdn-hit must be between 0 and 1"),
        (["--rps", "5000", "--processes", "4", "--process-rps", "0"], "CommandError: --process-rps must be above 0"),
        (["--rps", "5000", "--processes", "40"], "CommandError: no catalog is published in the shared cache"),
    ],
)
def test_bad_input_or_no_catalog_exits_non_zero_with_one_line(redis_engine, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        capacity_plan.Command().run_from_argv(["manage.py", "capacity_plan", *args])

    captured = capsys.readouterr()
    assert exit_.value.code == 1
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(message)
