"""The console at a common laptop width, with 300 program families: no page scrolls sideways, and the search box
finds a program by its title typed in hiragana."""

from datetime import timedelta

import pytest
from django.utils import timezone
from ulid import ULID

from cacheops.models import AirtimeSchedule, Family, Operation
from cms import domain, program_index
from cms.models import ProgramEntry
from tests.browser.conftest import staff_login
from tests.cacheops.test_console import family_create

pytestmark = pytest.mark.browser

FAMILIES = 300
LONG_TITLE = "劇場版 転生したら宇宙一の料理人だった件 〜銀河の果てで味噌汁を〜 完全版" * 2
LONG_READING = "ゲキジョウバン テンセイシタラウチュウイチノリョウリニンダッタケン" * 2
TRAVELLER = ("旅人の記録 〜北の街道を行く〜", "タビビトノキロク キタノカイドウヲイク")

# The elements that must not be wider than they are shown: the content area, and every scrolling wrapper in it.
OVERFLOWING = """() => [document.querySelector("#content"), ...document.querySelectorAll("#content .console-scroll")]
    .filter(element => element.scrollWidth > element.clientWidth)
    .map(element => `${element.id || element.className}: ${element.scrollWidth} > ${element.clientWidth}`)"""


@pytest.fixture
def crowded(db):
    """300 program families in the program list (one long title, one traveller's), the catalog, a log of builds
    and an airtime with long changes: written straight into SQL, no build involved."""
    now = timezone.now()
    titles = [(LONG_TITLE, LONG_READING), TRAVELLER] + [
        (f"番組 {n:03d}", f"バングミ {n:03d}") for n in range(FAMILIES - 2)
    ]
    programs = [domain.Program(id=str(ULID()), slug="", title=t, title_kana=k, version=1) for t, k in titles]
    ProgramEntry.objects.bulk_create([program_index.entry_for(program) for program in programs])
    names = [f"program:{program.id}" for program in programs]
    manifest = family_create("catalog").manifest
    Family.objects.bulk_create(
        [
            Family(
                name=name,
                current_version="0123456789abcdef",
                latest_version="0123456789abcdef",
                published_generation=1,
                staged_version="fedcba9876543210" if i % 50 == 0 else "",
                staged_at=now + timedelta(hours=2) if i % 50 == 0 else None,
                manifest=manifest | {"name": name},
            )
            for i, name in enumerate(names)
        ]
    )
    Operation.objects.bulk_create(
        [
            Operation(
                kind="rebuild",
                family=name,
                requested_by="beat",
                result="failed" if i % 7 == 0 else "published",
                duration_ms=1234,
                version_before="0123456789abcdef",
                version_after="fedcba9876543210",
                detail="同期に失敗しました: " + "タイムアウト " * 40,
                heartbeat_at=now,
            )
            for i, name in enumerate(names[:60])
        ]
    )
    items = [{"title": f"第{n}話 {LONG_TITLE}", "program_title": LONG_TITLE} for n in range(6)]
    AirtimeSchedule.objects.create(
        at=now + timedelta(hours=3),
        created_by="oki",
        prepared_version="fedcba9876543210",
        compressed_bytes=123456,
        chunk_count=3,
        changes={
            "episodes": {
                "added": {"count": len(items), "items": items},
                "removed": {"count": 0, "items": []},
                "changed": {"count": 1, "items": items[:1]},
            }
        },
        edge=[{"index": n, "status": 200, "ok": True} for n in range(3)],
        result=AirtimeSchedule.PREPARED,
    )
    return names


def test_no_console_page_scrolls_sideways_at_1280_and_hiragana_finds_a_title(page, live_server, crowded):
    staff_login(page, live_server.url, "ops-layout", group="Ops")
    assert page.viewport_size["width"] == 1280
    long_family, traveller = crowded[0], crowded[1]

    for path in (
        "/admin/cacheops/",
        f"/admin/cacheops/family/{long_family}/",
        "/admin/cacheops/family/catalog/",
        "/admin/cacheops/airtime/",
        "/admin/cacheops/operations/",
    ):
        assert page.goto(f"{live_server.url}{path}").status == 200, path
        assert page.evaluate(OVERFLOWING) == [], path

    page.goto(f"{live_server.url}/admin/cacheops/")
    assert page.locator("tr.family-row").count() == 50
    page.fill("#searchbar", "たびびとのきろく")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/admin/cacheops/?q=*")
    rows = page.locator("tr.family-row")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-family") == traveller
    assert rows.first.locator(".program-title").inner_text() == TRAVELLER[0]
    assert rows.first.locator(".program-reading").inner_text() == TRAVELLER[1]
