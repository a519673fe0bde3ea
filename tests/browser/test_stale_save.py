"""Two editors on one episode in Chromium: changes to different fields are both kept, one field both changed asks."""

import pytest

from cms import selectors, services
from cms.templatetags.airtime import jst
from tests.cms.conftest import ja

pytestmark = pytest.mark.browser

THEIR_TITLE = "二千年後の君へ ―シガンシナ陥落①―"
MY_SYNOPSIS = "壁の中で暮らす人類の物語。"


# Runs in every document before its own scripts (injected over CDP, which the policy does not govern).
VIOLATIONS_RECORDED = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def watch(page) -> callable:
    """Record CSP violations on `page`; return a function listing those reported so far."""
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(VIOLATIONS_RECORDED)

    def violations() -> list[str]:
        return console + page.evaluate("window.cspViolations.splice(0)")

    return violations


@pytest.fixture
def episode_open(new_page, editor_login, live_server):
    """One episode open in two editors' browsers: (url, first editor's page and user, second's page)."""
    page_a, page_b = new_page(), new_page()
    user_a = editor_login(page_a)
    editor_login(page_b)
    program = services.program_create(user="seed", title="進撃の巨人", slug="shingeki", status="draft")
    season = services.season_create(user="seed", program_id=program.id, title="Season 1")
    episode = services.episode_create(
        user="seed", program_id=program.id, season_id=season.id, number=1, title="二千年後の君へ", duration_s=1440
    )
    url = f"{live_server.url}/admin/cms/episode/{episode.id}/change/"
    page_a.goto(url)
    page_b.goto(url)
    return url, episode.id, page_a, user_a, page_b


def first_editor_saves(page, url: str) -> None:
    """The first editor retitles the episode, sets its running time to 25:00 and saves, back to the list."""
    page.fill("#id_title", THEIR_TITLE)
    page.fill("#id_duration_s", "25:00")
    page.click("#episode_form [name=_save]")
    page.wait_for_url("**/admin/cms/episode/")


def stored(episode_id: str) -> tuple[str, int, str]:
    """The stored episode's title, running time (seconds) and synopsis."""
    episode = selectors.episode_get(episode_id)
    return episode.title, episode.duration_s, episode.synopsis


def save(page, url: str) -> int:
    """Press Save and return the status of the page it answered with."""
    with page.expect_response(url) as response:
        page.click("#episode_form [name=_save]")
    return response.value.status


def test_changes_to_different_fields_are_both_kept_without_a_choice(episode_open):
    url, episode_id, page_a, user_a, page_b = episode_open
    violations = watch(page_b)
    first_editor_saves(page_a, url)

    page_b.fill("#id_synopsis", MY_SYNOPSIS)
    page_b.click("#episode_form [name=_continue]")
    page_b.wait_for_url(url)

    assert page_b.locator(".messagelist .success").count() == 1
    fields = ja("Title") + "、" + ja("Running time")
    kept = ja("The changes %(user)s saved meanwhile to %(fields)s were kept too.", user=user_a.username, fields=fields)
    assert page_b.locator(".messagelist .info").inner_text() == kept
    assert page_b.locator("#stale-comparison").count() == 0
    assert page_b.input_value("#id_title") == THEIR_TITLE
    assert page_b.input_value("#id_duration_s") == "25:00"
    assert page_b.input_value("#id_synopsis") == MY_SYNOPSIS
    assert stored(episode_id) == (THEIR_TITLE, 1500, MY_SYNOPSIS)
    assert violations() == []


def test_a_field_both_changed_asks_and_keeps_the_chosen_value(episode_open):
    url, episode_id, page_a, user_a, page_b = episode_open
    violations = watch(page_b)
    first_editor_saves(page_a, url)
    saved_at = jst(selectors.episode_get(episode_id).updated_at)

    page_b.fill("#id_title", "第1話")
    page_b.fill("#id_synopsis", MY_SYNOPSIS)
    assert save(page_b, url) == 400

    comparison = page_b.locator("#stale-comparison")
    saver = ja("%(user)s saved this item at %(time)s.", user=user_a.username, time=saved_at)
    assert saver in comparison.locator(".stale-saver").inner_text()
    assert comparison.locator("a.stale-history").get_attribute("href").endswith(f"/episode/{episode_id}/history/")
    title = comparison.locator(".stale-field-title")
    assert title.locator(".stale-theirs").inner_text() == THEIR_TITLE
    assert title.locator(".stale-mine").inner_text() == "第1話"
    assert not page_b.is_checked("#id_keep_mine_title") and not page_b.is_checked("#id_keep_theirs_title")
    assert comparison.locator(".stale-field-synopsis").count() == 0
    duration = comparison.locator(".stale-taken-duration_s")
    assert (duration.locator(".stale-before").inner_text(), duration.locator(".stale-now").inner_text()) == (
        "24:00",
        "25:00",
    )
    assert page_b.input_value("#id_title") == "第1話"
    assert page_b.input_value("#id_duration_s") == "25:00"
    assert page_b.input_value("#id_synopsis") == MY_SYNOPSIS

    assert save(page_b, url) == 400
    choose = ja("Choose whether to keep your value or theirs for “%(field)s”.", field=ja("Title"))
    assert page_b.locator(".field-title .errorlist").inner_text() == choose
    assert stored(episode_id) == (THEIR_TITLE, 1500, "")

    page_b.check("#id_keep_theirs_title")
    page_b.click("#episode_form [name=_continue]")
    page_b.wait_for_url(url)
    assert page_b.locator(".messagelist .success").count() == 1
    assert page_b.locator("#stale-comparison").count() == 0
    assert page_b.input_value("#id_title") == THEIR_TITLE
    assert stored(episode_id) == (THEIR_TITLE, 1500, MY_SYNOPSIS)
    assert violations() == []
