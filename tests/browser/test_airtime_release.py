"""Tonight's episode end to end: Ops schedule its airtime in Chromium, beat stages it, the API serves it on time.

Every clock the path reads is the test's, so instants are set, never waited for: the cache engine's (cacheops.clock)
and the airtime page's countdown.
"""

import gzip
import itertools
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from cacheops.build import operations
from cacheops.models import AirtimeSchedule, Operation
from cacheops.read.reader import reader_get
from cacheops.release import boundaries
from cms import services
from cms.broadcast import JST
from tests.browser.conftest import staff_login
from tests.cacheops.conftest import show_create, wait_for

pytestmark = pytest.mark.browser

AIRTIME = datetime(2031, 4, 12, 23, 45, tzinfo=JST)
AIRTIME_TEXT = "2031-04-12 23:45"
FINALE = "最終話"
SHOW = "葬送のフリーレン"
CURRENT = "#catalog-card [data-fact='current'] code"
STAGED = "#catalog-card [data-fact='staged']"
NUMBERS = itertools.count(1)


def ops_login(page, live_server) -> User:
    return staff_login(page, live_server.url, f"ops{next(NUMBERS)}", group="Ops")


def api_get(live_server, path: str) -> tuple[dict, str]:
    """GET a read API path as a viewer's app does (gzip accepted); return its JSON and its ETag."""
    request = urllib.request.Request(f"{live_server.url}{path}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        headers = response.headers
    body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
    return json.loads(body), headers


def titles(programs: list[dict]) -> set[str]:
    return {e["title"] for p in programs for s in p["seasons"] for e in s["episodes"]}


def test_ops_schedule_tonights_airtime_and_the_episode_is_served_from_that_second(page, server, fake_clock, tmp_path):
    show = show_create(SHOW, "frieren", ["旅立ち"])
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title=FINALE,
        duration_s=1440, status="published", publish_at=AIRTIME,
    )  # fmt: skip
    before = operations.catalog_rebuild(requested_by="test", full=True).version_after
    catalog, headers = api_get(server, "/api/catalog")
    assert headers["Content-Encoding"] == "gzip" and headers["ETag"] == f'"{before}"'
    assert FINALE not in titles(catalog["programs"])

    # 22:30: Ops schedule a prewarm for tonight's 23:45 from the console.
    ops_login(page, server)
    page.click("#cacheops-console-link caption a")
    page.wait_for_url(f"{server.url}/admin/cacheops/")
    page.click(".console-nav a[href$='/admin/cacheops/airtime/']")
    page.wait_for_url(f"{server.url}/admin/cacheops/airtime/")
    page.fill("#airtime-form input[name=at]", AIRTIME_TEXT)
    page.click("#airtime-form button[type=submit]")
    page.wait_for_url(f"{server.url}/admin/cacheops/airtime/")

    row = page.locator("#airtime-upcoming .airtime-row")
    expect(row).to_have_count(1)
    expect(page.locator(".messagelist .success")).to_contain_text(AIRTIME_TEXT)
    expect(row.locator(".when .jst")).to_have_text(f"{AIRTIME_TEXT}:00 JST")
    countdown = row.locator(".airtime-countdown")
    expect(countdown).to_have_attribute("data-ttl-seconds", str(75 * 60))
    shown = countdown.inner_text()
    assert re.fullmatch(r"1:1[45]:\d\d", shown), shown
    page.wait_for_function(
        "([cell, shown]) => document.querySelector(cell).textContent !== shown",
        arg=["#airtime-upcoming .airtime-countdown", shown],
    )  # it counts down live
    expect(row.locator(".airtime-changes")).to_contain_text(f"{SHOW} — {FINALE}")
    expect(row.locator(".airtime-result")).to_have_class(re.compile(r"\bresult-prepared\b"))
    schedule = AirtimeSchedule.objects.get()
    assert schedule.result == AirtimeSchedule.PREPARED and schedule.created_by.startswith("ops")
    staged = schedule.prepared_version
    expect(row.locator("code")).to_have_text(staged)
    page.screenshot(path=tmp_path / "1-airtime-scheduled.png", full_page=True)

    # 23:35: beat's airtime tick stages the catalog as of 23:45; the console names it as next.
    fake_clock.at = (AIRTIME - timedelta(minutes=10)).astimezone(UTC)
    assert boundaries.airtime_due() == "staged"
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.STAGED and schedule.prepared_version == staged
    page.click(".console-nav a[href$='/admin/cacheops/']")
    page.wait_for_url(f"{server.url}/admin/cacheops/")
    expect(page.locator(CURRENT)).to_have_text(before)
    expect(page.locator(f"{STAGED} code")).to_have_text(staged)
    expect(page.locator(STAGED)).to_contain_text(AIRTIME_TEXT)
    expect(page.locator("#airtime-unready")).to_have_count(0)
    page.screenshot(path=tmp_path / "2-overview-staged.png", full_page=True)

    # The live server's reader fetches the staged version ahead, then switches on its own clock.
    reader = reader_get()
    assert wait_for(lambda: getattr(reader.staged(), "version", "") == staged, 10), "the reader never fetched it"
    fake_clock.at = AIRTIME.astimezone(UTC) - timedelta(microseconds=1)
    catalog, headers = api_get(server, "/api/catalog")
    assert headers["ETag"] == f'"{before}"' and FINALE not in titles(catalog["programs"])
    assert headers["Cache-Control"] == "public, max-age=0, must-revalidate"  # no cache keeps it past 23:45
    program, _ = api_get(server, f"/api/programs/{show.program.id}")
    assert FINALE not in titles([program["program"]])

    fake_clock.at = AIRTIME.astimezone(UTC)
    catalog, headers = api_get(server, "/api/catalog")
    assert headers["ETag"] == f'"{staged}"' and FINALE in titles(catalog["programs"])
    program, _ = api_get(server, f"/api/programs/{show.program.id}")
    assert FINALE in titles([program["program"]])

    # 23:45:01: the tick records the activation; the console shows the staged version as current.
    fake_clock.at = (AIRTIME + timedelta(seconds=1)).astimezone(UTC)
    assert boundaries.airtime_due() == "published"
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.DONE and "recorded 1 s later" in schedule.detail
    activation = Operation.objects.get(kind="activate")
    assert (activation.version_before, activation.version_after) == (before, staged)
    page.reload()
    expect(page.locator(CURRENT)).to_have_text(staged)
    expect(page.locator(f"{STAGED} code")).to_have_count(0)
    page.screenshot(path=tmp_path / "3-overview-activated.png", full_page=True)

    page.click(".console-nav a[href$='/admin/cacheops/airtime/']")
    page.wait_for_url(f"{server.url}/admin/cacheops/airtime/")
    expect(page.locator("#airtime-upcoming .airtime-row")).to_have_count(0)
    done = page.locator("#airtime-recent .airtime-row")
    expect(done).to_have_count(1)
    expect(done.locator(".airtime-result")).to_have_class(re.compile(r"\bresult-done\b"))
    expect(done.locator(".airtime-result")).to_contain_text("から配信中（1 秒後に記録）")
    page.screenshot(path=tmp_path / "4-airtime-done.png", full_page=True)

    page.click(".console-nav a[href$='/admin/cacheops/operations/']")
    page.wait_for_url(f"{server.url}/admin/cacheops/operations/")
    beat = page.locator("#operation-table .operation-row", has_text="beat")
    expect(beat).to_have_count(2)  # the stage and the activation
    expect(beat.first).to_contain_text(staged)
    page.screenshot(path=tmp_path / "5-operations-log.png", full_page=True)
