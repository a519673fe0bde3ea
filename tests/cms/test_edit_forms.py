"""The edit forms as an editor uses them every day: where an item sits, the next episode number, the save
buttons, and when a save reaches the apps."""

import html
import re

from django.urls import reverse

from cms import services
from tests.cms.conftest import form_read

PROGRAMS = "/admin/cms/program/"


def change_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_change", args=[item_id])


def breadcrumbs(response) -> list[tuple[str, str | None]]:
    """The breadcrumb trail as (text, link or None), left to right."""
    trail = re.search(r'<div class="breadcrumbs">(.*?)</div>', response.content.decode(), re.S).group(1)
    crumbs = []
    for part in trail.split("&rsaquo;"):
        link = re.search(r'href="([^"]*)"', part)
        text = html.unescape(re.sub(r"<[^>]+>", "", part)).strip()
        crumbs.append((text, html.unescape(link.group(1)) if link else None))
    return crumbs


def program_link(response) -> tuple[str, str] | None:
    """The program row of the form: (title, link), or None when it shows no link."""
    row = re.search(r'<div class="form-row field-program_id">(.*?)</div>\s*</div>', response.content.decode(), re.S)
    link = row and re.search(r'<a href="([^"]*)" class="program-link">(.*?)</a>', row.group(1))
    return (html.unescape(link.group(2)), link.group(1)) if link else None


# Where an item sits


def test_episode_form_shows_its_program_and_season(editor_client, tree):
    response = editor_client.get(change_url("episode", tree.episode.id))

    assert response.status_code == 200
    assert breadcrumbs(response) == [
        ("ホーム", "/admin/"),
        ("コンテンツ", "/admin/cms/"),
        ("番組", PROGRAMS),
        ("鬼滅の刃", change_url("program", tree.program.id)),
        ("竈門炭治郎 立志編", change_url("season", tree.season.id)),
        ("残酷", None),
    ]
    assert program_link(response) == ("鬼滅の刃", change_url("program", tree.program.id))
    assert form_read(response, "episode_form").values["program_id"] == tree.program.id


def test_season_form_shows_its_program(editor_client, tree):
    response = editor_client.get(change_url("season", tree.season.id))

    assert breadcrumbs(response)[2:] == [
        ("番組", PROGRAMS),
        ("鬼滅の刃", change_url("program", tree.program.id)),
        ("竈門炭治郎 立志編", None),
    ]
    assert program_link(response) == ("鬼滅の刃", change_url("program", tree.program.id))


def test_add_forms_opened_from_a_program_show_it(editor_client, tree):
    episode = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}")
    season = editor_client.get(f"/admin/cms/season/add/?program={tree.program.id}")

    assert breadcrumbs(episode)[3:] == [
        ("鬼滅の刃", change_url("program", tree.program.id)),
        ("竈門炭治郎 立志編", change_url("season", tree.season.id)),
        ("エピソードを追加", None),
    ]
    assert program_link(episode) == ("鬼滅の刃", change_url("program", tree.program.id))
    assert breadcrumbs(season)[3:] == [("鬼滅の刃", change_url("program", tree.program.id)), ("シーズンを追加", None)]


def test_a_season_of_another_program_in_the_link_is_not_shown_as_this_ones(editor_client, tree):
    other = services.program_create(user="seed", title="呪術廻戦", slug="jujutsu", status="draft")
    stray = services.season_create(user="seed", program_id=other.id, title="渋谷事変", status="draft")

    response = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}&season={stray.id}")

    assert [text for text, _link in breadcrumbs(response)[3:]] == ["鬼滅の刃", "エピソードを追加"]


def test_program_and_list_breadcrumbs_stay_as_they_were(editor_client, tree):
    program = editor_client.get(change_url("program", tree.program.id))
    season_add = editor_client.get("/admin/cms/season/add/")

    assert breadcrumbs(program)[2:] == [("番組", PROGRAMS), ("鬼滅の刃", None)]
    assert breadcrumbs(season_add)[2:] == [("シーズン", "/admin/cms/season/"), ("シーズンを追加", None)]
