"""Airtime: the snapshot of each publish_at / expire_at is staged ahead and served from that instant exactly.

The readers' clock is the test's (cacheops.clock), so instants are set, never waited for.
"""

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from cacheops import clock
from cacheops.build import operations
from cacheops.keys import chunk_path
from cacheops.models import Operation
from cacheops.read.reader import reader_get, readers_stop
from cacheops.release import boundaries
from cms import services
from cms.domain import time_parse, time_text
from tests.cacheops.conftest import reassemble, show_create, wait_for

EDGE_TOKEN = "edge-secret-token"


class Clock:
    """A clock the test sets; until then it tells the real time."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


@pytest.fixture
def airtime(engine, settings, transactional_db, dynamodb, monkeypatch):
    """The read path on each backend with a clock the test controls; yields (view, clock)."""
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    settings.CACHEOPS_EDGE_TOKEN = EDGE_TOKEN
    controlled = Clock()
    monkeypatch.setattr(clock, "now", controlled)
    readers_stop()
    yield engine, controlled
    readers_stop()


def in_catalog(api_client, title: str) -> bool:
    response = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    programs = json.loads(gzip.decompress(response.content))["programs"]
    return any(e["title"] == title for p in programs for s in p["seasons"] for e in s["episodes"])


def in_program(api_client, program_id: str, title: str) -> bool:
    program = json.loads(api_client.get(f"/api/programs/{program_id}").content)["program"]
    return any(e["title"] == title for s in program["seasons"] for e in s["episodes"])


def staged_ahead(show, *, title: str, **window):
    """Add an episode with a publish_at or expire_at two minutes ahead and rebuild; return (episode, instant)."""
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    episode = services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=len(show.episodes) + 1,
        title=title, duration_s=1440, status="published", **{k: instant for k in window},
    )  # fmt: skip
    op = operations.catalog_rebuild(requested_by="test", full=True)
    assert "staged" in op.detail, op.detail
    return episode, instant


def test_an_episode_appears_at_its_publish_at_and_not_a_moment_before(airtime, api_client):
    view, now = airtime
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    _, instant = staged_ahead(show, title="最終話", publish_at=True)

    manifest, _ = reassemble(view)
    assert manifest["staged"]["activate_at"] == time_text(instant)
    assert manifest["next_boundary"] == time_text(instant)
    reader = reader_get()
    assert wait_for(lambda: reader.current() is not None and reader.staged() is not None, 10)

    now.at = instant - timedelta(microseconds=1)
    assert not in_catalog(api_client, "最終話")
    assert not in_program(api_client, show.program.id, "最終話")
    cache = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")["Cache-Control"]
    assert cache == "public, max-age=0, must-revalidate"  # less than a second left

    now.at = instant
    assert in_catalog(api_client, "最終話")
    assert in_program(api_client, show.program.id, "最終話")


def test_an_episode_leaves_at_its_expire_at(airtime, api_client):
    view, now = airtime
    show = show_create("薬屋のひとりごと", "kusuriya", ["猫猫"])
    operations.catalog_rebuild(requested_by="test", full=True)
    _, instant = staged_ahead(show, title="配信終了", expire_at=True)
    reader = reader_get()
    assert wait_for(lambda: reader.current() is not None and reader.staged() is not None, 10)

    now.at = instant - timedelta(seconds=1)
    assert in_catalog(api_client, "配信終了")
    cache = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")["Cache-Control"]
    assert cache == "public, max-age=1"  # no cache keeps it past the expiry
    now.at = instant
    assert not in_catalog(api_client, "配信終了")


def test_the_staged_version_is_embargoed_until_its_instant(airtime, api_client):
    view, now = airtime
    show = show_create("ダンジョン飯", "dungeon", ["水炊き"])
    operations.catalog_rebuild(requested_by="test", full=True)
    _, instant = staged_ahead(show, title="ドラゴン", publish_at=True)
    staged = reassemble(view)[0]["staged"]
    reader = reader_get()
    assert wait_for(lambda: reader.current() is not None and reader.staged() is not None, 10)

    now.at = instant - timedelta(seconds=30)
    public = api_client.get("/api/catalog/manifest").content.decode()
    assert "staged" not in json.loads(public) and staged["version"] not in public
    chunk = chunk_path(staged["version"], staged["chunks"][0])
    assert api_client.get(chunk).status_code == 404
    assert api_client.get(chunk, HTTP_X_EDGE_TOKEN="wrong").status_code == 404
    edge = api_client.get(chunk, HTTP_X_EDGE_TOKEN=EDGE_TOKEN)
    assert edge.status_code == 200 and edge.content == view.get(staged["chunks"][0]["key"])

    now.at = instant
    assert api_client.get(chunk).status_code == 200
    assert json.loads(api_client.get("/api/catalog/manifest").content)["version"] == staged["version"]


def test_an_edit_after_staging_stages_again(airtime, api_client):
    view, now = airtime
    show = show_create("チェンソーマン", "chainsaw", ["犬と鎖"])
    operations.catalog_rebuild(requested_by="test", full=True)
    episode, instant = staged_ahead(show, title="仮タイトル", publish_at=True)
    first = reassemble(view)[0]["staged"]["version"]

    services.episode_update(episode_id=episode.id, version=episode.version, user="test", title="本タイトル")
    op = operations.catalog_rebuild(requested_by="test", full=True)
    assert op.result == "unchanged"  # nothing visible changed now, but the staged snapshot did
    second = reassemble(view)[0]["staged"]["version"]
    assert second != first
    reader = reader_get()
    assert wait_for(lambda: reader.current() is not None and getattr(reader.staged(), "version", "") == second, 10)
    now.at = instant
    assert in_catalog(api_client, "本タイトル") and not in_catalog(api_client, "仮タイトル")


def test_the_airtime_tick_stages_activates_and_catches_up(airtime, settings, monkeypatch):
    view, _ = airtime
    show = show_create("呪術廻戦", "jujutsu", ["両面宿儺"])
    operations.catalog_rebuild(requested_by="test", full=True)
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0  # nothing staged by the rebuild: the tick must do it
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="渋谷事変",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    assert reassemble(view)[0]["staged"] is None
    assert boundaries.airtime_due() == "idle"  # two minutes away, stage-ahead 0 s

    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    assert boundaries.airtime_due() == "staged"
    staged = reassemble(view)[0]["staged"]
    assert time_parse(staged["activate_at"]) == instant
    assert boundaries.airtime_due() == "idle"  # staged once

    monkeypatch.setattr(clock, "now", lambda: instant + timedelta(seconds=3))
    assert boundaries.airtime_due() == "published"
    current = reassemble(view)[0]
    assert current["version"] == staged["version"] and current["staged"] is None
    activation = Operation.objects.filter(kind="activate").latest("id")
    assert "recorded 3 s later" in activation.detail


def test_a_boundary_missed_while_no_worker_ran_is_caught_up(airtime, settings, monkeypatch):
    view, _ = airtime
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0
    show = show_create("ぼっち・ざ・ろっく！", "bocchi", ["転がるぼっち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="ぼっち・ざ・ろっく",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)

    monkeypatch.setattr(clock, "now", lambda: instant + timedelta(minutes=7))
    assert boundaries.airtime_due() == "caught up"
    titles = {
        e["title"]
        for p in json.loads(gzip.decompress(reassemble(view)[1]))["programs"]
        for s in p["seasons"]
        for e in s["episodes"]
    }
    assert "ぼっち・ざ・ろっく" in titles
    assert "420 s late" in Operation.objects.filter(kind="rebuild", requested_by="beat").latest("id").detail


def test_the_staged_version_is_decoded_and_indexed_before_its_instant(airtime, api_client):
    view, now = airtime
    show = show_create("ぼっち・ざ・ろっく！", "bocchi", ["転がるぼっち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    staged_ahead(show, title="最終話", publish_at=True)
    reader = reader_get()

    # The poller prepared it: requests at T find the program index built, with nothing left to wait for.
    assert wait_for(lambda: reader.current() is not None and reader.staged() is not None, 10)
    assert reader.staged()._programs is not None
    assert reader.staged().program(show.program.id) is not None
