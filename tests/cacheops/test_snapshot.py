"""What a snapshot contains, and that every way of building it gives the same bytes."""

import gzip
import hashlib
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.conf import settings

from cacheops.build import fragments, operations
from cacheops.build.snapshot import catalog_body, program_body, sources_build
from cacheops.manifest import snapshot_read
from cacheops.models import Operation
from cms import services
from cms.domain import time_parse
from cms.store.content import content_scan
from tests.cacheops.conftest import process_env, show_create

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 14, 45, tzinfo=UTC)
T1 = datetime(2026, 12, 26, 14, 45, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def body_at(as_of: datetime) -> bytes:
    return catalog_body(sources_build(content_scan()).values(), as_of)


def ids_at(as_of: datetime) -> tuple[set[str], set[str], set[str]]:
    """Program, season and episode ids in the catalog at `as_of`."""
    programs = json.loads(body_at(as_of))["programs"]
    seasons = [s for p in programs for s in p["seasons"]]
    return {p["id"] for p in programs}, {s["id"] for s in seasons}, {e["id"] for s in seasons for e in s["episodes"]}


# Computes the catalog from a fresh read in a process of its own, whose string hashes (set order) differ.
FRESH_BODY = """
import hashlib
import sys

import django

django.setup()
from cacheops.build.snapshot import catalog_body, sources_build
from cms.domain import time_parse
from cms.store.content import content_scan

print(hashlib.sha256(catalog_body(sources_build(content_scan()).values(), time_parse(sys.argv[1]))).hexdigest())
"""


def test_the_same_content_gives_the_same_bytes_whatever_order_or_process_reads_it(dynamodb, redis_engine, tmp_path):
    kimetsu = show_create("鬼滅の刃", "kimetsu", ["残酷", "育手", "錆兎と真菰"], sort_order=1)
    services.season_create(user="test", program_id=kimetsu.program.id, title="立志編", status="published", sort_order=1)
    show_create("SPY×FAMILY", "spy-family", ["オペレーション〈梟〉", "妻役を確保せよ"], sort_order=1)
    show_create("ぼっち・ざ・ろっく！", "bocchi", ["転がるぼっち"], sort_order=0)

    first = operations.catalog_rebuild(full=True)
    second = operations.catalog_rebuild(full=True)
    manifest, published = snapshot_read("catalog")

    assert second.version_after == first.version_after
    assert (first.result, second.result) == ("published", "unchanged")
    as_of = time_parse(manifest["as_of"])
    content = content_scan()
    for seed in range(4):
        rng = random.Random(seed)
        shuffled = tuple(rng.sample(part, len(part)) for part in content)
        assert catalog_body(sources_build(shuffled).values(), as_of) == published
    assert catalog_body(fragments.sources_load().values(), as_of) == published  # the stored sources, too
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH_BODY, manifest["as_of"]],
        cwd=settings.BASE_DIR,
        env=process_env(tmp_path, PYTHONHASHSEED="12345"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert fresh.stdout.strip() == hashlib.sha256(published).hexdigest()


def test_a_program_is_in_the_catalog_from_publish_at_until_just_before_expire_at(dynamodb):
    show = show_create("呪術廻戦", "jujutsu", ["両面宿儺"], publish_at=T0, expire_at=T1)
    program = show.program.id

    assert program not in ids_at(T0 - SECOND)[0]
    assert program in ids_at(T0)[0]
    assert program in ids_at(T1 - SECOND)[0]
    assert program not in ids_at(T1)[0]


def test_an_episode_follows_its_own_window_inside_its_program(dynamodb):
    show = show_create("葬送のフリーレン", "frieren", ["冒険の終わり"])
    later = services.episode_create(
        user="test",
        program_id=show.program.id,
        season_id=show.season.id,
        number=2,
        title="別に魔法じゃなくたって…",
        duration_s=1440,
        status="published",
        publish_at=T0,
        expire_at=T0 + timedelta(hours=2),
    )

    assert later.id not in ids_at(T0 - SECOND)[2]
    assert later.id in ids_at(T0)[2]
    assert later.id in ids_at(T0 + timedelta(hours=2) - SECOND)[2]
    assert later.id not in ids_at(T0 + timedelta(hours=2))[2]
    assert show.episodes[0].id in ids_at(T0 - SECOND)[2]


def test_drafts_are_left_out_and_an_episode_needs_its_program_and_season_live(dynamodb):
    live = show_create("ワンピース", "one-piece", ["俺はルフィ"])
    draft_episode = services.episode_create(
        user="test", program_id=live.program.id, season_id=live.season.id, number=2, title="未公開", duration_s=60
    )
    draft_program = show_create("準備中", "draft-program", ["第1話"], status="draft")
    draft_season = show_create("季節待ち", "draft-season", ["第1話"], season_status="draft")
    future_program = show_create("来年", "next-year", ["第1話"], publish_at=T1)
    expired_program = show_create("終了", "ended", ["第1話"], expire_at=T0)

    programs, seasons, episodes = ids_at(T0)

    assert programs == {live.program.id, draft_season.program.id}
    assert seasons == {live.season.id}
    assert episodes == {live.episodes[0].id}
    left_out = [draft_episode, *draft_program.episodes, *draft_season.episodes]
    left_out += [*future_program.episodes, *expired_program.episodes]
    assert not {e.id for e in left_out} & episodes
    sources = sources_build(content_scan())
    assert json.loads(program_body(sources[draft_program.program.id], T0)) == {"program": None}
    assert json.loads(program_body(sources[live.program.id], T0))["program"]["id"] == live.program.id


def test_the_body_is_canonical_utf8_json(dynamodb):
    show_create(
        "鬼滅の刃", "kimetsu", ["残酷", '育手 "鱗滝左近次"'], description="大正時代、\n家族を鬼に殺された少年。"
    )

    body = body_at(T0)

    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert "鬼滅の刃".encode() in body and "大正時代、\\n家族".encode() in body
    assert b"\\u" not in body
    [program] = json.loads(body)["programs"]
    assert [e["title"] for e in program["seasons"][0]["episodes"]] == ["残酷", '育手 "鱗滝左近次"']


def test_the_body_holds_content_only_and_the_manifest_holds_the_build(dynamodb, redis_engine):
    show_create("チェンソーマン", "chainsaw", ["犬とチェンソー"])

    operations.catalog_rebuild(as_of=T0, full=True)

    manifest, body = snapshot_read("catalog")
    assert manifest["as_of"] == "2026-11-26T14:45:00Z" and manifest["built_at"]
    assert body == body_at(T1)  # another instant, same content: same bytes
    for needle in (b"as_of", b"built_at", b"expires_at", b"2026-11-26T14:45", b"status", b"updated_by"):
        assert needle not in body
    assert set(json.loads(body)) == {"programs"}


def test_incremental_rebuilds_after_edits_equal_a_full_rebuild_byte_for_byte(dynamodb, redis_engine, settings):
    settings.CACHEOPS_REBUILD_ON_SAVE = True  # every save rebuilds at once (Celery runs eagerly here)
    kept = show_create("薬屋のひとりごと", "kusuriya", ["猫猫", "後宮"])
    gone = show_create("打ち切り", "cancelled", ["第1話"])
    services.program_update(program_id=kept.program.id, version=kept.program.version, user="test", title="薬屋の独り言")
    second = kept.episodes[1]
    services.episode_update(episode_id=second.id, version=second.version, user="test", status="draft")
    services.program_delete(program_id=gone.program.id, version=gone.program.version, user="test")
    added = show_create("ダンダダン", "dandadan", ["それって恋の始まりじゃねーの"])

    manifest, incremental = snapshot_read("catalog")
    last = Operation.objects.filter(kind="rebuild", family="catalog").first()
    assert last.detail.startswith("incremental")

    assert incremental == body_at(datetime.now(UTC))
    full = operations.catalog_rebuild(full=True)
    assert (full.result, full.version_after) == ("unchanged", manifest["version"])
    programs = json.loads(incremental)["programs"]
    assert [(p["id"], p["title"]) for p in programs] == [
        (kept.program.id, "薬屋の独り言"),
        (added.program.id, "ダンダダン"),
    ]
    episodes = {e["id"] for p in programs for s in p["seasons"] for e in s["episodes"]}
    assert episodes == {kept.episodes[0].id, added.episodes[0].id}


class RawTables:
    """Plain boto3 scans of the content tables."""

    def __init__(self):
        self.client = boto3.client(
            "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
        )

    def scan(self, name: str) -> list[dict]:
        pages = self.client.get_paginator("scan").paginate(
            TableName=settings.DYNAMODB_TABLE_PREFIX + name, ConsistentRead=True
        )
        return [{k: next(iter(v.values())) for k, v in item.items()} for page in pages for item in page["Items"]]


def published_now(at: str) -> tuple[dict[str, str], dict[str, str]]:
    """Programs and episodes (id -> title) published at `at`, worked out from the raw items."""

    def live(item: dict) -> bool:
        return (
            item["status"] == "published"
            and item.get("publish_at", at) <= at
            and (item.get("expire_at") is None or at < item["expire_at"])
        )

    tables = RawTables()
    programs = {p["id"]: p["title"] for p in tables.scan("programs") if live(p) and "deleted_at" not in p}
    seasons = {s["id"] for s in tables.scan("seasons") if live(s) and s["program_id"] in programs}
    episodes = {
        e["id"]: e["title"]
        for e in tables.scan("episodes")
        if live(e) and e["season_id"] in seasons and e["program_id"] in programs
    }
    return programs, episodes


def test_the_published_catalog_read_straight_from_redis_matches_the_content_tables(dynamodb, redis_engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 500
    now = datetime.now(UTC)
    show_create("進撃の巨人", "shingeki", ["二千年後の君へ", "その日"])
    show_create("来週から", "next-week", ["第1話"], publish_at=now + timedelta(days=7))
    show_create("配信終了", "ended", ["第1話"], expire_at=now - timedelta(days=1))
    show_create("下書き", "draft", ["第1話"], status="draft")
    hidden_season = show_create("休止中", "paused", ["第1話"], season_status="draft")
    window = show_create(
        "期間限定", "limited", ["第1話"], publish_at=now - timedelta(days=1), expire_at=now + timedelta(days=1)
    )
    services.episode_create(
        user="test", program_id=window.program.id, season_id=window.season.id, number=2, title="下書き回", duration_s=60
    )
    deleted = show_create("削除済み", "deleted", ["第1話"])
    services.program_delete(program_id=deleted.program.id, version=deleted.program.version, user="test")
    for n in range(12):
        show_create(f"番組{n:02d}", f"bangumi-{n:02d}", [f"第{k}話" for k in range(1, 4)], sort_order=n)

    operations.catalog_rebuild(full=True)

    client = redis_engine.client
    manifest = json.loads(client.get(f"{redis_engine.prefix}:catalog:manifest"))
    parts = [client.get(entry["key"]) for entry in manifest["chunks"]]
    assert len(parts) > 1
    for entry, part in zip(manifest["chunks"], parts, strict=True):
        assert hashlib.sha256(part).hexdigest() == entry["sha256"]
    stream = b"".join(parts)
    assert hashlib.sha256(stream).hexdigest() == manifest["sha256"]
    body = gzip.decompress(stream)
    assert hashlib.sha256(body).hexdigest()[:16] == manifest["version"]
    catalog = json.loads(body)

    programs, episodes = published_now(manifest["as_of"])
    assert {p["id"]: p["title"] for p in catalog["programs"]} == programs
    assert {e["id"]: e["title"] for p in catalog["programs"] for s in p["seasons"] for e in s["episodes"]} == episodes
    assert hidden_season.program.id in programs and window.program.id in programs
    assert len(programs) == 15 and len(episodes) == 2 + 1 + 36
