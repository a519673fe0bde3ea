"""The edit forms as an editor uses them every day: where an item sits, the next episode number, the save
buttons, and when a save reaches the apps."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cms import selectors, services
from cms.broadcast import JST
from cms.store import episodes as episode_store
from tests.cms.conftest import field_error, form_read, ja

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


# A new episode's number


def episode(tree, number: int, title: str, season=None):
    return services.episode_create(
        user="seed",
        program_id=tree.program.id,
        season_id=(season or tree.season).id,
        number=number,
        title=title,
        duration_s=1440,
        status="draft",
    )


def season_options(response) -> dict[str, str | None]:
    """The season select's options: season id -> the number it offers a new episode (None: none)."""
    select = re.search(r'<select name="season_id"[^>]*>(.*?)</select>', response.content.decode(), re.S).group(1)
    options = {}
    for attrs in re.findall(r"<option([^>]*)>", select):
        number = re.search(r'data-next-number="(\d*)"', attrs)
        options[re.search(r'value="([^"]*)"', attrs).group(1)] = number.group(1) if number else None
    return options


@pytest.fixture
def second_season(tree):
    return services.season_create(user="seed", program_id=tree.program.id, title="無限列車編", status="draft")


def test_a_new_episode_takes_the_number_after_its_seasons_last(editor_client, tree, second_season):
    episode(tree, 2, "育手・鱗滝左近次")
    episode(tree, 5, "己の鋼")  # a gap: the next is after the highest, never a hole

    first = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}")
    other = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}&season={second_season.id}")
    program_only = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}")

    assert form_read(first, "episode_form").values["number"] == "6"
    assert form_read(other, "episode_form").values["number"] == "1"
    # Without a season asked for, the select shows its first season, and the number follows that one.
    assert form_read(program_only, "episode_form").values["season_id"] == tree.season.id
    assert form_read(program_only, "episode_form").values["number"] == "6"
    assert season_options(first) == {tree.season.id: "6", second_season.id: "1"}


def test_an_episode_being_edited_keeps_its_number(editor_client, tree, second_season):
    episode(tree, 2, "育手・鱗滝左近次")

    response = editor_client.get(change_url("episode", tree.episode.id))

    assert form_read(response, "episode_form").values["number"] == "1"
    assert set(season_options(response).values()) == {None}


def test_the_last_allowed_number_leaves_no_default(editor_client, tree):
    episode(tree, 9999, "最終話")

    response = editor_client.get(f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}")

    assert form_read(response, "episode_form").values["number"] == ""
    assert season_options(response)[tree.season.id] == ""


def test_two_editors_offered_the_same_number_cannot_both_take_it(editor_client, tree, raw_dynamodb):
    url = f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}"
    first = form_read(editor_client.get(url), "episode_form").values
    second = form_read(editor_client.get(url), "episode_form").values
    assert first["number"] == second["number"] == "2"

    saved = editor_client.post(url, {**first, "title": "育手・鱗滝左近次", "duration_s": "24:00"})
    refused = editor_client.post(url, {**second, "title": "錆兎と真菰", "duration_s": "24:00"})

    assert saved.status_code == 302
    assert refused.status_code == 400
    assert field_error(refused, "number") == ja("This season already has an episode with this number.")
    assert sorted(e["title"] for e in raw_dynamodb.snapshot()["episodes"]) == ["残酷", "育手・鱗滝左近次"]


def test_a_number_saved_a_moment_ago_is_skipped_even_before_the_index_lists_it(tree, monkeypatch):
    episode(tree, 2, "育手・鱗滝左近次")
    lagging = [e for e in episode_store.episodes_of_program(tree.program.id) if e.number == 1]
    monkeypatch.setattr(episode_store, "episodes_of_program", lambda program_id: lagging)

    _seasons, numbers = selectors.episode_numbers_next(tree.program.id)

    assert numbers == {tree.season.id: 3}


# The save buttons


def success_messages(response) -> list[str]:
    page = response.content.decode()
    return [html.unescape(m).strip() for m in re.findall(r'<li class="success">(.*?)</li>', page, re.S)]


def submit_buttons(response, form_id: str) -> dict[str, str]:
    return {button["name"]: button["value"] for button in form_read(response, form_id).buttons}


def add_form(client, kind: str, tree) -> tuple[str, dict]:
    """An add form's URL and what an editor sends from it."""
    url = {
        "program": "/admin/cms/program/add/",
        "season": f"/admin/cms/season/add/?program={tree.program.id}",
        "episode": f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}",
    }[kind]
    values = form_read(client.get(url), f"{kind}_form").values
    typed = {
        "program": {"title": "葬送のフリーレン", "slug": "frieren"},
        "season": {"title": "遊郭編"},
        "episode": {"title": "育手・鱗滝左近次", "duration_s": "24:00"},
    }[kind]
    return url, {**values, **typed}


def item_of(kind: str, tree):
    return {"program": tree.program, "season": tree.season, "episode": tree.episode}[kind]


KINDS = ["program", "season", "episode"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_form_offers_the_three_save_buttons(editor_client, tree, kind):
    added = editor_client.get(add_form(editor_client, kind, tree)[0])
    changed = editor_client.get(change_url(kind, item_of(kind, tree).id))

    for response in (added, changed):
        assert submit_buttons(response, f"{kind}_form") == {
            "_save": "保存",
            "_addanother": "保存してもう1件追加",
            "_continue": "保存して編集を続ける",
        }


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_continue_editing_reopens_the_saved_item(editor_client, tree, kind):
    url, values = add_form(editor_client, kind, tree)

    added = editor_client.post(url, {**values, "_continue": "保存して編集を続ける"}, follow=True)
    item_id = added.resolver_match.kwargs["object_id"]
    values = form_read(added, f"{kind}_form").values
    changed = editor_client.post(
        change_url(kind, item_id), {**values, "title": "題名を直した", "_continue": "x"}, follow=True
    )

    assert added.redirect_chain == [(change_url(kind, item_id), 302)]
    assert success_messages(added)[0].startswith(ja("“%(title)s” was added.", title=values["title"]))
    assert changed.redirect_chain == [(change_url(kind, item_id), 302)]
    assert success_messages(changed)[0].startswith(ja("“%(title)s” was changed.", title="題名を直した"))
    assert form_read(changed, f"{kind}_form").values["title"] == "題名を直した"


@pytest.mark.parametrize("kind", ["program", "season"])
def test_save_and_add_another_opens_a_new_form(editor_client, tree, kind):
    url, values = add_form(editor_client, kind, tree)

    response = editor_client.post(url, {**values, "_addanother": "保存してもう1件追加"}, follow=True)

    assert response.redirect_chain == [(url, 302)]
    assert success_messages(response)[0].startswith(ja("“%(title)s” was added.", title=values["title"]))
    fresh = form_read(response, f"{kind}_form").values
    assert fresh["title"] == ""
    if kind == "season":
        assert fresh["program_id"] == tree.program.id


def test_save_and_add_another_episode_keeps_the_season_and_numbers_on(editor_client, tree, raw_dynamodb):
    url, values = add_form(editor_client, "episode", tree)
    assert values["number"] == "2"

    second = editor_client.post(url, {**values, "_addanother": "x"}, follow=True)
    values = {**form_read(second, "episode_form").values, "title": "錆兎と真菰", "duration_s": "23:40"}
    third = editor_client.post(url, {**values, "_addanother": "x"}, follow=True)

    assert second.redirect_chain == third.redirect_chain == [(url, 302)]
    assert success_messages(third)[0].startswith(ja("“%(title)s” was added.", title="錆兎と真菰"))
    fresh = form_read(third, "episode_form").values
    assert (fresh["program_id"], fresh["season_id"], fresh["number"], fresh["title"]) == (
        tree.program.id,
        tree.season.id,
        "4",
        "",
    )
    stored = sorted((e["number"], e["title"]) for e in raw_dynamodb.snapshot()["episodes"])
    assert stored == [(1, "残酷"), (2, "育手・鱗滝左近次"), (3, "錆兎と真菰")]


def test_save_and_add_another_from_an_episode_being_edited(editor_client, tree):
    url = change_url("episode", tree.episode.id)
    values = form_read(editor_client.get(url), "episode_form").values

    response = editor_client.post(url, {**values, "title": "残酷（改）", "_addanother": "x"}, follow=True)

    add_url = f"/admin/cms/episode/add/?program={tree.program.id}&season={tree.season.id}"
    assert response.redirect_chain == [(add_url, 302)]
    assert success_messages(response)[0].startswith(ja("“%(title)s” was changed.", title="残酷（改）"))
    assert form_read(response, "episode_form").values["number"] == "2"


def test_a_refused_save_and_add_another_stays_on_the_form(editor_client, tree, raw_dynamodb):
    url, values = add_form(editor_client, "episode", tree)
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "number": "1", "_addanother": "x"})

    assert response.status_code == 400
    assert field_error(response, "number") == ja("This season already has an episode with this number.")
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize("kind", KINDS)
def test_save_leads_to_the_list_continue_to_the_item_and_add_another_to_a_new_form(editor_client, tree, kind):
    url = change_url(kind, item_of(kind, tree).id)
    list_url = reverse(f"admin:cms_{kind}_changelist")
    add_url, values = add_form(editor_client, kind, tree)

    def press(title: str, **button):
        shown = form_read(editor_client.get(url), f"{kind}_form").values
        return editor_client.post(url, {**shown, "title": title, **button}, follow=True)

    added = editor_client.post(add_url, {**values, "_save": "保存"}, follow=True)
    saved = press("一", _save="保存")
    continued = press("二", _continue="保存して編集を続ける")
    another = press("三", _addanother="保存してもう1件追加")
    no_button = press("四")

    assert added.redirect_chain == [(list_url, 302)]
    assert success_messages(added)[0].startswith(ja("“%(title)s” was added.", title=values["title"]))
    assert saved.redirect_chain == [(list_url, 302)]
    assert saved.resolver_match.url_name == f"cms_{kind}_changelist"
    assert success_messages(saved)[0].startswith(ja("“%(title)s” was changed.", title="一"))
    assert continued.redirect_chain == [(url, 302)]
    assert success_messages(continued)[0].startswith(ja("“%(title)s” was changed.", title="二"))
    assert form_read(continued, f"{kind}_form").values["title"] == "二"
    assert another.redirect_chain == [(add_url, 302)]
    assert success_messages(another)[0].startswith(ja("“%(title)s” was changed.", title="三"))
    assert form_read(another, f"{kind}_form").values["title"] == ""
    assert no_button.redirect_chain == [(list_url, 302)]
    assert success_messages(no_button)[0].startswith(ja("“%(title)s” was changed.", title="四"))


def test_viewers_get_no_save_buttons(viewer_client, tree):
    response = viewer_client.get(change_url("episode", tree.episode.id))

    assert response.status_code == 200
    assert submit_buttons(response, "episode_form") == {}


# When a save reaches the apps


def saved_message(client, kind: str, item, **changes) -> str:
    """Save `item` through its form with `changes` (保存); the success message shown on the list that follows."""
    url = change_url(kind, item.id)
    values = form_read(client.get(url), f"{kind}_form").values
    response = client.post(url, {**values, **changes, "_save": "保存"}, follow=True)
    assert response.redirect_chain == [(reverse(f"admin:cms_{kind}_changelist"), 302)], response.content.decode()[:2000]
    (message,) = success_messages(response)
    return message


def changed(title: str, reach: str, **values) -> str:
    return ja("“%(title)s” was changed.", title=title) + ja(reach, **values)


def publish_all(tree) -> None:
    for kind, item in (("program", tree.program), ("season", tree.season)):
        update = getattr(services, f"{kind}_update")
        update(**{f"{kind}_id": item.id}, version=item.version, user="seed", status="published")


def test_a_draft_is_said_to_stay_out_of_the_apps(editor_client, tree):
    message = saved_message(editor_client, "episode", tree.episode, status="draft")

    assert message == changed("残酷", "It is a draft, so the apps do not show it.")
    assert message == "「残酷」を更新しました。下書きのため、アプリには表示されません。"


def test_a_published_episode_of_a_draft_program_or_season_is_said_to_stay_out(editor_client, tree):
    program_held = saved_message(editor_client, "episode", tree.episode, status="published")
    services.program_update(program_id=tree.program.id, version=1, user="seed", status="published")
    season_held = saved_message(editor_client, "season", tree.season, status="draft")
    episode_held = saved_message(editor_client, "episode", tree.episode, title="残酷（改）")

    assert program_held == changed("残酷", "Its program is a draft, so the apps do not show it.")
    assert season_held == changed("竈門炭治郎 立志編", "It is a draft, so the apps do not show it.")
    assert episode_held == changed("残酷（改）", "Its season is a draft, so the apps do not show it.")


def test_live_content_reaches_the_apps_with_the_next_rebuild_when_saves_queue_none(editor_client, tree):
    publish_all(tree)

    message = saved_message(editor_client, "episode", tree.episode, status="published")

    assert message == changed("残酷", "It reaches the apps with the next catalog rebuild.")


def test_scheduled_content_names_its_time_in_jst(editor_client, tree):
    publish_all(tree)
    for _ in range(2):  # a save that straddled midnight in JST is made once more, on one side of it
        before = datetime.now(JST)
        soon = (before + timedelta(minutes=2)).replace(second=0, microsecond=0)
        today = saved_message(
            editor_client, "episode", tree.episode, status="published", publish_at=f"{soon:%Y-%m-%d %H:%M}"
        )
        if datetime.now(JST).date() == before.date():
            break
    # Later today shows the time alone; just past midnight, tomorrow's date comes with it.
    shown = f"{soon:%H:%M}" if soon.date() == before.date() else f"{soon:%Y-%m-%d %H:%M}"
    another_day = saved_message(editor_client, "episode", tree.episode, publish_at="2099-11-26 25:30")

    assert today == changed("残酷", "It appears in the apps at %(time)s JST.", time=shown)
    assert today.endswith(f"アプリでの配信開始は {shown}（日本時間）です。")
    assert another_day == changed("残酷", "It appears in the apps at %(time)s JST.", time="2099-11-27 01:30")


def test_a_program_starting_later_holds_its_episodes_back_until_then(editor_client, tree):
    publish_all(tree)
    services.program_update(
        program_id=tree.program.id, version=2, user="seed", publish_at=datetime(2099, 1, 2, 14, 45, tzinfo=UTC)
    )

    message = saved_message(editor_client, "episode", tree.episode, status="published", publish_at="2026-01-01 00:00")

    assert message == changed("残酷", "It appears in the apps at %(time)s JST.", time="2099-01-02 23:45")


def test_content_past_its_end_is_said_to_stay_out(editor_client, tree):
    publish_all(tree)

    message = saved_message(
        editor_client,
        "episode",
        tree.episode,
        status="published",
        publish_at="2020-01-01 00:00",
        expire_at="2021-01-01 00:00",
    )

    assert message == changed("残酷", "It is outside its time of availability, so the apps do not show it.")
