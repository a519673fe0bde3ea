"""Editors working through the admin in a real browser: add, edit, search, conflict, delete, history."""

import re
from urllib.parse import quote

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.utils import translation
from PIL import Image

from cms import selectors, services
from cms.store.errors import NotFound

pytestmark = pytest.mark.browser

CHANGE_URL = re.compile(r"/admin/cms/(program|season|episode)/(?P<id>[0-9A-Z]+)/change/$")


def saved_id(page) -> str:
    """Wait for the redirect to a change page after saving and editing on (保存して編集を続ける); the item's id."""
    page.wait_for_url(CHANGE_URL)
    return CHANGE_URL.search(page.url)["id"]


def program_add(page, live_server, *, title="進撃の巨人", kana="しんげきのきょじん", slug="shingeki") -> str:
    """Add a published program through the changelist's add link and stay on its page; return its id."""
    page.goto(f"{live_server.url}/admin/")
    page.click(".model-program th a")
    page.click(".object-tools a.addlink")
    page.fill("#id_title", title)
    page.fill("#id_title_kana", kana)
    page.fill("#id_slug", slug)
    page.select_option("#id_status", "published")
    page.fill("#id_publish_at", "2026-11-26 25:30")
    page.click("#program_form [name=_continue]")
    return saved_id(page)


def search(page, text: str) -> None:
    """Search the changelist through its search bar and wait for the results page."""
    page.fill("#searchbar", text)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(re.escape(f"?q={quote(text)}&")))


def png_file(path):
    Image.new("RGB", (160, 90), (30, 120, 200)).save(path, "PNG")
    return path


def test_program_season_and_episode_added_through_the_admin(page, editor_login, live_server, tmp_path):
    editor_login(page)
    program_id = program_add(page, live_server)

    assert page.locator(".messagelist .success").count() == 1
    assert page.input_value("#id_title") == "進撃の巨人"
    # 25:30 on the 26th is shown as 01:30 on the 27th, with the broadcast form alongside.
    assert page.input_value("#id_publish_at") == "2026-11-27 01:30"
    assert "2026-11-26 25:30" in page.inner_text(".field-publish_at .help")

    page.click("#program-contents a.addlink[href*='/season/add/']")
    assert page.input_value("#id_program_id") == program_id
    page.fill("#id_title", "Season 1")
    page.click("#season_form [name=_continue]")
    season_id = saved_id(page)

    page.goto(f"{live_server.url}/admin/cms/program/{program_id}/change/")
    page.locator("#program-contents h3", has_text="Season 1").locator("a.addlink").click()
    assert page.input_value("#episode_form [name=program_id]") == program_id
    assert page.input_value("#id_season_id") == season_id
    page.fill("#id_number", "1")
    page.fill("#id_title", "二千年後の君へ")
    # Running time as m:ss, shown back the same way in the form and in the list.
    page.fill("#id_duration_s", "24:00")
    page.fill("#id_video_url", "https://video.example.com/shingeki/01/master.m3u8")
    page.set_input_files("#id_thumbnail_upload", png_file(tmp_path / "thumb.png"))
    page.click("#episode_form [name=_continue]")
    episode_id = saved_id(page)
    assert page.input_value("#id_duration_s") == "24:00"

    thumbnail = page.locator("img.current-image")
    thumbnail.wait_for()
    page.wait_for_function("document.querySelector('img.current-image').complete")
    assert thumbnail.evaluate("img => img.naturalWidth") == 160

    page.goto(f"{live_server.url}/admin/cms/program/{program_id}/change/")
    contents = page.locator("#program-contents")
    assert contents.locator(f"a[href='/admin/cms/season/{season_id}/change/']").inner_text() == "Season 1"
    episode_link = contents.locator(f"a[href='/admin/cms/episode/{episode_id}/change/']")
    assert episode_link.inner_text() == "二千年後の君へ"
    episode_link.click()
    page.wait_for_url(f"**/admin/cms/episode/{episode_id}/change/")
    assert page.input_value("#id_video_url") == "https://video.example.com/shingeki/01/master.m3u8"
    page.goto(f"{live_server.url}/admin/cms/episode/?program={program_id}")
    row = page.locator("#result_list tbody tr", has_text="二千年後の君へ")
    assert row.locator("td").last.inner_text() == "24:00"


def test_edited_title_is_listed_and_found_by_katakana(page, editor_login, live_server):
    editor_login(page)
    program_id = program_add(page, live_server)

    page.fill("#id_title", "進撃の巨人 The Final Season")
    page.click("#program_form [name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/cms/program/")  # 保存 leads back to the list

    assert page.locator(".messagelist .success").count() == 1
    results = page.locator("#result_list tbody")
    link = page.locator(f"a[href='/admin/cms/program/{program_id}/change/']")
    assert results.locator(link).inner_text() == "進撃の巨人 The Final Season"
    row = results.locator("tr", has=link).inner_text()
    assert "しんげきのきょじん" in row
    assert "2026-11-27 01:30" in row and "2026-11-26 25:30" in row

    # Katakana finds the hiragana reading.
    search(page, "シンゲキ")
    assert results.locator("tr").count() == 1
    assert results.locator(link).inner_text() == "進撃の巨人 The Final Season"

    search(page, "ホゲ")
    assert results.locator("a").count() == 0


def test_stale_save_is_refused_and_keeps_what_the_editor_typed(new_page, editor_login, live_server):
    page_a, page_b = new_page(), new_page()
    editor_login(page_a)
    editor_login(page_b)
    program = services.program_create(user="seed", title="進撃の巨人", slug="shingeki", status="draft")
    url = f"{live_server.url}/admin/cms/program/{program.id}/change/"
    page_a.goto(url)
    page_b.goto(url)

    page_a.fill("#id_title", "進撃の巨人 Season 2")
    page_a.click("#program_form [name=_save]")
    page_a.wait_for_url(f"{live_server.url}/admin/cms/program/")
    assert page_a.locator(".messagelist .success").count() == 1

    page_b.fill("#id_title", "進撃の巨人 第2期")
    page_b.fill("#id_description", "壁の中で暮らす人類の物語。")
    with page_b.expect_response(url) as response:
        page_b.click("#program_form [name=_save]")
    assert response.value.status == 400
    assert page_b.locator("#program_form .errornote").is_visible()
    assert page_b.locator(".messagelist .success").count() == 0
    assert page_b.input_value("#id_title") == "進撃の巨人 第2期"
    assert page_b.input_value("#id_description") == "壁の中で暮らす人類の物語。"

    stored = selectors.program_get(program.id)
    assert stored.title == "進撃の巨人 Season 2"
    assert stored.description == ""


def test_delete_confirms_with_counts_and_removes_seasons_and_episodes(page, editor_login, live_server):
    editor_login(page)
    program = services.program_create(user="seed", title="進撃の巨人", slug="shingeki", status="published")
    kept = services.program_create(user="seed", title="鬼滅の刃", slug="kimetsu", status="published")
    season = services.season_create(user="seed", program_id=program.id, title="Season 1")
    episodes = [
        services.episode_create(
            user="seed", program_id=program.id, season_id=season.id, number=n, title=f"第{n}話", duration_s=1440
        )
        for n in (1, 2, 3)
    ]

    page.goto(f"{live_server.url}/admin/cms/program/{program.id}/change/")
    page.click("#program_form .deletelink")
    page.wait_for_url(f"**/admin/cms/program/{program.id}/delete/")
    summary = page.inner_text(".delete-summary")
    assert sorted(int(n) for n in re.findall(r"\d+", summary)) == [1, 3]

    page.click("#content form [type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/cms/program/")
    assert page.locator(".messagelist .success").count() == 1
    results = page.locator("#result_list tbody")
    assert results.locator(f"a[href='/admin/cms/program/{kept.id}/change/']").is_visible()
    assert results.locator(f"a[href='/admin/cms/program/{program.id}/change/']").count() == 0

    with pytest.raises(NotFound):
        selectors.program_get(program.id)
    with pytest.raises(NotFound):
        selectors.season_get(season.id)
    for episode in episodes:
        with pytest.raises(NotFound):
            selectors.episode_get(episode.id)
    assert selectors.program_children_count(program.id) == (0, 0)

    page.goto(f"{live_server.url}/admin/cms/season/")
    assert page.locator(f"#result_list a[href='/admin/cms/season/{season.id}/change/']").count() == 0


def test_history_lists_the_addition_and_the_change(page, editor_login, live_server):
    editor = editor_login(page)
    program_id = program_add(page, live_server)
    page.fill("#id_title", "進撃の巨人 Season 2")
    page.click("#program_form [name=_continue]")
    saved_id(page)

    page.click(".object-tools a.historylink")
    page.wait_for_url(f"**/admin/cms/program/{program_id}/history/")
    rows = page.locator("#change-history tbody tr")
    assert rows.count() == 2

    entries = LogEntry.objects.filter(object_id=program_id).order_by("action_time")
    assert [entry.action_flag for entry in entries] == [ADDITION, CHANGE]
    with translation.override("ja"):
        messages = [entry.get_change_message() for entry in entries]
    for row, message in zip(rows.all(), messages, strict=True):
        text = row.inner_text()
        assert editor.username in text
        assert message in text
