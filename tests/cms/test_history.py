"""An item's history shows what each save changed, both sides, and goes back to a revision with a new save."""

import html
import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import resolve, reverse

from cms import selectors, services
from cms.admin.history import REVERT_DELETED, REVERT_STALE
from tests.cms.conftest import form_read, ja
from tests.cms.test_admin_editing import change_url, program_data

PROGRAMS = "/admin/cms/program/"
EPISODES = "/admin/cms/episode/"


def history_url(model: str, item_id: str) -> str:
    return reverse(f"admin:cms_{model}_history", args=[item_id])


def saved(client, model: str, item_id: str, **changes):
    """Open the change page as an editor would, change `changes`, save; the stored item after."""
    url = change_url(model, item_id)
    response = client.post(url, {**form_read(client.get(url), f"{model}_form").values, **changes})
    assert response.status_code == 302, response.content.decode()[:2000]
    return selectors.program_get(item_id) if model == "program" else selectors.episode_get(item_id)


def history_rows(response) -> list[str]:
    """The history table's rows, as text, oldest first."""
    page = response.content.decode()
    body = re.search(r'id="change-history".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row))) for row in rows]


def revert_forms(response) -> list[tuple[str, str]]:
    """(action, version posted) of each "revert to this revision" button, oldest revision first."""
    page = response.content.decode()
    return [
        (html.unescape(action), version)
        for action, version in re.findall(
            r'<form method="post" action="([^"]+)" class="revert-form">.*?name="version" value="(\d+)"', page, re.S
        )
    ]


def messages_shown(response) -> str:
    return html.unescape(" ".join(re.findall(r'<ul class="messagelist">(.*?)</ul>', response.content.decode(), re.S)))


@pytest.fixture
def frieren(editor_client, raw_dynamodb):
    """A program added in the admin, then renamed and moved to another genre: two revisions."""
    response = editor_client.post(f"{PROGRAMS}add/", {**program_data(), "_continue": ""})
    program_id = resolve(response["Location"]).kwargs["object_id"]
    saved(editor_client, "program", program_id, title="葬送のフリーレン 第2期", genre="drama", sort_order="7")
    return program_id


def test_history_shows_each_changed_field_before_and_after(editor_client, frieren):
    rows = history_rows(editor_client.get(history_url("program", frieren)))

    assert len(rows) == 2
    assert "タイトル: 葬送のフリーレン → 葬送のフリーレン 第2期" in rows[1]
    assert "ジャンル: アニメ → ドラマ" in rows[1]  # choices by their labels
    assert "並び順: 3 → 7" in rows[1]
    assert "説明" not in rows[1]  # unchanged fields are not listed
    assert ja("Current content") in rows[1]


def test_revert_is_a_new_save_recorded_in_the_history(editor_client, editor, frieren, raw_dynamodb):
    page = editor_client.get(history_url("program", frieren))
    (action, version), *more = revert_forms(page)
    assert more == [] and version == "2"  # the current revision offers no way back to itself

    response = editor_client.post(action, {"version": version}, follow=True)

    stored = raw_dynamodb.get("programs", frieren)
    assert [stored[name] for name in ("title", "genre", "sort_order", "version")] == ["葬送のフリーレン", "anime", 3, 3]
    assert stored["updated_by"] == editor.username
    assert "「葬送のフリーレン」を" in messages_shown(response)
    rows = history_rows(response)
    assert len(rows) == 3
    assert "タイトル: 葬送のフリーレン 第2期 → 葬送のフリーレン" in rows[2]
    assert "リビジョンに戻しました" in rows[2]
    latest = LogEntry.objects.filter(object_id=frieren).latest("action_time")
    assert (latest.action_flag, latest.user_id, latest.object_repr) == (CHANGE, editor.id, "葬送のフリーレン")
    # Its program list row follows, as after any save.
    assert selectors.programs_page(q="葬送").items[0].title == "葬送のフリーレン"


def test_a_stale_revert_is_refused_and_overwrites_nothing(editor_client, frieren, raw_dynamodb):
    page = editor_client.get(history_url("program", frieren))
    (action, version), *_ = revert_forms(page)
    services.program_update(program_id=frieren, version=2, user="someone", title="フリーレン（別の編集）")
    before = raw_dynamodb.snapshot()

    response = editor_client.post(action, {"version": version}, follow=True)

    assert raw_dynamodb.snapshot() == before
    assert ja(str(REVERT_STALE)) in messages_shown(response)
    assert len(history_rows(response)) == 2


def test_a_revert_goes_through_the_forms_checks(editor_client, frieren, raw_dynamodb):
    saved(editor_client, "program", frieren, slug="frieren-2")
    services.program_create(user="seed", title="別の番組", slug="frieren", status="draft")  # takes the old slug
    page = editor_client.get(history_url("program", frieren))
    action, version = revert_forms(page)[0]
    before = raw_dynamodb.snapshot()

    response = editor_client.post(action, {"version": version}, follow=True)

    assert raw_dynamodb.snapshot() == before
    assert ja("Another program already uses this slug.") in messages_shown(response)


def test_an_episode_goes_back_to_its_season_and_keeps_its_thumbnail(editor_client, raw_dynamodb, png_upload):
    program = services.program_create(user="seed", title="進撃の巨人", slug="shingeki", status="draft")
    first = services.season_create(user="seed", program_id=program.id, title="Season 1")
    second = services.season_create(user="seed", program_id=program.id, title="Season 2", sort_order=1)
    response = editor_client.post(
        f"{EPISODES}add/?program={program.id}",
        {
            "program_id": program.id,
            "season_id": first.id,
            "number": "1",
            "title": "二千年後の君へ",
            "duration_s": "24:00",
            "status": "draft",
            "thumbnail_upload": png_upload(),
            "_continue": "",
        },
    )
    episode_id = resolve(response["Location"]).kwargs["object_id"]
    thumbnail = selectors.episode_get(episode_id).thumbnail
    url = change_url("episode", episode_id)
    values = form_read(editor_client.get(url), "episode_form").values
    editor_client.post(url, {**values, "season_id": second.id, "duration_s": "25:30", "thumbnail_upload": png_upload()})
    moved = selectors.episode_get(episode_id)
    assert (moved.season_id, moved.duration_s) == (second.id, 1530) and moved.thumbnail != thumbnail

    page = editor_client.get(history_url("episode", episode_id))
    assert "シーズン: Season 1 → Season 2" in history_rows(page)[1]
    assert "尺: 24:00 → 25:30" in history_rows(page)[1]
    assert 'id="history-images-note"' in page.content.decode()
    action, version = revert_forms(page)[0]
    editor_client.post(action, {"version": version})

    back = selectors.episode_get(episode_id)
    assert (back.season_id, back.duration_s, back.title) == (first.id, 1440, "二千年後の君へ")
    assert back.thumbnail == moved.thumbnail  # images stay as they are


def test_a_deleted_items_history_stays_readable_and_offers_no_revert(editor_client, frieren, raw_dynamodb):
    page = editor_client.get(history_url("program", frieren))
    action, version = revert_forms(page)[0]
    editor_client.post(reverse("admin:cms_program_delete", args=[frieren]), {"version": "2"})

    response = editor_client.get(history_url("program", frieren))
    assert response.status_code == 200
    assert 'id="history-deleted"' in response.content.decode()
    assert revert_forms(response) == []
    assert len(history_rows(response)) == 3  # added, changed, deleted

    response = editor_client.post(action, {"version": version}, follow=True)
    assert ja(str(REVERT_DELETED)) in messages_shown(response)


def test_viewers_see_the_changes_but_cannot_revert(viewer_client, editor_client, frieren, raw_dynamodb):
    page = editor_client.get(history_url("program", frieren))
    action, version = revert_forms(page)[0]

    response = viewer_client.get(history_url("program", frieren))
    assert "タイトル: 葬送のフリーレン → 葬送のフリーレン 第2期" in history_rows(response)[1]
    assert revert_forms(response) == []
    before = raw_dynamodb.snapshot()
    assert viewer_client.post(action, {"version": version}).status_code == 403
    assert viewer_client.get(action).status_code in (403, 405)
    assert raw_dynamodb.snapshot() == before


def test_a_revision_of_another_item_is_not_found(editor_client, frieren, raw_dynamodb):
    other = services.program_create(user="seed", title="別の番組", slug="other", status="draft")
    entry = LogEntry.objects.filter(object_id=frieren).earliest("action_time")

    url = reverse("admin:cms_program_revert", args=[other.id, entry.pk])
    assert editor_client.post(url, {"version": "1"}).status_code == 404
