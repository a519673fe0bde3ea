"""Ops prepare a content instant in Chromium, and both countdowns turn to "on air" at that instant, without a reload.

The engine's clock is held a few seconds before the instant, so the content list counts down from the same figure
whenever the page is served; the schedule's countdown follows the real clock to the same instant. Nothing asserts
how late a cell turns, only that it never turns before its instant and that it does turn.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from cacheops import clock
from cacheops.build import operations
from cacheops.models import AirtimeSchedule
from cacheops.read.reader import readers_stop
from cms import services
from cms.domain import time_text
from tests.browser.conftest import staff_login
from tests.cacheops.conftest import _engine_use, show_create

pytestmark = pytest.mark.browser

LEAD_S = 4
ON_AIR = "放送開始済み"  # "on air" in the page's Japanese
COUNTDOWN = re.compile(r"\d+:\d\d:\d\d")
TURN_TIMEOUT_MS = 30_000
PAGE = "/admin/cacheops/airtime/"
# Every text a countdown cell is given, with its row and the page's clock, kept from before the page's own scripts.
COUNTDOWN_LOG = """
window.countdownLog = [];
new MutationObserver((records) => {
    for (const record of records) {
        const cell = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
        if (cell && cell.matches("[data-ttl-seconds]")) {
            const row = cell.closest("tr");
            const key = row.dataset.instant ? `instant ${row.dataset.instant}` : `schedule ${row.dataset.schedule}`;
            window.countdownLog.push([key, cell.textContent, performance.now()]);
        }
    }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


@pytest.fixture
def redis_engine(request, settings):
    """The cache engine on Redis under a key prefix of this test's own."""
    yield from _engine_use(request, settings, "redis")


@pytest.fixture
def server(live_server, redis_engine, dynamodb, settings):
    """The live server, staging nothing ahead and with no edge to warm."""
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0
    settings.CACHEOPS_EDGE_URL = ""
    readers_stop()
    yield live_server
    readers_stop()


def texts(log: list, key: str) -> list[tuple[str, float]]:
    return [(text, at_ms) for row, text, at_ms in log if row == key]


def test_a_prepared_content_instant_counts_down_to_on_air_in_both_lists(page, server, monkeypatch, tmp_path):
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    staff_login(page, server.url, "ops1", group="Ops")
    held = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    instant = held + timedelta(seconds=LEAD_S)
    monkeypatch.setattr(clock, "now", lambda: held)
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="最終話",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)

    page.goto(f"{server.url}{PAGE}")
    row = page.locator(f"#airtime-instants tr[data-instant='{time_text(instant)}']")
    expect(row).to_contain_text("葬送のフリーレン")
    expect(row).to_contain_text("第2話 最終話")
    expect(row.locator(".instant-countdown")).to_have_attribute("data-ttl-seconds", str(LEAD_S))
    page.add_init_script(COUNTDOWN_LOG)
    row.locator("button.instant-prepare").click()
    page.wait_for_url(f"{server.url}{PAGE}")

    schedule = AirtimeSchedule.objects.get()
    assert schedule.at == instant
    expect(page.locator(".messagelist .success")).to_contain_text("事前準備を予約しました")
    expect(row.locator(".instant-scheduled")).to_have_text("予約済み")
    instant_cell = row.locator(".instant-countdown")
    expect(instant_cell).to_have_attribute("data-ttl-seconds", str(LEAD_S))  # the engine's clock is held
    schedule_cell = page.locator(f"#airtime-upcoming tr[data-schedule='{schedule.id}'] .airtime-countdown")
    expect(schedule_cell).to_have_attribute("data-ttl-expired", ON_AIR)
    page.evaluate("window.sincePrepared = true")

    expect(instant_cell).to_have_text(ON_AIR, timeout=TURN_TIMEOUT_MS)
    expect(schedule_cell).to_have_text(ON_AIR, timeout=TURN_TIMEOUT_MS)
    assert datetime.now(UTC) >= instant  # the schedule's cell turned on the real clock, not before its instant
    expect(instant_cell).to_have_class(re.compile(r"\bttl-expired\b"))
    assert page.evaluate("window.sincePrepared") is True  # no reload on the way
    page.screenshot(path=tmp_path / "airtime-instants-on-air.png", full_page=True)

    log = page.evaluate("window.countdownLog")
    shown = texts(log, f"instant {time_text(instant)}")
    turned = next(i for i, (text, _) in enumerate(shown) if text == ON_AIR)
    assert turned > 0 and all(COUNTDOWN.fullmatch(text) for text, _ in shown[:turned]), shown
    assert shown[0][0] == f"0:00:0{LEAD_S}"  # as served
    # The count starts once the page is parsed, after the cell's first text: it turns LEAD_S later, not a second early
    # (the margin covers when the log's callbacks run, not when the texts changed).
    assert shown[turned][1] - shown[0][1] >= LEAD_S * 1000 - 100, shown
    assert {text for text, _ in shown[turned:]} == {ON_AIR}
    assert "0:00:00" not in {text for text, _ in shown}  # the last second reads 0:00:01, then the label
    scheduled = texts(log, f"schedule {schedule.id}")
    assert scheduled[-1][0] == ON_AIR
    assert refused == []
