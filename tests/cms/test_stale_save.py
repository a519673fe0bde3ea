"""A save refused as stale is merged: the other editor's changes are kept, and a field both changed asks."""

import html
import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from cms import domain, services
from cms.templatetags.airtime import jst
from tests.cms.conftest import field_error, form_read, ja

OTHER = "kanao-editor"
CHOOSE = "Choose whether to keep your value or theirs for “%(field)s”."
LOADED_INVALID = (
    "This page's record of the values you opened could not be verified, so nothing was saved. "
    "Check your input and save again."
)


@pytest.fixture
def other_client(db) -> Client:
    """A second editor, saving the same items from their own browser."""
    user = User.objects.create_user(OTHER, password="secret-pass-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    client = Client()
    client.force_login(user)
    return client


def change_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_change", args=[item_id])


def text(response) -> str:
    return html.unescape(response.content.decode())


def cells(response, row_class: str, kinds: str) -> tuple[str, ...]:
    """The cells of the comparison row with class `row_class`, in the order of `kinds` (td classes)."""
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', response.content.decode(), re.S)
    assert row, f"no comparison row {row_class}"
    found = dict(re.findall(r'<td class="stale-(\w+)">(.*?)</td>', row.group(1), re.S))
    return tuple(html.unescape(found[kind]) for kind in kinds.split())


def conflict_row(response, name: str) -> tuple[str, str]:
    """(theirs, mine) of a field both editors changed."""
    return cells(response, f"stale-field-{name}", "theirs mine")


def taken_row(response, name: str) -> tuple[str, str]:
    """(before, now) of a field only the other editor changed."""
    return cells(response, f"stale-taken-{name}", "before now")


def conflicts(response) -> list[str]:
    return re.findall(r'<tr class="stale-field-(\w+)">', response.content.decode())


def taken(response) -> list[str]:
    return re.findall(r'<tr class="stale-taken-(\w+)">', response.content.decode())


def saved_by(raw_item: dict, user: str = OTHER) -> str:
    """The line naming who saved `raw_item` and when, in JST."""
    return ja("%(user)s saved this item at %(time)s.", user=user, time=jst(domain.time_parse(raw_item["updated_at"])))


def test_disjoint_changes_are_both_kept_without_a_choice(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    theirs = form_read(other_client.get(url), "episode_form").values
    assert other_client.post(url, {**theirs, "title": "鬼殺隊", "status": "published"}).status_code == 302

    response = editor_client.post(url, {**mine, "synopsis": "炭治郎は修行に向かう。", "_continue": ""}, follow=True)

    assert response.redirect_chain == [(url, 302)]
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["status"], item["synopsis"], item["version"]) == (
        "鬼殺隊",
        "published",
        "炭治郎は修行に向かう。",
        3,
    )
    fields = ja("Title") + "、" + ja("Status")
    assert ja("The changes %(user)s saved meanwhile to %(fields)s were kept too.", user=OTHER, fields=fields) in text(
        response
    )
    assert 'id="stale-comparison"' not in response.content.decode()
    assert form_read(response, "episode_form").values["title"] == "鬼殺隊"


def test_a_field_both_changed_needs_a_choice_and_the_rest_is_merged(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("program", tree.program.id)
    mine = form_read(editor_client.get(url), "program_form").values
    theirs = form_read(other_client.get(url), "program_form").values
    other_client.post(url, {**theirs, "title": "鬼滅の刃 無限列車編", "status": "published", "genre": "movie"})
    stored = raw_dynamodb.get("programs", tree.program.id)
    before = raw_dynamodb.snapshot()

    response = editor_client.post(
        url, {**mine, "title": "鬼滅の刃 刀鍛冶の里編", "genre": "drama", "description": "刀鍛冶の里へ。"}
    )

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    assert conflicts(response) == ["title", "genre"]
    assert conflict_row(response, "title") == ("鬼滅の刃 無限列車編", "鬼滅の刃 刀鍛冶の里編")
    assert conflict_row(response, "genre") == (ja("Movie"), ja("Drama"))
    assert taken(response) == ["status"]
    assert taken_row(response, "status") == (ja("Draft"), ja("Published"))
    assert saved_by(stored) in text(response)
    assert f'href="{reverse("admin:cms_program_history", args=[tree.program.id])}"' in response.content.decode()
    shown = form_read(response, "program_form").values
    # Nothing is chosen for the editor; their input stays in the conflicting fields.
    assert not any(name.startswith("_keep_") for name in shown)
    assert (shown["title"], shown["genre"], shown["status"], shown["description"]) == (
        "鬼滅の刃 刀鍛冶の里編",
        "drama",
        "published",
        "刀鍛冶の里へ。",
    )
    assert shown["version"] == "2"

    refused = editor_client.post(url, {**shown, "_keep_title": "mine"})

    assert refused.status_code == 400
    assert raw_dynamodb.snapshot() == before
    assert field_error(refused, "genre") == ja(CHOOSE, field=ja("Genre"))
    assert conflicts(refused) == ["title", "genre"]
    assert 'id="id_keep_mine_title" checked' in refused.content.decode()

    saved = editor_client.post(url, {**form_read(refused, "program_form").values, "_keep_genre": "theirs"})

    assert saved.status_code == 302
    item = raw_dynamodb.get("programs", tree.program.id)
    assert (item["title"], item["genre"], item["status"], item["description"], item["version"]) == (
        "鬼滅の刃 刀鍛冶の里編",
        "movie",
        "published",
        "刀鍛冶の里へ。",
        3,
    )


@pytest.mark.parametrize(("choice", "title"), [("theirs", "鬼殺隊"), ("mine", "育手・鱗滝左近次")])
def test_the_chosen_value_is_stored_with_their_other_change(
    editor_client, other_client, tree, raw_dynamodb, choice, title
):
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    theirs = form_read(other_client.get(url), "episode_form").values
    other_client.post(url, {**theirs, "title": "鬼殺隊", "video_url": "https://cdn.example.jp/e1.m3u8"})
    response = editor_client.post(url, {**mine, "title": "育手・鱗滝左近次", "synopsis": "炭治郎は修行に向かう。"})
    assert conflicts(response) == ["title"]

    saved = editor_client.post(url, {**form_read(response, "episode_form").values, "_keep_title": choice})

    assert saved.status_code == 302
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["video_url"], item["synopsis"]) == (
        title,
        "https://cdn.example.jp/e1.m3u8",
        "炭治郎は修行に向かう。",
    )


def test_durations_times_and_seasons_are_compared_as_the_form_shows_them(editor_client, other_client, tree):
    second = services.season_create(user="seed", program_id=tree.program.id, title="無限列車編")
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    theirs = form_read(other_client.get(url), "episode_form").values
    other_client.post(
        url, {**theirs, "duration_s": "1:30:00", "publish_at": "2026-11-26 25:30", "season_id": second.id}
    )

    response = editor_client.post(url, {**mine, "duration_s": "1500", "publish_at": "2026-11-26 23:00"})

    assert conflict_row(response, "duration_s") == ("1:30:00", "25:00")
    assert conflict_row(response, "publish_at") == ("2026-11-27 01:30", "2026-11-26 23:00")
    assert taken_row(response, "season_id") == ("竈門炭治郎 立志編", "無限列車編")


def test_a_third_save_in_between_is_merged_again(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    theirs = form_read(other_client.get(url), "episode_form").values
    other_client.post(url, {**theirs, "title": "鬼殺隊"})
    shown = form_read(editor_client.post(url, {**mine, "title": "私の題", "synopsis": "修行。"}), "episode_form").values
    services.episode_update(episode_id=tree.episode.id, version=2, user="third", title="三人目の題", duration_s=1500)
    stored = raw_dynamodb.get("episodes", tree.episode.id)
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**shown, "_keep_title": "mine"})

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    assert conflicts(response) == ["title"]
    assert conflict_row(response, "title") == ("三人目の題", "私の題")
    assert taken_row(response, "duration_s") == ("24:00", "25:00")
    assert saved_by(stored, "third") in text(response)
    again = form_read(response, "episode_form").values
    assert (again["version"], again["duration_s"]) == ("3", "25:00")

    assert editor_client.post(url, {**again, "_keep_title": "theirs"}).status_code == 302
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["duration_s"], item["synopsis"], item["version"]) == ("三人目の題", 1500, "修行。", 4)


def test_a_third_save_of_other_fields_is_merged_and_saved(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    theirs = form_read(other_client.get(url), "episode_form").values
    other_client.post(url, {**theirs, "title": "鬼殺隊"})
    shown = form_read(editor_client.post(url, {**mine, "title": "私の題"}), "episode_form").values
    services.episode_update(episode_id=tree.episode.id, version=2, user="third", tags=["アニメ", "時代劇"])

    response = editor_client.post(url, {**shown, "_keep_title": "mine"}, follow=True)

    assert response.redirect_chain == [(reverse("admin:cms_episode_changelist"), 302)]
    assert ja("The changes %(user)s saved meanwhile to %(fields)s were kept too.", user="third", fields=ja("Tags")) in (
        text(response)
    )
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["tags"], item["version"]) == ("私の題", ["アニメ", "時代劇"], 4)


def tampered(editor_client, tree) -> dict[str, str]:
    """Values as loaded that this episode's page never carried."""
    blob = form_read(editor_client.get(change_url("episode", tree.episode.id)), "episode_form").values["_loaded"]
    season = form_read(editor_client.get(change_url("season", tree.season.id)), "season_form").values["_loaded"]
    return {
        "garbage": "not-a-signature",
        "edited": blob[:-3] + ("AAA" if not blob.endswith("AAA") else "BBB"),
        "another item": season,
        "oversized": blob + "x" * 700_000,
    }


@pytest.mark.parametrize("kind", ["garbage", "edited", "another item", "oversized"])
@pytest.mark.parametrize("stale", [False, True], ids=["current", "stale"])
def test_tampered_values_as_loaded_are_refused_and_nothing_is_stored(
    editor_client, other_client, tree, raw_dynamodb, kind, stale
):
    url = change_url("episode", tree.episode.id)
    mine = form_read(editor_client.get(url), "episode_form").values
    blob = tampered(editor_client, tree)[kind]
    if stale:
        other_client.post(url, {**form_read(other_client.get(url), "episode_form").values, "title": "鬼殺隊"})
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**mine, "_loaded": blob, "synopsis": "修行。"})

    assert response.status_code == 400
    assert ja(LOADED_INVALID) in text(response)
    assert raw_dynamodb.snapshot() == before
    assert form_read(response, "episode_form").values["synopsis"] == "修行。"


def test_values_loaded_at_another_version_than_the_form_read_are_not_trusted(editor_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    first = form_read(editor_client.get(url), "episode_form").values
    editor_client.post(url, {**first, "title": "鬼殺隊"})
    later = form_read(editor_client.get(url), "episode_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**first, "_loaded": later["_loaded"], "synopsis": "修行。"})

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    # The later values would make the old title look like this editor's change: every difference asks instead.
    assert conflicts(response) == ["title", "synopsis"]
    assert conflict_row(response, "title") == ("鬼殺隊", "残酷")


def test_a_form_without_values_as_loaded_asks_for_every_difference(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    old_page = form_read(editor_client.get(url), "episode_form").values
    del old_page["_loaded"]
    other_client.post(url, {**form_read(other_client.get(url), "episode_form").values, "title": "鬼殺隊"})
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**old_page, "synopsis": "修行。"})

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    # It cannot tell the title the editor never touched from one they typed: it asks, and fills in nothing.
    assert conflicts(response) == ["title", "synopsis"]
    assert conflict_row(response, "title") == ("鬼殺隊", "残酷")
    assert taken(response) == []
    shown = form_read(response, "episode_form").values
    assert (shown["title"], shown["synopsis"]) == ("残酷", "修行。")
    assert field_error(editor_client.post(url, shown), "title") == ja(CHOOSE, field=ja("Title"))

    saved = editor_client.post(url, {**shown, "_keep_title": "theirs", "_keep_synopsis": "mine"})

    assert saved.status_code == 302
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["synopsis"]) == ("鬼殺隊", "修行。")


def test_a_form_without_values_as_loaded_saves_when_nothing_changed_meanwhile(editor_client, tree, raw_dynamodb):
    url = change_url("season", tree.season.id)
    old_page = form_read(editor_client.get(url), "season_form").values
    del old_page["_loaded"]

    assert editor_client.post(url, {**old_page, "title": "別の題"}).status_code == 302
    assert raw_dynamodb.get("seasons", tree.season.id)["title"] == "別の題"


def test_a_season_both_retitled_asks_which_title(editor_client, other_client, tree, raw_dynamodb):
    url = change_url("season", tree.season.id)
    mine = form_read(editor_client.get(url), "season_form").values
    other_client.post(url, {**form_read(other_client.get(url), "season_form").values, "title": "立志編"})

    response = editor_client.post(url, {**mine, "title": "別の題", "status": "published"})

    assert conflicts(response) == ["title"]
    saved = editor_client.post(url, {**form_read(response, "season_form").values, "_keep_title": "theirs"})
    assert saved.status_code == 302
    item = raw_dynamodb.get("seasons", tree.season.id)
    assert (item["title"], item["status"]) == ("立志編", "published")


@pytest.mark.parametrize("name", ["_keep_slugx", "_keep_version", "_keep_key_art_upload", "_keep_title", "_keep_"])
def test_a_choice_for_a_field_not_in_conflict_is_a_form_error(editor_client, tree, raw_dynamodb, name):
    url = change_url("program", tree.program.id)
    values = form_read(editor_client.get(url), "program_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "title": "別の題", name: "theirs"})

    assert response.status_code == 400
    assert ja("Only the fields listed in the comparison can take the other version's value.") in text(response)
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize("version", ["", "abc", "-1", "0", "9" * 5000, "1.5"])
def test_a_tampered_version_is_a_form_error(editor_client, tree, raw_dynamodb, version):
    url = change_url("episode", tree.episode.id)
    values = form_read(editor_client.get(url), "episode_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "version": version, "title": "別の題"})

    assert response.status_code == 400
    assert 'class="errornote"' in response.content.decode()
    assert raw_dynamodb.snapshot() == before
