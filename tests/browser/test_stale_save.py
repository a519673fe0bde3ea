"""A stale save in Chromium: the comparison is shown, one field takes their value, and the save goes through."""

import re

import pytest

from cms import selectors, services

pytestmark = pytest.mark.browser

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


def test_stale_save_shows_theirs_and_takes_one_field(new_page, editor_login, live_server):
    page_a, page_b = new_page(), new_page()
    violations = watch(page_b)
    editor_login(page_a)
    editor_login(page_b)
    program = services.program_create(user="seed", title="進撃の巨人", slug="shingeki", status="draft")
    season = services.season_create(user="seed", program_id=program.id, title="Season 1")
    episode = services.episode_create(
        user="seed", program_id=program.id, season_id=season.id, number=1, title="二千年後の君へ", duration_s=1440
    )
    url = f"{live_server.url}/admin/cms/episode/{episode.id}/change/"
    page_a.goto(url)
    page_b.goto(url)

    page_a.fill("#id_title", "二千年後の君へ ―シガンシナ陥落①―")
    page_a.click("#episode_form [name=_save]")
    page_a.wait_for_url(url)
    assert page_a.locator(".messagelist .success").count() == 1

    page_b.fill("#id_title", "第1話")
    page_b.fill("#id_synopsis", "壁の中で暮らす人類の物語。")
    with page_b.expect_response(url) as response:
        page_b.click("#episode_form [name=_save]")
    assert response.value.status == 400
    comparison = page_b.locator("#stale-comparison")
    assert comparison.is_visible()
    assert comparison.locator(".stale-field-title .stale-theirs").inner_text() == "二千年後の君へ ―シガンシナ陥落①―"
    assert comparison.locator(".stale-field-title .stale-mine").inner_text() == "第1話"
    assert comparison.locator(".stale-field-synopsis").is_visible()
    assert re.search(rf"/episode/{episode.id}/history/$", comparison.locator("a.stale-history").get_attribute("href"))
    assert page_b.input_value("#id_title") == "第1話"
    assert page_b.input_value("#id_synopsis") == "壁の中で暮らす人類の物語。"

    page_b.check("#id_theirs_title")
    page_b.click("#episode_form [name=_save]")
    page_b.wait_for_url(url)
    assert page_b.locator(".messagelist .success").count() == 1
    assert page_b.locator("#stale-comparison").count() == 0
    assert page_b.input_value("#id_title") == "二千年後の君へ ―シガンシナ陥落①―"

    stored = selectors.episode_get(episode.id)
    assert (stored.title, stored.synopsis) == ("二千年後の君へ ―シガンシナ陥落①―", "壁の中で暮らす人類の物語。")
    assert violations() == []
