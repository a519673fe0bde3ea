"""Ops' actions around an airtime (rollback pins, resume, purge) and the readers at T, against the release state
kept in SQL: each case here was once reproduced on a release evening."""

import json
import threading
from datetime import timedelta

import pytest

from cacheops import clock
from cacheops.build import operations
from cacheops.models import Family
from cacheops.read.reader import reader_get, readers_stop
from cacheops.release import boundaries, release_actions
from cms import services
from tests.cacheops.conftest import reassemble, show_create, wait_for
from tests.cacheops.test_airtime import Clock, in_catalog, staged_ahead
from tests.cacheops.test_cdn import sent
from tests.gate_proxy import GateProxy

CATALOG = operations.CATALOG


@pytest.fixture
def night(engine, settings, transactional_db, dynamodb, monkeypatch):
    """The read path on each backend with a clock the test sets; yields (view, clock)."""
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    controlled = Clock()
    monkeypatch.setattr(clock, "now", controlled)
    readers_stop()
    yield engine, controlled
    readers_stop()


def row() -> Family:
    return Family.objects.get(name=CATALOG)


def served(api_client) -> str:
    return api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")["ETag"].strip('"')


def aired(api_client, show, now):
    """A catalog with an episode going live at T, staged; then T passes and the tick records it."""
    before = operations.catalog_rebuild(requested_by="test", full=True).version_after
    _, instant = staged_ahead(show, title="最終話", publish_at=True)
    reader = reader_get()
    assert wait_for(lambda: reader.current() is not None and reader.staged() is not None, 10)
    now.at = instant + timedelta(seconds=1)
    assert boundaries.airtime_due() == "published"
    after = row().current_version
    assert after != before and wait_for(lambda: served(api_client) == after, 10)
    return before, after, instant


def test_a_rollback_after_an_airtime_stays_through_ticks_edits_and_later_boundaries_until_resumed(night, api_client):
    view, now = night
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    before, after, instant = aired(api_client, show, now)

    op = release_actions.rollback(family=CATALOG, requested_by="oki", reason="最終話の字幕に誤り")
    assert (op.result, op.version_after) == ("pinned", before)
    assert wait_for(lambda: served(api_client) == before, 10) and not in_catalog(api_client, "最終話")

    # The beat's ticks, a clock jump past the boundary, and an editor's save with its build: all wait.
    for minutes in (0, 1, 30):
        now.at = instant + timedelta(minutes=minutes, seconds=2)
        assert boundaries.airtime_due() in ("idle", "staged", "pinned")
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="フリーレン")
    build = operations.catalog_rebuild(requested_by="test", full=True)
    assert (build.result, build.version_after) == ("waiting", before)
    state = row()
    assert (state.current_version, state.pinned_by, state.pin_reason) == (before, "oki", "最終話の字幕に誤り")
    latest = state.latest_version
    assert latest not in (before, after)
    assert reassemble(view)[0]["version"] == before and reassemble(view)[0]["pinned"] is True
    assert served(api_client) == before and not in_catalog(api_client, "最終話")

    release_actions.resume(family=CATALOG, requested_by="oki")
    assert wait_for(lambda: served(api_client) == latest, 10)
    assert in_catalog(api_client, "最終話") and row().pinned_at is None


def test_a_rollback_takes_effect_at_once_while_a_dead_build_holds_the_lock(night, api_client):
    view, now = night
    show = show_create("ダンジョン飯", "dungeon", ["水炊き"])
    first = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="誤")
    second = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert wait_for(lambda: served(api_client) == second, 10)
    view.set(f"{view.prefix}:catalog:lock", b'{"build": "dead", "host": "w1", "pid": 1, "operation": null}', 600)

    op = release_actions.rollback(family=CATALOG, requested_by="oki")

    assert (op.result, op.version_before, op.version_after) == ("pinned", second, first)
    assert wait_for(lambda: served(api_client) == first, 10)


def test_a_purged_version_is_never_previous_never_restored_and_a_rebuild_of_it_is_held_back(night, api_client):
    view, now = night
    show = show_create("薬屋のひとりごと", "kusuriya", ["猫猫"])
    good = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="漏洩")
    bad = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert wait_for(lambda: served(api_client) == bad, 10)

    release_actions.purge(family=CATALOG, requested_by="oki")
    assert wait_for(lambda: served(api_client) == good, 10)
    assert row().previous_version != bad and "漏洩" not in json.dumps(reassemble(view)[0], ensure_ascii=False)
    with pytest.raises(release_actions.ReleaseRefused, match="purged"):
        release_actions.rollback(family=CATALOG, version=bad, requested_by="oki")

    # The store still holds what was purged: the full rebuild the purge queued makes the same version again.
    again = operations.catalog_rebuild(requested_by="test", full=True)
    assert (again.result, again.version_after) == ("held", good)
    assert row().held_back == {"version": bad} and served(api_client) == good

    release_actions.accept(family=CATALOG, requested_by="oki")
    assert wait_for(lambda: served(api_client) == bad, 10)


def test_a_rollback_after_the_cache_lost_everything_says_why_it_cannot_restore(night, api_client):
    view, now = night
    show = show_create("呪術廻戦", "jujutsu", ["呪胎戴天"])
    first = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="呪術")
    operations.catalog_rebuild(requested_by="test", full=True)
    for name in view.keys():  # the cache restarted empty
        view.delete(name)

    with pytest.raises(release_actions.ReleaseRefused, match=f"Version {first} can no longer be restored"):
        release_actions.rollback(family=CATALOG, requested_by="oki")
    assert row().previous_version == first  # SQL still knows it; the refusal names it


@pytest.fixture
def gated(redis_engine, settings):
    """The cache engine reaches Redis through a proxy the test can hold."""
    from cacheops.backends import backend_reset

    proxy = GateProxy(int(settings.CACHEOPS_REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    settings.CACHEOPS_REDIS_URL = proxy.url
    backend_reset()
    yield proxy
    proxy.close()
    backend_reset()


def test_a_poll_that_read_the_manifest_before_T_never_undoes_the_switch_a_request_made_at_T(
    gated, redis_engine, settings, transactional_db, dynamodb, monkeypatch, api_client
):
    now = Clock()
    monkeypatch.setattr(clock, "now", now)
    settings.CACHEOPS_READER_POLL_SECONDS = 3600  # the test drives the rounds
    settings.CACHEOPS_READER_SUBSCRIBE = False  # nor do announcements
    readers_stop()
    show = show_create("チェンソーマン", "chainsaw", ["犬と鎖"])
    operations.catalog_rebuild(requested_by="test", full=True)
    _, instant = staged_ahead(show, title="最終話", publish_at=True)
    reader = reader_get()
    assert reader.current(wait_s=10) is not None
    reader.poll()
    assert reader.staged() is not None
    # A save just before T: a new current version and a new staged one, which the poll below reads.
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="チェンソー")
    operations.catalog_rebuild(requested_by="test", full=True)
    held_staged = reader.staged().version
    assert row().staged_version != held_staged

    current_chunks = len(reassemble(redis_engine)[0]["chunks"])
    gated.hold_after(1)  # the poll reads the manifest, then waits to fetch the new current version
    polling = threading.Thread(target=reader.poll)
    polling.start()
    try:
        assert wait_for(gated.stopped, 10)
        now.at = instant  # T: a request switches this process to the staged version it holds
        assert reader.current().version == held_staged and in_catalog(api_client, "最終話")
        gated.hold_after(current_chunks)  # the older current version arrives; the new staged one waits
        assert wait_for(gated.stopped, 10) and polling.is_alive()
        assert in_catalog(api_client, "最終話")  # still: what was switched to at T is not replaced by older content
    finally:
        gated.release()
        polling.join(10)

    # The poll's older current version (as of before T) is not installed over the switch.
    assert in_catalog(api_client, "最終話") and reader.current().as_of >= instant
    reader.poll()
    assert reader.current().version == row().staged_version and in_catalog(api_client, "最終話")


def test_a_rollback_before_an_airtime_holds_through_T_and_resume_after_T_goes_live_at_once(night, api_client):
    view, now = night
    show = show_create("スパイファミリー", "spy", ["オペレーション〈梟〉"])
    operations.catalog_rebuild(requested_by="test", full=True)
    services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="誤記")
    _, instant = staged_ahead(show, title="最終話", publish_at=True)
    bad = row().current_version
    assert row().staged_version

    pinned = release_actions.rollback(family=CATALOG, requested_by="oki").version_after
    assert pinned != bad and wait_for(lambda: served(api_client) == pinned, 10)
    now.at = instant + timedelta(seconds=5)
    assert boundaries.airtime_due() in ("idle", "staged", "pinned")
    assert row().current_version == pinned and served(api_client) == pinned and not in_catalog(api_client, "最終話")

    release_actions.resume(family=CATALOG, requested_by="oki")  # the instant passed: the staged version, at once
    assert wait_for(lambda: in_catalog(api_client, "最終話"), 10)
    assert row().current_version != pinned and row().pinned_at is None


def test_purge_rollback_and_resume_each_send_one_cdn_invalidation_of_the_public_paths(
    night, api_client, cloudfront, distribution
):
    view, now = night
    show = show_create("ぼっち・ざ・ろっく！", "bocchi", ["転がるぼっち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    wrong = services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="誤記")
    bad = operations.catalog_rebuild(requested_by="test", full=True).version_after

    release_actions.purge(family=CATALOG, requested_by="oki")
    services.program_update(program_id=show.program.id, version=wrong.version, user="eri", title="修正")
    operations.catalog_rebuild(requested_by="test", full=True)
    release_actions.rollback(family=CATALOG, requested_by="oki")
    release_actions.resume(family=CATALOG, requested_by="oki")

    batches = sent(cloudfront, distribution)
    paths = [set(batch["Paths"]["Items"]) for batch in batches]
    common = {"/api/catalog", "/api/catalog/manifest", "/api/programs/*"}
    assert paths == [common | {f"/api/catalog/chunks/{bad}/*"}, common, common]
    recorded = row().cdn
    assert recorded["id"] and recorded["status"] and recorded["paths"] == sorted(common)


def test_purging_a_pinned_version_never_falls_back_to_the_version_ops_rolled_away_from(night, api_client):
    view, now = night
    show = show_create("ハイキュー!!", "haikyu", ["終わりと始まり"])
    oldest = operations.catalog_rebuild(requested_by="test", full=True).version_after
    first = services.program_update(program_id=show.program.id, version=show.program.version, user="eri", title="A")
    pinned = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.program_update(program_id=show.program.id, version=first.version, user="eri", title="B")
    rolled_away = operations.catalog_rebuild(requested_by="test", full=True).version_after
    release_actions.rollback(family=CATALOG, version=pinned, requested_by="oki")

    release_actions.purge(family=CATALOG, requested_by="oki")

    # The pin holds on the version before it, through the rebuild the purge queued, until ops resume.
    assert (row().current_version, row().latest_version) == (oldest, rolled_away) and row().pinned_at is not None
    assert wait_for(lambda: served(api_client) == oldest, 10)
    release_actions.resume(family=CATALOG, requested_by="oki")
    assert wait_for(lambda: served(api_client) == rolled_away, 10)
