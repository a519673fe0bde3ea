"""The admin in Chromium under its Content-Security-Policy: nothing is refused, and its own scripts still run."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cms import services
from tests.cms.conftest import png_bytes

pytestmark = pytest.mark.browser

# Runs in every document before its own scripts (injected over CDP, which the policy does not govern).
VIOLATIONS_RECORDED = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def png_upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes((320, 180)), content_type="image/png")


@pytest.fixture
def watched(page):
    """`page`, and a function returning every CSP violation it reported so far (console and events)."""
    console = []
    page.on(
        "console", lambda message: console.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.add_init_script(VIOLATIONS_RECORDED)
    events = []

    def violations() -> list[str]:
        events.extend(page.evaluate("window.cspViolations.splice(0)"))
        return console + events

    return page, violations


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")


def test_admin_pages_break_no_rule_of_the_policy(watched, editor_login, live_server):
    page, violations = watched
    visit(page, f"{live_server.url}/admin/login/")
    editor_login(page)
    program = services.program_create(
        user="seed", title="進撃の巨人", slug="shingeki", status="draft", key_art_upload=png_upload("art.png")
    )
    season = services.season_create(user="seed", program_id=program.id, title="Season 1")
    episode = services.episode_create(
        user="seed",
        program_id=program.id,
        season_id=season.id,
        number=1,
        title="二千年後の君へ",
        duration_s=1440,
        thumbnail_upload=png_upload("thumb.png"),
    )
    admin = f"{live_server.url}/admin"
    tour = [
        f"{admin}/",
        f"{admin}/cms/program/",
        f"{admin}/cms/program/?q=進撃&status=draft",
        f"{admin}/cms/program/add/",
        f"{admin}/cms/program/{program.id}/change/",
        f"{admin}/cms/program/{program.id}/history/",
        f"{admin}/cms/program/{program.id}/delete/",
        f"{admin}/cms/season/",
        f"{admin}/cms/season/add/?program={program.id}",
        f"{admin}/cms/season/{season.id}/change/",
        f"{admin}/cms/episode/",
        f"{admin}/cms/episode/add/",
        f"{admin}/cms/episode/add/?program={program.id}",
        f"{admin}/password_change/",
        f"{admin}/cms/episode/{episode.id}/change/",
    ]

    for url in tour:
        visit(page, url)

        assert violations() == [], url

    # The stylesheet, not an inline style attribute, keeps the thumbnail small.
    image = page.locator("img.current-image")
    page.wait_for_function("document.querySelector('img.current-image').complete")
    assert image.evaluate("img => [img.naturalHeight, getComputedStyle(img).maxHeight]") == [180, "120px"]
    assert image.bounding_box()["height"] == 120


def test_the_admins_own_scripts_still_run(watched, editor_login, live_server):
    page, violations = watched
    editor_login(page)
    visit(page, f"{live_server.url}/admin/cms/program/")

    # nav_sidebar.js: the sidebar toggle opens and closes the navigation.
    main = page.locator("#main")
    assert "shifted" in main.get_attribute("class")
    page.click("#toggle-nav-sidebar")
    assert "shifted" not in main.get_attribute("class")
    page.click("#toggle-nav-sidebar")
    assert "shifted" in main.get_attribute("class")

    # theme.js: the theme button switches the colour theme.
    before = page.evaluate("document.documentElement.dataset.theme")
    page.click(".theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") not in (before, None)

    assert violations() == []


def test_an_inline_script_or_style_is_refused_and_reported(watched, editor_login, live_server):
    page, violations = watched
    editor_login(page)
    visit(page, f"{live_server.url}/admin/cms/program/")

    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true;";
            document.body.append(script);
            document.body.setAttribute("style", "background: red");
        }"""
    )

    page.wait_for_function("window.cspViolations.length >= 2")
    assert page.evaluate("window.inlineRan") is None
    reported = " ".join(violations())
    assert "script-src" in reported and "style-src" in reported
