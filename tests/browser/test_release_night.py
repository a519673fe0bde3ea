"""A release night in Chromium, as ops and viewers notice it: a rollback after an airtime holds through the beat's
ticks, a later boundary and an editor's save until ops resume; a purge takes a version's chunk URLs down within one
reader poll.

The live server, its reader and the beat's tick all read the test's clock (cacheops.clock): instants are set, never
waited for. What the reader does is waited for with bounded loops on conditions, never a fixed sleep.
"""

import gzip
import itertools
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from cacheops.build import operations
from cacheops.models import Family, Operation
from cacheops.read.reader import reader_get
from cacheops.release import boundaries
from cms import services
from cms.broadcast import JST
from tests.browser.conftest import staff_login
from tests.cacheops.conftest import show_create, wait_for

pytestmark = pytest.mark.browser

AIRTIME = datetime(2031, 4, 12, 23, 45, tzinfo=JST)
LATER = AIRTIME + timedelta(minutes=30)  # the next episode's publish_at: a boundary that passes during the pin
LATER_TEXT = "2031-04-13 00:15"
SHOW = "葬送のフリーレン"
RENAMED = "葬送のフリーレン 第2クール"
FIRST, FINALE, EPILOGUE = "旅立ち", "最終話", "エピローグ"
REASON = "最終話の字幕に誤り"
FAMILY_URL = "/admin/cacheops/family/catalog/"
# What one reader round costs on top of its poll interval: a manifest read and the fetch of the version served next.
ROUND_S = 0.5
NUMBERS = itertools.count(1)


def get(server, path: str) -> tuple[int, bytes, dict]:
    """GET a public path from the real server as a viewer's app does (gzip accepted): status, body, headers."""
    request = urllib.request.Request(f"{server.url}{path}", headers={"Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
    return status, body, headers


def api_get(server, path: str) -> tuple[dict, dict]:
    status, body, headers = get(server, path)
    assert status == 200, (path, status, body[:200])
    return json.loads(body), headers


def served(server) -> str:
    """The catalog version the API serves, by its ETag."""
    return api_get(server, "/api/catalog")[1]["ETag"].strip('"')


def titles(server) -> set[str]:
    """Every program and episode title the public catalog shows."""
    catalog, _ = api_get(server, "/api/catalog")
    shown = set()
    for program in catalog["programs"]:
        shown.add(program["title"])
        shown |= {e["title"] for s in program["seasons"] for e in s["episodes"]}
    return shown


def row() -> Family:
    return Family.objects.get(name=operations.CATALOG)


def reader_caught_up() -> bool:
    """The server's reader has read the release state's latest revision (nothing it may still switch to)."""
    held = reader_get().current()
    return held is not None and held.revision == row().revision


def current_version(page) -> str:
    return page.inner_text("#family-facts tr:nth-child(2) td code")


def test_a_rollback_after_an_airtime_holds_through_ticks_a_later_boundary_and_a_save_until_ops_resume(
    new_page, server, fake_clock, settings
):
    show = show_create(SHOW, "frieren", [FIRST])
    for number, title, at in ((2, FINALE, AIRTIME), (3, EPILOGUE, LATER)):
        services.episode_create(
            user="test", program_id=show.program.id, season_id=show.season.id, number=number, title=title,
            duration_s=1440, status="published", publish_at=at,
        )  # fmt: skip
    before = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert served(server) == before and FINALE not in titles(server)

    # 23:40: the beat's tick stages the catalog as of 23:45; the server's reader fetches it ahead.
    fake_clock.set(AIRTIME - timedelta(minutes=5))
    assert boundaries.airtime_due() == "staged"
    assert wait_for(lambda: reader_get().staged() is not None, 10), "the reader never fetched the staged version"
    # 23:45:01: the tick records the activation; viewers get the finale.
    fake_clock.set(AIRTIME + timedelta(seconds=1))
    assert boundaries.airtime_due() == "published"
    after = row().current_version
    assert after != before
    assert wait_for(lambda: served(server) == after, 10)
    assert FINALE in titles(server) and EPILOGUE not in titles(server)

    # Ops roll back from the console: the confirmation page names what goes, by title, and asks why.
    ops = new_page()
    ops_user = staff_login(ops, server.url, f"ops-night{next(NUMBERS)}", group="Ops")
    ops.goto(f"{server.url}/admin/cacheops/")
    ops.click("#catalog-card .family-link")
    ops.wait_for_url(f"{server.url}{FAMILY_URL}")
    ops.click("#family-actions a.action-rollback")
    ops.wait_for_url(f"{server.url}{FAMILY_URL}rollback/")
    expect(ops.locator("#earlier-versions tr.chosen")).to_have_attribute("data-version", before)
    removed = ops.locator("#rollback-changes .change-removed.changes-episodes")
    expect(removed.locator(".changed-title")).to_have_text([FINALE])
    expect(removed.locator(".changed-program")).to_have_text([SHOW])
    expect(ops.locator("#rollback-changes .change-added")).to_have_count(0)
    ops.fill("#rollback-form textarea[name=reason]", REASON)
    ops.click("#rollback-form button[type=submit]")
    ops.wait_for_url(f"{server.url}{FAMILY_URL}")

    assert current_version(ops) == before
    banner = ops.locator("#pin-banner")
    expect(banner.locator(".pin-who")).to_contain_text(ops_user.username)
    expect(banner.locator(".pin-reason")).to_contain_text(REASON)
    expect(banner.locator(".pin-waiting").first).to_contain_text(after)
    assert wait_for(lambda: served(server) == before, 10), "the rollback never reached the API"
    assert FINALE not in titles(server)

    # The beat keeps ticking: right after, a minute later, near the next boundary (it is staged behind the pin),
    # past it, and half an hour after that.
    ticks = []
    for at in (AIRTIME + timedelta(seconds=2), AIRTIME + timedelta(minutes=1), LATER - timedelta(minutes=5)):
        fake_clock.set(at)
        ticks.append(boundaries.airtime_due())
    assert ticks == ["idle", "idle", "staged"]
    assert row().staged_at == LATER.astimezone(UTC)

    # An editor renames the show in the admin (a real form save, which queues a build: it waits behind the pin).
    settings.CACHEOPS_REBUILD_ON_SAVE = True
    editor = new_page()
    editor_user = staff_login(editor, server.url, f"editor-night{next(NUMBERS)}", group="Editors")
    editor.goto(f"{server.url}/admin/cms/program/{show.program.id}/change/")
    editor.fill("#id_title", RENAMED)
    editor.click("#program_form [name=_save]")
    editor.wait_for_url(f"{server.url}/admin/cms/program/")
    expect(editor.locator(".messagelist .success")).to_have_count(1)
    build = Operation.objects.filter(kind="rebuild", family=operations.CATALOG).order_by("-id").first()
    assert (build.result, build.version_after, build.requested_by) == ("waiting", before, editor_user.username)
    waiting = row().latest_version
    assert waiting not in (before, after)

    for at in (LATER + timedelta(seconds=1), LATER + timedelta(minutes=30)):
        fake_clock.set(at)
        ticks.append(boundaries.airtime_due())
    assert ticks[3:] == ["pinned", "pinned"]

    state = row()
    assert (state.current_version, state.pinned_by, state.pin_reason) == (before, ops_user.username, REASON)
    assert wait_for(reader_caught_up, 10), "the reader never read the latest release state"
    catalog_manifest, _ = api_get(server, "/api/catalog/manifest")
    assert served(server) == before and catalog_manifest["version"] == before
    shown = titles(server)
    assert FINALE not in shown and EPILOGUE not in shown and RENAMED not in shown and SHOW in shown
    program, _ = api_get(server, f"/api/programs/{show.program.id}")
    assert program["program"]["title"] == SHOW

    # The overview shows the pin, and the passed boundary it holds back as not ready; the banner says what waits.
    ops.goto(f"{server.url}/admin/cacheops/")
    expect(ops.locator("#catalog-card .state-badge")).to_have_class("state-badge state-pinned")
    expect(ops.locator("#airtime-unready")).to_contain_text(LATER_TEXT)
    ops.click("#catalog-card .family-link")
    ops.wait_for_url(f"{server.url}{FAMILY_URL}")
    expect(ops.locator("#pin-banner .pin-who")).to_contain_text(ops_user.username)
    expect(ops.locator("#pin-banner .pin-waiting").first).to_contain_text(waiting)

    # Ops resume: the newest version is current at once, with the finale, the epilogue and the editor's title.
    resume = ops.locator("#pin-banner .action-resume button")
    expect(resume).to_have_text("公開を再開")
    with ops.expect_navigation(url=f"{server.url}{FAMILY_URL}"):
        resume.click()
    expect(ops.locator(".messagelist .success")).to_have_count(1)
    expect(ops.locator("#pin-banner")).to_have_count(0)
    newest = row().current_version
    assert newest not in (before, after) and row().pinned_at is None
    assert current_version(ops) == newest
    assert wait_for(lambda: served(server) == newest, 10), "resuming never reached the API"
    shown = titles(server)
    assert {FINALE, EPILOGUE, RENAMED} <= shown and SHOW not in shown
    catalog_manifest, _ = api_get(server, "/api/catalog/manifest")
    assert catalog_manifest["version"] == newest

    ops.goto(f"{server.url}/admin/cacheops/")
    expect(ops.locator("#catalog-card .state-badge")).not_to_have_class("state-badge state-pinned")
    expect(ops.locator("#airtime-unready")).to_have_count(0)

    # The next tick leaves it so.
    assert boundaries.airtime_due() == "idle"
    assert wait_for(reader_caught_up, 10) and served(server) == newest


def test_a_purged_versions_chunk_urls_answer_410_within_one_reader_poll_and_the_earlier_version_is_served(
    page, server, settings
):
    # One poll as in production: long enough to tell "within one poll" from "by the time the console answered".
    settings.CACHEOPS_READER_POLL_SECONDS = 1.0
    show = show_create(SHOW, "frieren", [FIRST])
    good = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title=FINALE,
        duration_s=1440, status="published",
    )  # fmt: skip
    bad = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert wait_for(lambda: served(server) == bad, 10)
    manifest, _ = api_get(server, "/api/catalog/manifest")
    assert manifest["version"] == bad
    urls = [entry["url"] for entry in manifest["chunks"]]
    assert urls and all(get(server, url)[0] == 200 for url in urls)

    ops = staff_login(page, server.url, f"ops-night{next(NUMBERS)}", group="Ops")
    ops.user_permissions.add(Permission.objects.get(content_type__app_label="cacheops", codename="purge"))
    page.goto(f"{server.url}{FAMILY_URL}")
    assert current_version(page) == bad
    page.fill("#family-actions .action-purge input[name=confirm]", "catalog")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"{FAMILY_URL}purge/")) as sent:
        page.click("#family-actions .action-purge button")
    assert sent.value.status == 302
    answered_at = time.monotonic()

    # Within one poll (and the round's own work) of the console's answer, every chunk URL of the version is gone.
    poll_s = settings.CACHEOPS_READER_POLL_SECONDS
    deadline = answered_at + poll_s + ROUND_S
    statuses = [get(server, url)[0] for url in urls]
    while set(statuses) != {410} and time.monotonic() < deadline:
        time.sleep(0.02)
        statuses = [get(server, url)[0] for url in urls]
    took = time.monotonic() - answered_at
    assert set(statuses) == {410}, f"after {took:.2f} s (one poll is {poll_s} s): {statuses}"
    status, body, headers = get(server, urls[0])
    assert json.loads(body)["error"]["message"] == f"version {bad} was taken down"
    assert headers["Cache-Control"] == "no-store"

    # Viewers get the earlier version: the catalog, its manifest and its chunks.
    catalog_status, _, catalog_headers = get(server, "/api/catalog")
    assert catalog_status == 200 and catalog_headers["ETag"] == f'"{good}"'
    shown = titles(server)
    assert FIRST in shown and FINALE not in shown
    manifest, _ = api_get(server, "/api/catalog/manifest")
    assert manifest["version"] == good
    assert all(get(server, entry["url"])[0] == 200 for entry in manifest["chunks"])

    expect(page.locator(".messagelist .success")).to_contain_text(bad)  # the redirected family page
    assert current_version(page) == good
    state = row()
    assert state.current_version == good and state.previous_version != bad
    # The full rebuild the purge queued made the purged version again: it is held back, not served.
    assert state.held_back == {"version": bad}
    expect(page.locator("#held-banner")).to_contain_text(bad)
    assert served(server) == good
