"""The program autocomplete in Chromium: typing part of a reading finds the program, under the strict CSP."""

import re

import pytest
from playwright.sync_api import expect

from cms import selectors, services
from tests.browser.test_editing import saved_id
from tests.browser.test_stale_save import watch

pytestmark = pytest.mark.browser


def show(title: str, kana: str, slug: str):
    """A program with one season of two episodes."""
    program = services.program_create(user="seed", title=title, title_kana=kana, slug=slug, status="draft")
    season = services.season_create(user="seed", program_id=program.id, title=f"{title} 第1期")
    for number in (1, 2):
        services.episode_create(
            user="seed",
            program_id=program.id,
            season_id=season.id,
            number=number,
            title=f"{title} #{number}",
            duration_s=1440,
        )
    return program


def pick(page, container: str, typed: str, title: str) -> None:
    """Open the autocomplete inside `container`, type `typed` and choose the result titled `title`."""
    page.click(f"{container} .select2-selection")
    page.fill(".select2-container--open .select2-search__field", typed)
    options = page.locator(".select2-results__option")
    expect(options).to_have_text([title], timeout=15_000)
    options.first.click()


def test_a_season_is_added_by_picking_its_program_from_part_of_the_reading(page, editor_login, live_server):
    violations = watch(page)
    wanted = services.program_create(
        user="seed", title="進撃の巨人", title_kana="しんげきのきょじん", slug="shingeki", status="draft"
    )
    services.program_create(user="seed", title="鬼滅の刃", title_kana="きめつのやいば", slug="kimetsu", status="draft")
    editor_login(page)
    page.goto(f"{live_server.url}/admin/cms/season/add/")

    page.click(".field-program_id .select2-selection")
    page.fill(".select2-container--open .select2-search__field", "シンゲキ")
    options = page.locator(".select2-results__option")
    expect(options).to_have_text(
        ["進撃の巨人"], timeout=15_000
    )  # the katakana found the hiragana reading, and nothing else
    options.first.click()
    assert page.input_value("#id_program_id") == wanted.id
    assert page.inner_text(".field-program_id .select2-selection__rendered").strip().endswith("進撃の巨人")

    page.fill("#id_title", "The Final Season")
    page.click("#season_form [name=_continue]")
    season = selectors.season_get(saved_id(page))

    assert season.program_id == wanted.id
    assert "進撃の巨人" in page.inner_text(".field-program_id")
    assert violations() == []


def test_the_episode_list_is_filtered_by_a_program_picked_in_the_autocomplete(page, editor_login, live_server):
    violations = watch(page)
    show("進撃の巨人", "しんげきのきょじん", "shingeki")
    kimetsu = show("鬼滅の刃", "きめつのやいば", "kimetsu")
    editor_login(page)
    page.goto(f"{live_server.url}/admin/cms/episode/?status=draft")

    pick(page, "#program-filter", "きめつ", "鬼滅の刃")
    page.click("#program-filter [type=submit]")
    page.wait_for_url(re.compile(rf"program={kimetsu.id}"))

    assert "status=draft" in page.url
    assert page.locator("#result_list tbody a").all_inner_texts() == ["鬼滅の刃 #1", "鬼滅の刃 #2"]
    assert page.input_value("#program-filter select") == kimetsu.id

    page.click("#changelist-filter a.lookup-filter-clear")
    page.wait_for_url(re.compile(r"/admin/cms/episode/\?(?!.*program=[0-9A-Z])"))
    assert len(page.locator("#result_list tbody a").all_inner_texts()) == 4
    assert violations() == []
