"""Changelists at a common laptop width: dates in list columns are never broken over two lines."""

import pytest

from cms import services
from cms.broadcast import broadcast_parse

pytestmark = pytest.mark.browser

LONG_TITLE = "劇場版 転生したら宇宙一の料理人だった件 〜銀河の果てで味噌汁を〜 完全版" * 2
LONG_READING = "げきじょうばん てんせいしたらうちゅういちのりょうりにんだったけん" * 2

# The lines each date cell occupies: its client rects, and its height against its own line height.
DATE_LINES = """cells => cells.map(cell => {
    const style = getComputedStyle(cell);
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
    return {
        text: cell.textContent,
        rects: cell.getClientRects().length,
        lines: Math.round(cell.getBoundingClientRect().height / lineHeight),
    };
})"""


@pytest.fixture
def crowded(dynamodb):
    """A program, season and episode with long titles and after-midnight times, so the date columns are squeezed."""
    at = broadcast_parse("2026-11-26 25:30")
    program = services.program_create(
        user="seed",
        title=LONG_TITLE,
        title_kana=LONG_READING,
        slug="crowded",
        genre="documentary",
        status="published",
        publish_at=at,
    )
    season = services.season_create(user="seed", program_id=program.id, title=LONG_TITLE, publish_at=at)
    services.episode_create(
        user="seed",
        program_id=program.id,
        season_id=season.id,
        number=1,
        title=LONG_TITLE,
        duration_s=5400,
        publish_at=at,
    )


@pytest.mark.parametrize("model", ["program", "season", "episode"])
def test_dates_stay_on_one_line_at_1280_wide(page, editor_login, live_server, crowded, model):
    editor_login(page)
    page.goto(f"{live_server.url}/admin/cms/{model}/")
    assert page.viewport_size == {"width": 1280, "height": 900}

    cells = page.locator("#result_list td .date-nowrap").evaluate_all(DATE_LINES)

    assert [cell["text"] for cell in cells] == ["2026-11-27 01:30 (2026-11-26 25:30)"]
    assert [(cell["rects"], cell["lines"]) for cell in cells] == [(1, 1)]
