"""Editors work through the admin end to end; every write lands in DynamoDB as designed."""

import html
import io
import re
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.storage import default_storage
from django.urls import resolve, reverse
from django.utils import translation
from PIL import Image

from cms import services
from cms.admin.base import STALE_DELETE
from tests.cms.conftest import field_error, form_read, ja, ja_plural, link_href, listed_titles, page_text

PROGRAMS = "/admin/cms/program/"
SEASONS = "/admin/cms/season/"
EPISODES = "/admin/cms/episode/"


def created_id(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return resolve(response["Location"]).kwargs["object_id"]


def change_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_change", args=[item_id])


def contents_link(response, model: str) -> str:
    """The add link for `model` in the program page's "Seasons and episodes" box."""
    box = response.content.decode().split('id="program-contents"', 1)[1]
    return html.unescape(re.search(rf'href="(/admin/cms/{model}/add/[^"]*)" class="addlink"', box).group(1))


def checkboxes(response) -> dict[str, str]:
    """The changelist's row checkboxes: item id -> the value a browser sends when the row is ticked."""
    form = form_read(response, "changelist-form")
    values = [control["value"] for control in form.controls if control.get("name") == "_selected_action"]
    return {value.split(":")[0]: value for value in values}


def items_on_page(count: int) -> str:
    """The changelist's "N items on this page" line, as an editor sees it."""
    return ja_plural("%(counter)s item on this page", "%(counter)s items on this page", count, counter=count)


def program_data(**overrides) -> dict:
    return {
        "title": "葬送のフリーレン",
        "title_kana": "そうそうのふりーれん",
        "slug": "frieren",
        "description": "魔王を倒した勇者一行のその後",
        "genre": "anime",
        "sort_order": "3",
        "status": "draft",
        "publish_at": "",
        "expire_at": "",
        **overrides,
    }


def make_program(title: str, **fields):
    slug = fields.pop("slug", None) or f"p-{services.new_id().lower()}"
    return services.program_create(user="seed", title=title, slug=slug, status=fields.pop("status", "draft"), **fields)


def make_episode(program, season, number: int, title: str, **fields):
    return services.episode_create(
        user="seed",
        program_id=program.id,
        season_id=season.id,
        number=number,
        title=title,
        duration_s=fields.pop("duration_s", 1440),
        status=fields.pop("status", "draft"),
        **fields,
    )


# Creating and reading back


@pytest.mark.parametrize("entered", ["2026-11-27 01:30", "2026-11-26 25:30"])
def test_program_added_in_the_form_is_stored_in_dynamodb(editor_client, editor, raw_dynamodb, entered):
    response = editor_client.post(
        f"{PROGRAMS}add/",
        {**program_data(publish_at=entered, expire_at="2027-03-31 23:59"), "_continue": ""},
        follow=False,
    )

    program_id = created_id(response)
    item = raw_dynamodb.get("programs", program_id)
    assert item["id"] == program_id
    assert {k: item[k] for k in ("title", "title_kana", "slug", "description", "genre", "sort_order", "status")} == {
        "title": "葬送のフリーレン",
        "title_kana": "そうそうのふりーれん",
        "slug": "frieren",
        "description": "魔王を倒した勇者一行のその後",
        "genre": "anime",
        "sort_order": 3,
        "status": "draft",
    }
    assert item["publish_at"] == "2026-11-26T16:30:00Z"
    assert item["expire_at"] == "2027-03-31T14:59:00Z"
    assert item["version"] == 1
    assert item["updated_by"] == editor.username
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["updated_at"])


def test_program_page_shows_jst_and_broadcast_notation(editor_client, raw_dynamodb):
    program_id = created_id(
        editor_client.post(f"{PROGRAMS}add/", {**program_data(publish_at="2026-11-26 25:30"), "_continue": ""})
    )

    response = editor_client.get(change_url("program", program_id))

    assert ja("“%(title)s” was added.", title="葬送のフリーレン") in page_text(response)
    assert form_read(response, "program_form").values["publish_at"] == "2026-11-27 01:30"
    assert ja("Broadcast notation: %(alt)s", alt="2026-11-26 25:30") in page_text(response)
    listed = page_text(editor_client.get(PROGRAMS))
    assert "2026-11-27 01:30 (2026-11-26 25:30)" in listed


def test_season_and_episode_added_through_the_program_page_links(editor_client, raw_dynamodb, png_upload):
    program_id = created_id(editor_client.post(f"{PROGRAMS}add/", {**program_data(), "_continue": ""}))
    program_page = editor_client.get(change_url("program", program_id))
    assert ja("No seasons yet.") in page_text(program_page)

    season_add = contents_link(program_page, "season")
    season_form = editor_client.get(season_add)
    values = form_read(season_form, "season_form").values
    assert values["program_id"] == program_id
    season_id = created_id(
        editor_client.post(season_add, {**values, "title": "第1期", "sort_order": "1", "_continue": ""})
    )
    season = raw_dynamodb.get("seasons", season_id)
    assert {k: season[k] for k in ("id", "program_id", "title", "sort_order", "status", "version", "updated_by")} == {
        "id": season_id,
        "program_id": program_id,
        "title": "第1期",
        "sort_order": 1,
        "status": "draft",
        "version": 1,
        "updated_by": "eri-editor",
    }

    program_page = editor_client.get(change_url("program", program_id))
    assert "第1期" in page_text(program_page)
    episode_add = contents_link(program_page, "episode")
    episode_form = editor_client.get(episode_add)
    values = form_read(episode_form, "episode_form").values
    assert (values["program_id"], values["season_id"]) == (program_id, season_id)
    response = editor_client.post(
        episode_add,
        {
            **values,
            "number": "1",
            "title": "冒険の終わり",
            "duration_s": "1440",
            "video_url": "https://video.example.com/frieren/1/master.m3u8",
            "tags": "ファンタジー、 新作, 話題",
            "cast": "種﨑敦美, 岡本信彦",
            "publish_at": "2026-11-26 23:45",
            "thumbnail_upload": png_upload("ep1.png"),
            "_continue": "",
        },
    )
    episode_id = created_id(response)

    item = raw_dynamodb.get("episodes", episode_id)
    assert (item["program_id"], item["season_id"], item["number"]) == (program_id, season_id, 1)
    assert item["tags"] == ["ファンタジー", "新作", "話題"]
    assert item["cast"] == ["種﨑敦美", "岡本信彦"]
    assert item["publish_at"] == "2026-11-26T14:45:00Z"
    assert item["duration_s"] == 1440
    assert default_storage.exists(item["thumbnail"])
    episode_page = editor_client.get(change_url("episode", episode_id))
    assert f'src="{default_storage.url(item["thumbnail"])}"' in episode_page.content.decode()

    program_page = page_text(editor_client.get(change_url("program", program_id)))
    assert "冒険の終わり" in program_page
    assert "2026-11-26 23:45" in program_page


def test_episode_add_without_program_asks_for_one_first(editor_client, tree):
    picker = editor_client.get(f"{EPISODES}add/")

    assert picker.status_code == 200
    # An autocomplete: the program is found by typing, not listed in the page.
    assert '<select name="program"' in picker.content.decode()
    found = editor_client.get(f"{PROGRAMS}autocomplete/", {"term": "きめつ"}).json()["results"]
    assert found == [{"id": tree.program.id, "text": "鬼滅の刃"}]
    form = editor_client.get(f"{EPISODES}add/", {"program": tree.program.id})
    assert form_read(form, "episode_form").values["program_id"] == tree.program.id


def test_key_art_upload_is_stored_and_shown(editor_client, tree, raw_dynamodb, png_upload):
    url = change_url("program", tree.program.id)
    values = form_read(editor_client.get(url), "program_form").values

    response = editor_client.post(url, {**values, "key_art_upload": png_upload("poster.PNG")})

    assert response.status_code == 302
    key_art = raw_dynamodb.get("programs", tree.program.id)["key_art"]
    assert key_art.startswith("key-art/") and key_art.endswith(".png")
    with default_storage.open(key_art) as stored:
        assert Image.open(io.BytesIO(stored.read())).size == (64, 36)
    page = editor_client.get(url).content.decode()
    assert f'<img src="{default_storage.url(key_art)}"' in page


def test_edit_saves_changes_and_bumps_the_version(editor_client, tree, raw_dynamodb):
    url = change_url("program", tree.program.id)
    values = form_read(editor_client.get(url), "program_form").values
    assert values["version"] == "1"

    response = editor_client.post(url, {**values, "title": "鬼滅の刃 無限列車編", "sort_order": "7", "genre": "movie"})

    assert response.status_code == 302
    item = raw_dynamodb.get("programs", tree.program.id)
    assert (item["title"], item["sort_order"], item["genre"], item["version"]) == ("鬼滅の刃 無限列車編", 7, "movie", 2)
    assert item["updated_by"] == "eri-editor"
    assert item["slug"] == "kimetsu"
    assert listed_titles(editor_client.get(PROGRAMS)) == ["鬼滅の刃 無限列車編"]


@pytest.mark.parametrize("model", ("program", "season", "episode"))
def test_stale_version_is_refused_and_the_input_kept(editor_client, tree, raw_dynamodb, model):
    url = change_url(model, getattr(tree, model).id)
    values = form_read(editor_client.get(url), f"{model}_form").values
    # Someone else saves the same item between reading the form and submitting it.
    update = getattr(services, f"{model}_update")
    update(**{f"{model}_id": getattr(tree, model).id}, version=1, user="someone-else", title="Their title")
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "title": "My title"})

    assert response.status_code == 400
    assert str(services.STALE_MESSAGE) in page_text(response)
    assert form_read(response, f"{model}_form").values["title"] == "My title"
    assert raw_dynamodb.snapshot() == before
    assert raw_dynamodb.get(f"{model}s", getattr(tree, model).id)["title"] == "Their title"


def test_stale_delete_is_refused(editor_client, tree, raw_dynamodb):
    services.program_update(program_id=tree.program.id, version=1, user="someone-else", title="Their title")

    response = editor_client.post(reverse("admin:cms_program_delete", args=[tree.program.id]), {"version": "1"})

    assert response.status_code == 409
    assert str(STALE_DELETE) in page_text(response)
    assert "Their title" in page_text(response)
    assert raw_dynamodb.get("programs", tree.program.id)["title"] == "Their title"


@pytest.mark.parametrize("version", ["", "abc", "0", "-1", "1" + "0" * 40, "1" + "0" * 200, "9" * 5000, "１"])
@pytest.mark.parametrize("kind", ["program", "season", "episode"])
def test_delete_with_a_tampered_version_deletes_nothing(editor_client, tree, raw_dynamodb, kind, version):
    before = raw_dynamodb.snapshot()

    response = editor_client.post(
        reverse(f"admin:cms_{kind}_delete", args=[getattr(tree, kind).id]), {"version": version}
    )

    assert response.status_code == 409
    assert ja("Reload the page and try again.") in page_text(response)
    assert raw_dynamodb.snapshot() == before


# Deleting


def test_program_delete_confirms_counts_and_removes_everything(editor_client, tree, raw_dynamodb):
    season2 = services.season_create(user="seed", program_id=tree.program.id, title="遊郭編", status="draft")
    make_episode(tree.program, season2, 1, "音柱・宇髄天元")
    make_episode(tree.program, season2, 2, "遊郭潜入")
    other = make_program("進撃の巨人", slug="shingeki")
    other_season = services.season_create(user="seed", program_id=other.id, title="Season 1", status="draft")
    other_episode = make_episode(other, other_season, 1, "二千年後の君へ")
    delete_url = reverse("admin:cms_program_delete", args=[tree.program.id])

    confirm = editor_client.get(delete_url)

    seasons = ja_plural("%(count)d season", "%(count)d seasons", 2, count=2)
    episodes = ja_plural("%(count)d episode", "%(count)d episodes", 3, count=3)
    summary = ja("%(seasons)s and %(episodes)s will be deleted with it.", seasons=seasons, episodes=episodes)
    assert summary in page_text(confirm)
    assert "鬼滅の刃" in page_text(confirm)
    assert '<input type="hidden" name="version" value="1">' in confirm.content.decode()
    response = editor_client.post(delete_url, {"version": "1", "post": "yes"})

    assert response.status_code == 302
    listing = editor_client.get(response["Location"])
    assert ja("“%(title)s” was deleted.", title="鬼滅の刃") in page_text(listing)
    assert listed_titles(listing) == ["進撃の巨人"]
    assert raw_dynamodb.get("programs", tree.program.id) is None
    for season_id in (tree.season.id, season2.id):
        assert raw_dynamodb.get("seasons", season_id) is None
    assert raw_dynamodb.counts() == {"programs": 1, "seasons": 1, "episodes": 1, "uniques": 2}
    assert raw_dynamodb.get("episodes", other_episode.id)["title"] == "二千年後の君へ"
    assert editor_client.get(change_url("program", tree.program.id)).status_code == 404
    # The slug is free again.
    assert created_id(editor_client.post(f"{PROGRAMS}add/", {**program_data(slug="kimetsu"), "_continue": ""}))


def test_season_with_episodes_is_not_deleted(editor_client, tree, raw_dynamodb):
    response = editor_client.post(reverse("admin:cms_season_delete", args=[tree.season.id]), {"version": "1"})

    assert response.status_code == 409
    assert ja("Delete or move this season's episodes first.") in page_text(response)
    assert raw_dynamodb.get("seasons", tree.season.id)["title"] == "竈門炭治郎 立志編"


def test_a_season_stays_in_the_program_it_was_created_in(editor_client, tree, raw_dynamodb):
    other = make_program("呪術廻戦")
    url = change_url("season", tree.season.id)
    page = editor_client.get(url)
    values = form_read(page, "season_form").values
    assert values["program_id"] == tree.program.id
    assert '<select name="program_id"' not in page.content.decode()  # shown, not offered for change
    assert tree.program.title in page_text(page)
    before = raw_dynamodb.snapshot()

    response = editor_client.post(url, {**values, "program_id": other.id, "title": "渋谷事変"})

    assert response.status_code == 400
    message = ja("A season's program cannot change; create a new season in the other program.")
    assert field_error(response, "program_id") == message
    assert raw_dynamodb.snapshot() == before
    add_page = editor_client.get(f"{SEASONS}add/?program={other.id}").content.decode()
    assert '<select name="program_id"' in add_page  # a new season still picks its program


# History


def test_history_lists_additions_and_changes_with_the_user(editor_client, editor, raw_dynamodb):
    program_id = created_id(editor_client.post(f"{PROGRAMS}add/", {**program_data(), "_continue": ""}))
    url = change_url("program", program_id)
    values = form_read(editor_client.get(url), "program_form").values
    editor_client.post(url, {**values, "title": "葬送のフリーレン 第2期"})

    response = editor_client.get(reverse("admin:cms_program_history", args=[program_id]))

    assert response.status_code == 200
    entries = LogEntry.objects.filter(object_id=program_id).order_by("action_time")
    assert [(e.action_flag, e.user_id, e.object_repr) for e in entries] == [
        (1, editor.id, "葬送のフリーレン"),
        (2, editor.id, "葬送のフリーレン 第2期"),
    ]
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", response.content.decode(), re.S)
    assert len(rows) == 2
    with translation.override("ja"):
        messages = [e.get_change_message() for e in entries]
    for row, message in zip(rows, messages, strict=True):
        assert editor.username in row
        assert message in html.unescape(row)
    assert ja("Title") in messages[1]


# Bulk actions


def test_bulk_publish_and_unpublish(editor_client, tree, raw_dynamodb):
    second = make_program("呪術廻戦")
    third = make_program("チェンソーマン")
    boxes = checkboxes(editor_client.get(PROGRAMS))
    gone = f"{services.new_id()}:1"

    response = editor_client.post(
        PROGRAMS,
        {"action": "publish", "_selected_action": [boxes[tree.program.id], boxes[second.id], gone]},
        follow=True,
    )

    assert ja("%(changed)d changed, %(refused)d refused.", changed=2, refused=1) in page_text(response)
    statuses = {p.id: raw_dynamodb.get("programs", p.id)["status"] for p in (tree.program, second, third)}
    assert statuses == {tree.program.id: "published", second.id: "published", third.id: "draft"}
    assert set(listed_titles(editor_client.get(PROGRAMS, {"status": "published"}))) == {"呪術廻戦", "鬼滅の刃"}

    boxes = checkboxes(editor_client.get(PROGRAMS))
    response = editor_client.post(
        PROGRAMS, {"action": "unpublish", "_selected_action": [boxes[second.id], boxes[third.id]]}, follow=True
    )

    assert ja("%(changed)d changed, %(refused)d refused.", changed=1, refused=0) in page_text(response)
    assert raw_dynamodb.get("programs", second.id)["status"] == "draft"
    assert raw_dynamodb.get("programs", second.id)["version"] == 3
    assert raw_dynamodb.get("programs", third.id)["version"] == 1


def test_bulk_publish_episodes(editor_client, tree, raw_dynamodb):
    second = make_episode(tree.program, tree.season, 2, "鬼殺隊")
    boxes = checkboxes(editor_client.get(EPISODES))

    response = editor_client.post(
        EPISODES, {"action": "publish", "_selected_action": [boxes[tree.episode.id], boxes[second.id]]}, follow=True
    )

    assert ja("%(changed)d changed, %(refused)d refused.", changed=2, refused=0) in page_text(response)
    assert raw_dynamodb.get("episodes", tree.episode.id)["status"] == "published"
    assert raw_dynamodb.get("episodes", second.id)["status"] == "published"


def test_bulk_publish_refuses_an_item_changed_since_the_list_was_shown(editor_client, tree, raw_dynamodb):
    second = make_program("呪術廻戦")
    boxes = checkboxes(editor_client.get(PROGRAMS))
    services.program_update(program_id=second.id, version=second.version, user="someone", title="呪術廻戦 第2期")

    response = editor_client.post(
        PROGRAMS, {"action": "publish", "_selected_action": [boxes[tree.program.id], boxes[second.id]]}, follow=True
    )

    text = page_text(response)
    assert ja("%(changed)d changed, %(refused)d refused.", changed=1, refused=1) in text
    stale = ja_plural(
        "%(count)d item had been changed by someone else since this list was shown; reload it first.",
        "%(count)d items had been changed by someone else since this list was shown; reload it first.",
        1,
        count=1,
    )
    assert stale in text
    changed = raw_dynamodb.get("programs", second.id)
    assert (changed["status"], changed["title"], changed["version"]) == ("draft", "呪術廻戦 第2期", 2)
    assert raw_dynamodb.get("programs", tree.program.id)["status"] == "published"


def test_bulk_refuses_malformed_and_surplus_selections_without_writing(editor_client, tree, raw_dynamodb):
    item = tree.program.id
    malformed = [
        item,  # no version
        f"{item}:",
        f"{item}:abc",
        f"{item}:-1",
        f"{item}:0",
        f"{item}:²",
        f"{item}:1:1",
        f"{item}:{10**30}",
        "../../etc/passwd:1",
        "x" * 5000 + ":1",
    ]
    # Only the first 100 usable selections are acted on; the real item comes after them.
    surplus = [f"{services.new_id()}:1" for _ in range(100)] + [f"{item}:1"]
    before = raw_dynamodb.snapshot()

    for selection in (malformed, surplus):
        response = editor_client.post(PROGRAMS, {"action": "publish", "_selected_action": selection}, follow=True)

        assert response.status_code == 200
        refused = ja("%(changed)d changed, %(refused)d refused.", changed=0, refused=len(selection))
        assert refused in page_text(response)
    assert raw_dynamodb.snapshot() == before


def test_bulk_without_action_or_selection_changes_nothing(editor_client, tree, raw_dynamodb):
    before = raw_dynamodb.snapshot()

    no_action = editor_client.post(PROGRAMS, {"action": "", "_selected_action": [tree.program.id]}, follow=True)
    no_selection = editor_client.post(PROGRAMS, {"action": "publish"}, follow=True)

    for response in (no_action, no_selection):
        assert ja("Choose an action and at least one item.") in page_text(response)
    assert raw_dynamodb.snapshot() == before


# Search, filters and order


@pytest.fixture
def shelf(raw_dynamodb):
    """Programs whose titles and readings exercise the search normalisation."""
    specs = [
        ("鬼滅の刃", "きめつのやいば", "anime", "published", 5),
        ("キメラアント編", "", "anime", "draft", 2),
        ("ABC News", "えーびーしーにゅーす", "news", "published", 1),
        ("ＡＢＣ Ｋｉｄｓ", "", "kids", "draft", 4),
        ("abc def", "", "variety", "draft", 3),
        ("ﾎﾟｹｯﾄﾓﾝｽﾀｰ", "ぽけっともんすたー", "anime", "published", 6),
        ("進撃の巨人", "シンゲキノキョジン", "anime", "draft", 0),
    ]
    return {
        title: make_program(title, title_kana=kana, genre=genre, status=status, sort_order=order)
        for title, kana, genre, status, order in specs
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("キメ", {"鬼滅の刃", "キメラアント編"}),
        ("きめ", {"鬼滅の刃", "キメラアント編"}),
        ("ｷﾒﾂ", {"鬼滅の刃"}),
        ("abc", {"ABC News", "ＡＢＣ Ｋｉｄｓ", "abc def"}),
        ("ＡＢＣ", {"ABC News", "ＡＢＣ Ｋｉｄｓ", "abc def"}),
        ("AbC n", {"ABC News"}),
        ("ポケモン", set()),
        ("ポケット", {"ﾎﾟｹｯﾄﾓﾝｽﾀｰ"}),
        ("しんげき", {"進撃の巨人"}),
        ("進撃", {"進撃の巨人"}),
        ("えーびー", {"ABC News"}),
        ("zzz", set()),
    ],
)
def test_program_search_by_normalised_prefix(editor_client, shelf, query, expected):
    response = editor_client.get(PROGRAMS, {"q": query})

    titles = listed_titles(response)
    assert sorted(titles) == sorted(expected)
    assert len(titles) == len(set(titles))
    if not expected:
        assert ja("Nothing matches.") in page_text(response)


def test_program_filters_by_status_and_genre(editor_client, shelf):
    def titles(**params):
        return set(listed_titles(editor_client.get(PROGRAMS, params)))

    assert titles(status="published") == {"鬼滅の刃", "ABC News", "ﾎﾟｹｯﾄﾓﾝｽﾀｰ"}
    assert titles(status="draft") == {"キメラアント編", "ＡＢＣ Ｋｉｄｓ", "abc def", "進撃の巨人"}
    assert titles(genre="anime") == {"鬼滅の刃", "キメラアント編", "ﾎﾟｹｯﾄﾓﾝｽﾀｰ", "進撃の巨人"}
    assert titles(genre="anime", status="draft") == {"キメラアント編", "進撃の巨人"}
    assert titles(genre="anime", status="published", q="き") == {"鬼滅の刃"}


def test_filter_links_keep_the_other_filters(editor_client, shelf):
    page = editor_client.get(PROGRAMS, {"genre": "anime"})

    published_link = html.unescape(re.search(r'href="(\?status=published[^"]*)"', page.content.decode()).group(1))
    response = editor_client.get(PROGRAMS + published_link)

    assert set(listed_titles(response)) == {"鬼滅の刃", "ﾎﾟｹｯﾄﾓﾝｽﾀｰ"}


def test_program_orders(editor_client, shelf):
    by_sort = listed_titles(editor_client.get(PROGRAMS))
    by_sort_explicit = listed_titles(editor_client.get(PROGRAMS, {"o": "sort"}))
    by_title = listed_titles(editor_client.get(PROGRAMS, {"o": "title"}))

    assert (
        by_sort
        == by_sort_explicit
        == [
            "進撃の巨人",
            "ABC News",
            "キメラアント編",
            "abc def",
            "ＡＢＣ Ｋｉｄｓ",
            "鬼滅の刃",
            "ﾎﾟｹｯﾄﾓﾝｽﾀｰ",
        ]
    )
    # By reading, in gojuon order (えびし… < きめつ… < きめら… < しんけき… < ほけつ…), then Latin.
    assert by_title == [
        "ABC News",
        "鬼滅の刃",
        "キメラアント編",
        "進撃の巨人",
        "ﾎﾟｹｯﾄﾓﾝｽﾀｰ",
        "abc def",
        "ＡＢＣ Ｋｉｄｓ",
    ]


@pytest.fixture
def two_programs(raw_dynamodb):
    """Two programs, each with a season of three episodes created out of order."""
    made = {}
    for title in ("Alpha", "Bravo"):
        program = make_program(title)
        season = services.season_create(user="seed", program_id=program.id, title=f"{title} S1", status="draft")
        for number, hour in ((3, 21), (1, 23), (2, 22)):
            status = "published" if number == 2 else "draft"
            day = 10 if title == "Alpha" else 11
            make_episode(
                program,
                season,
                number,
                f"{title} #{number}",
                status=status,
                publish_at=datetime(2026, 11, day, hour, tzinfo=UTC),
            )
        made[title] = (program, season)
    return made


def test_episode_orders(editor_client, two_programs):
    by_program = listed_titles(editor_client.get(EPISODES))
    by_airtime = listed_titles(editor_client.get(EPISODES, {"o": "airtime"}))

    first, second = sorted(two_programs, key=lambda title: two_programs[title][1].id)
    assert by_program == [f"{first} #{n}" for n in (1, 2, 3)] + [f"{second} #{n}" for n in (1, 2, 3)]
    assert by_airtime == ["Bravo #1", "Bravo #2", "Bravo #3", "Alpha #1", "Alpha #2", "Alpha #3"]


def test_episode_and_season_filters(editor_client, two_programs):
    alpha, _season = two_programs["Alpha"]

    assert listed_titles(editor_client.get(EPISODES, {"program": alpha.id})) == ["Alpha #1", "Alpha #2", "Alpha #3"]
    assert set(listed_titles(editor_client.get(EPISODES, {"status": "published"}))) == {"Alpha #2", "Bravo #2"}
    assert listed_titles(editor_client.get(EPISODES, {"status": "published", "program": alpha.id})) == ["Alpha #2"]
    assert listed_titles(editor_client.get(EPISODES, {"q": "bravo #"})) == [
        "Bravo #1",
        "Bravo #2",
        "Bravo #3",
    ]
    assert listed_titles(editor_client.get(SEASONS, {"program": alpha.id})) == ["Alpha S1"]
    seasons_page = editor_client.get(SEASONS)
    assert set(listed_titles(seasons_page)) == {"Alpha S1", "Bravo S1"}
    # The program filter is an autocomplete holding the chosen program only.
    assert '<form method="get" class="lookup-filter" id="program-filter">' in seasons_page.content.decode()
    chosen = editor_client.get(SEASONS, {"program": alpha.id}).content.decode()
    assert f'<option value="{alpha.id}" selected>Alpha</option>' in chosen


# Paging


@pytest.fixture
def many_episodes(tree):
    for number in range(2, 121):
        make_episode(tree.program, tree.season, number, f"第{number:03d}話")
    return [f"第{n:03d}話" if n > 1 else "残酷" for n in range(1, 121)]


def test_episode_list_pages_forward_and_back(editor_client, many_episodes):
    first = editor_client.get(EPISODES, {"status": "draft", "o": "program"})
    page1 = listed_titles(first)
    assert page1 == many_episodes[:50]
    assert items_on_page(50) in page_text(first)
    assert link_href(first, "prev-page") is None
    next_href = link_href(first, "next-page")
    assert "status=draft" in next_href and "o=program" in next_href

    second = editor_client.get(EPISODES + next_href)
    page2 = listed_titles(second)
    assert page2 == many_episodes[50:100]
    assert not set(page1) & set(page2)

    third = editor_client.get(EPISODES + link_href(second, "next-page"))
    assert listed_titles(third) == many_episodes[100:]
    assert items_on_page(20) in page_text(third)
    assert link_href(third, "next-page") is None

    assert listed_titles(editor_client.get(EPISODES + link_href(third, "prev-page"))) == page2
    back_to_first = editor_client.get(EPISODES + link_href(second, "prev-page"))
    assert listed_titles(back_to_first) == page1
    assert link_href(back_to_first, "prev-page") is None
    assert listed_titles(editor_client.get(EPISODES + link_href(back_to_first, "next-page"))) == page2

    # A cursor that was tampered with, or belongs to other filters, is refused clearly.
    for href in (
        next_href[:-4] + "AAAA",
        "?cursor=not-a-cursor",
        next_href.replace("status=draft", "status=published"),
    ):
        response = editor_client.get(EPISODES + href)

        assert response.status_code == 400
        assert ja("That page link is invalid or out of date; showing the first page.") in page_text(response)
        assert "Traceback" not in page_text(response)
