"""A save refused as stale shows the stored values next to the editor's and can take theirs per field."""

import html
import re

import pytest
from django.urls import reverse

from cms import services
from tests.cms.conftest import form_read, ja


def change_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_change", args=[item_id])


def comparison_row(response, name: str) -> tuple[str, str]:
    """The (theirs, mine) cells of the comparison row for field `name`."""
    page = response.content.decode()
    row = re.search(rf'<tr class="stale-field-{name}">(.*?)</tr>', page, re.S)
    assert row, f"no comparison row for {name}"
    cells = dict(re.findall(r'<td class="stale-(theirs|mine)">(.*?)</td>', row.group(1), re.S))
    return html.unescape(cells["theirs"]), html.unescape(cells["mine"])


def compared_fields(response) -> list[str]:
    return re.findall(r'<tr class="stale-field-(\w+)">', response.content.decode())


def test_episode_stale_save_shows_theirs_and_takes_a_field(editor_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    loaded = form_read(editor_client.get(url), "episode_form").values
    # Editor A saves a new title from the same form.
    assert editor_client.post(url, {**loaded, "title": "鬼殺隊"}).status_code == 302

    response = editor_client.post(url, {**loaded, "title": "育手・鱗滝左近次", "synopsis": "炭治郎は修行に向かう。"})

    assert response.status_code == 400
    assert comparison_row(response, "title") == ("鬼殺隊", "育手・鱗滝左近次")
    assert comparison_row(response, "synopsis") == ("—", "炭治郎は修行に向かう。")
    assert compared_fields(response) == ["title", "synopsis"]
    shown = form_read(response, "episode_form").values
    assert (shown["title"], shown["synopsis"]) == ("育手・鱗滝左近次", "炭治郎は修行に向かう。")
    assert shown["version"] == "2"
    assert f'href="{reverse("admin:cms_episode_history", args=[tree.episode.id])}"' in response.content.decode()
    assert ja("Use theirs") in html.unescape(response.content.decode())

    saved = editor_client.post(url, {**shown, "_theirs": "title"})

    assert saved.status_code == 302
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert (item["title"], item["synopsis"], item["version"]) == ("鬼殺隊", "炭治郎は修行に向かう。", 3)


def test_durations_and_times_are_compared_as_the_form_shows_them(editor_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    loaded = form_read(editor_client.get(url), "episode_form").values
    editor_client.post(url, {**loaded, "duration_s": "1:30:00", "publish_at": "2026-11-26 25:30"})

    response = editor_client.post(url, {**loaded, "duration_s": "1440", "publish_at": ""})

    assert comparison_row(response, "duration_s") == ("1:30:00", "24:00")
    assert comparison_row(response, "publish_at") == ("2026-11-27 01:30", "—")
    shown = form_read(response, "episode_form").values
    assert editor_client.post(url, {**shown, "_theirs": ["duration_s", "publish_at"]}).status_code == 302
    item = raw_dynamodb.get("episodes", tree.episode.id)
    assert item["duration_s"] == 5400


def test_a_third_save_in_between_is_refused_again(editor_client, tree, raw_dynamodb):
    url = change_url("episode", tree.episode.id)
    loaded = form_read(editor_client.get(url), "episode_form").values
    editor_client.post(url, {**loaded, "title": "鬼殺隊"})
    shown = form_read(editor_client.post(url, {**loaded, "title": "私の題"}), "episode_form").values
    services.episode_update(episode_id=tree.episode.id, version=2, user="third", title="三人目の題")
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**shown, "_theirs": "title"})

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    assert comparison_row(response, "title") == ("三人目の題", "私の題")
    assert form_read(response, "episode_form").values["version"] == "3"


def test_program_stale_save_shows_theirs_and_takes_a_field(editor_client, tree, raw_dynamodb):
    url = change_url("program", tree.program.id)
    loaded = form_read(editor_client.get(url), "program_form").values
    editor_client.post(url, {**loaded, "title": "鬼滅の刃 無限列車編", "status": "published"})

    response = editor_client.post(url, {**loaded, "title": "鬼滅の刃 刀鍛冶の里編", "description": "刀鍛冶の里へ。"})

    assert response.status_code == 400
    assert comparison_row(response, "title") == ("鬼滅の刃 無限列車編", "鬼滅の刃 刀鍛冶の里編")
    assert comparison_row(response, "status") == (ja("Published"), ja("Draft"))
    shown = form_read(response, "program_form").values
    assert editor_client.post(url, {**shown, "_theirs": ["title", "status"]}).status_code == 302
    item = raw_dynamodb.get("programs", tree.program.id)
    stored = (item["title"], item["status"], item["description"])
    assert stored == ("鬼滅の刃 無限列車編", "published", "刀鍛冶の里へ。")


@pytest.mark.parametrize("theirs", ["slugx", "version", "key_art_upload", "program_id", "", "x" * 5000])
def test_taking_theirs_for_a_field_not_offered_is_a_form_error(editor_client, tree, raw_dynamodb, theirs):
    url = change_url("program", tree.program.id)
    values = form_read(editor_client.get(url), "program_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "title": "別の題", "_theirs": theirs})

    assert response.status_code == 400
    assert ja("Only the fields listed in the comparison can take the other version's value.") in html.unescape(
        response.content.decode()
    )
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize("version", ["", "abc", "-1", "0", "9" * 5000, "1.5"])
def test_taking_theirs_with_a_tampered_version_is_a_form_error(editor_client, tree, raw_dynamodb, version):
    url = change_url("episode", tree.episode.id)
    values = form_read(editor_client.get(url), "episode_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "version": version, "title": "別の題", "_theirs": "title"})

    assert response.status_code == 400
    assert 'class="errornote"' in response.content.decode()
    assert raw_dynamodb.snapshot() == before


def test_a_version_from_the_future_is_refused_as_stale(editor_client, tree, raw_dynamodb):
    url = change_url("season", tree.season.id)
    values = form_read(editor_client.get(url), "season_form").values
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "version": "99", "title": "別の題", "_theirs": "title"})

    assert response.status_code == 400
    assert raw_dynamodb.snapshot() == before
    assert comparison_row(response, "title") == ("竈門炭治郎 立志編", "別の題")
    assert form_read(response, "season_form").values["version"] == "1"
