"""An editor adding episodes one after another in Chromium: the number follows the season chosen."""

import pytest
from playwright.sync_api import expect

from cms import services

pytestmark = pytest.mark.browser


@pytest.fixture
def two_seasons(dynamodb):
    program = services.program_create(user="seed", title="鬼滅の刃", slug="kimetsu", status="draft")
    first = services.season_create(user="seed", program_id=program.id, title="立志編", status="draft")
    second = services.season_create(user="seed", program_id=program.id, title="無限列車編", status="draft")
    for number in (1, 2, 3):
        services.episode_create(
            user="seed", program_id=program.id, season_id=first.id, number=number, title=f"第{number}話", duration_s=60
        )
    return program, first, second


def test_the_number_follows_the_chosen_season_until_the_editor_types_one(page, editor_login, live_server, two_seasons):
    program, first, second = two_seasons
    editor_login(page)
    page.goto(f"{live_server.url}/admin/cms/episode/add/?program={program.id}")

    assert page.input_value("#id_season_id") == first.id
    assert page.input_value("#id_number") == "4"
    page.select_option("#id_season_id", second.id)
    assert page.input_value("#id_number") == "1"
    page.select_option("#id_season_id", first.id)
    assert page.input_value("#id_number") == "4"

    page.fill("#id_number", "10")
    page.select_option("#id_season_id", second.id)
    assert page.input_value("#id_number") == "10"


def test_save_and_add_another_numbers_the_next_episode(page, editor_login, live_server, two_seasons):
    program, first, _second = two_seasons
    editor_login(page)
    page.goto(f"{live_server.url}/admin/cms/episode/add/?program={program.id}&season={first.id}")

    page.fill("#id_title", "鼓屋敷")
    page.fill("#id_duration_s", "23:40")
    page.click("#episode_form [name=_addanother]")

    # The same address opens again: wait for the message the save leaves.
    message = page.locator(".messagelist .success")
    expect(message).to_have_text("「鼓屋敷」を追加しました。下書きのため、アプリには表示されません。")
    assert page.locator(".breadcrumbs").inner_text().endswith("鬼滅の刃 › 立志編 › エピソードを追加")
    assert (page.input_value("#id_season_id"), page.input_value("#id_number"), page.input_value("#id_title")) == (
        first.id,
        "5",
        "",
    )
    page.fill("#id_title", "那田蜘蛛山")
    page.fill("#id_duration_s", "23:40")
    page.click("#episode_form [name=_continue]")
    page.wait_for_url(f"{live_server.url}/admin/cms/episode/*/change/")
    assert page.input_value("#id_number") == "5"
    assert page.locator(".field-program_id a.program-link").inner_text() == "鬼滅の刃"
