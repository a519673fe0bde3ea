"""Bad editor input is answered with an error next to the field, and nothing is written."""

import html
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from cms import selectors, services, validation
from cms.store import episodes as episode_store
from cms.store.errors import ItemTooLarge
from tests.cms.conftest import field_error, form_read, ja, listed_titles

PROGRAM_ADD = "/admin/cms/program/add/"
SEASON_ADD = "/admin/cms/season/add/"
EPISODE_ADD = "/admin/cms/episode/add/"


REQUIRED = ja("This field is required.")
WHOLE_NUMBER = ja("Enter a whole number.")
BAD_TIME = ja("Enter a date and time like 2026-11-26 23:45 (hours up to 29 are accepted).")
BAD_IMAGE = ja("Upload a valid image (JPEG, PNG, GIF or WebP).")
TOO_LONG_TITLE = ja("Keep this to %(max)d characters or fewer.", max=200)
TOO_LONG_TEXT = ja("Keep this to %(max)d characters or fewer.", max=4000)
BAD_LIST = ja("At most %(count)d entries of %(max)d characters each.", count=50, max=100)
TAKEN_SLUG = ja("Another program already uses this slug.")


def invalid_choice(value: str) -> str:
    return ja("Select a valid choice. %(value)s is not one of the available choices.", value=value)


def stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def text_as_png() -> SimpleUploadedFile:
    return SimpleUploadedFile("poster.png", b"This is a press release, not a picture.\n" * 20, content_type="image/png")


def big_png() -> SimpleUploadedFile:
    """A real PNG of random noise, just over 6 MB."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (1450, 1450), os.urandom(1450 * 1450 * 3)).save(buffer, "PNG", compress_level=1)
    assert buffer.tell() > 6 * 1024 * 1024
    return SimpleUploadedFile("huge.png", buffer.getvalue(), content_type="image/png")


def giant_dimensions_png() -> SimpleUploadedFile:
    """A tiny file whose header claims 20000 x 20000 pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return SimpleUploadedFile("bomb.png", data, content_type="image/png")


@pytest.fixture
def refused(editor_client, raw_dynamodb):
    """Post a form and check it is refused with `message` next to `field`, writing nothing."""

    def check(url: str, data: dict, field: str, message: str):
        before, files = raw_dynamodb.snapshot(), stored_files()

        response = editor_client.post(url, data)

        assert response.status_code == 400
        shown = field_error(response, field)
        assert message in shown
        assert [str(e) for e in response.context["form"].errors[field]] == [shown]
        after = raw_dynamodb.snapshot()
        assert {table: len(items) for table, items in after.items()} == {t: len(i) for t, i in before.items()}
        assert after == before
        assert stored_files() == files
        return response

    return check


def program_form(**overrides) -> dict:
    return {"title": "ぼっち・ざ・ろっく！", "slug": "bocchi", "sort_order": "0", "status": "draft", **overrides}


PROGRAM_CASES = {
    "empty title": ({"title": ""}, "title", REQUIRED),
    "blank title": ({"title": "   "}, "title", REQUIRED),
    "201-char title": ({"title": "あ" * 201}, "title", TOO_LONG_TITLE),
    "201-char reading": ({"title_kana": "あ" * 201}, "title_kana", TOO_LONG_TITLE),
    "bad slug": ({"slug": "Bad Slug!"}, "slug", ja("Use lowercase letters, digits and hyphens only (at most 100).")),
    "empty slug": ({"slug": ""}, "slug", ja("Use lowercase letters, digits and hyphens only (at most 100).")),
    "101-char slug": ({"slug": "a" * 101}, "slug", ja("Use lowercase letters, digits and hyphens only (at most 100).")),
    "expire before publish": (
        {"publish_at": "2026-12-01 00:00", "expire_at": "2026-11-30 23:59"},
        "expire_at",
        ja("The end of availability must be after the start."),
    ),
    "expire equal to publish in the other notation": (
        {"publish_at": "2026-11-27 01:30", "expire_at": "2026-11-26 25:30"},
        "expire_at",
        ja("The end of availability must be after the start."),
    ),
    "unparsable date": ({"publish_at": "next friday"}, "publish_at", BAD_TIME),
    "hour 30": ({"publish_at": "2026-11-26 30:00"}, "publish_at", BAD_TIME),
    "minute 60": ({"expire_at": "2026-11-26 23:60"}, "expire_at", BAD_TIME),
    "february 30th": ({"publish_at": "2026-02-30 10:00"}, "publish_at", BAD_TIME),
    "negative sort order": ({"sort_order": "-1"}, "sort_order", ja("Sort order cannot be negative.")),
    "sort order not a number": ({"sort_order": "first"}, "sort_order", WHOLE_NUMBER),
    "unknown genre": ({"genre": "horror"}, "genre", invalid_choice("horror")),
    "unknown status": ({"status": "archived"}, "status", invalid_choice("archived")),
    "oversized description": ({"description": "長" * 4001}, "description", TOO_LONG_TEXT),
}


@pytest.mark.parametrize(("overrides", "field", "message"), PROGRAM_CASES.values(), ids=PROGRAM_CASES.keys())
def test_program_add_refuses(refused, overrides, field, message):
    refused(PROGRAM_ADD, program_form(**overrides), field, message)


UPLOAD_CASES = {
    "text file named .png": (text_as_png, BAD_IMAGE),
    "6 MB image": (big_png, ja("Images can be at most %(mb)d MB.", mb=5)),
    "image claiming 20000x20000 pixels": (giant_dimensions_png, BAD_IMAGE),
}


@pytest.mark.parametrize(("upload", "message"), UPLOAD_CASES.values(), ids=UPLOAD_CASES.keys())
def test_key_art_upload_refused(refused, upload, message):
    refused(PROGRAM_ADD, program_form(key_art_upload=upload()), "key_art_upload", message)


def test_duplicate_slug_refused_and_its_upload_removed(refused, tree, png_upload):
    response = refused(PROGRAM_ADD, program_form(slug="kimetsu", key_art_upload=png_upload()), "slug", TAKEN_SLUG)

    assert field_error(response, "slug") == TAKEN_SLUG
    assert form_read(response, "program_form").values["title"] == "ぼっち・ざ・ろっく！"


def test_changing_to_a_taken_slug_refused(refused, editor_client, tree):
    other = services.program_create(user="seed", title="ぼっち・ざ・ろっく！", slug="bocchi", status="draft")
    url = reverse("admin:cms_program_change", args=[other.id])
    values = form_read(editor_client.get(url), "program_form").values

    refused(url, {**values, "slug": "kimetsu"}, "slug", TAKEN_SLUG)


def episode_form(tree, **overrides) -> dict:
    return {
        "program_id": tree.program.id,
        "season_id": tree.season.id,
        "number": "2",
        "title": "育手・鱗滝左近次",
        "duration_s": "1440",
        "status": "draft",
        **overrides,
    }


EPISODE_CASES = {
    "empty title": ({"title": ""}, "title", REQUIRED),
    "negative duration": ({"duration_s": "-5"}, "duration_s", ja("Duration must be more than zero seconds.")),
    "zero duration": ({"duration_s": "0"}, "duration_s", ja("Duration must be more than zero seconds.")),
    "missing duration": ({"duration_s": ""}, "duration_s", REQUIRED),
    "http video URL": (
        {"video_url": "http://video.example.com/kimetsu/2/master.m3u8"},
        "video_url",
        ja("The video URL must start with https://."),
    ),
    "javascript video URL": (
        {"video_url": "javascript:alert(1)"},
        "video_url",
        ja("The video URL must start with https://."),
    ),
    "oversized synopsis": ({"synopsis": "あ" * 4001}, "synopsis", TOO_LONG_TEXT),
    "episode number 0": ({"number": "0"}, "number", ja("Episode numbers start at 1.")),
    "episode number not a number": ({"number": "二"}, "number", WHOLE_NUMBER),
    "duplicate number in the season": (
        {"number": "1"},
        "number",
        ja("This season already has an episode with this number."),
    ),
    "51 tags": ({"tags": ", ".join(f"tag{i}" for i in range(51))}, "tags", BAD_LIST),
    "101-char cast name": ({"cast": "花江夏樹, " + "長" * 101}, "cast", BAD_LIST),
    "airtime after the end": (
        {"publish_at": "2026-11-26 25:00", "expire_at": "2026-11-27 00:59"},
        "expire_at",
        ja("The end of availability must be after the start."),
    ),
    "unknown status": ({"status": "live"}, "status", invalid_choice("live")),
}


@pytest.mark.parametrize(("overrides", "field", "message"), EPISODE_CASES.values(), ids=EPISODE_CASES.keys())
def test_episode_add_refuses(refused, tree, overrides, field, message):
    refused(f"{EPISODE_ADD}?program={tree.program.id}", episode_form(tree, **overrides), field, message)


def test_thumbnail_that_is_not_an_image_refused(refused, tree):
    refused(EPISODE_ADD, episode_form(tree, thumbnail_upload=text_as_png()), "thumbnail_upload", BAD_IMAGE)


@pytest.fixture
def other_season(tree):
    other = services.program_create(user="seed", title="呪術廻戦", slug="jujutsu", status="draft")
    return services.season_create(user="seed", program_id=other.id, title="渋谷事変", status="draft")


def test_season_of_another_program_refused_for_a_new_episode(refused, tree, other_season):
    refused(EPISODE_ADD, episode_form(tree, season_id=other_season.id), "season_id", invalid_choice(other_season.id))


def test_season_of_another_program_refused_when_editing(refused, editor_client, tree, other_season):
    url = reverse("admin:cms_episode_change", args=[tree.episode.id])
    values = form_read(editor_client.get(url), "episode_form").values

    refused(url, {**values, "season_id": other_season.id}, "season_id", invalid_choice(other_season.id))


def test_season_of_another_program_refused_by_the_service(raw_dynamodb, tree, other_season):
    before = raw_dynamodb.snapshot()

    with pytest.raises(ValidationError) as caught:
        services.episode_create(
            user="script",
            program_id=tree.program.id,
            season_id=other_season.id,
            number=2,
            title="迷子",
            duration_s=60,
            status="draft",
        )

    assert caught.value.message_dict == {"season_id": [ja("Choose a season of this episode's program.")]}
    assert raw_dynamodb.snapshot() == before


def test_moving_an_episode_onto_a_taken_number_refused(refused, editor_client, tree):
    second = services.episode_create(
        user="seed", program_id=tree.program.id, season_id=tree.season.id, number=2, title="育手", duration_s=60
    )
    url = reverse("admin:cms_episode_change", args=[second.id])
    values = form_read(editor_client.get(url), "episode_form").values

    refused(url, {**values, "number": "1"}, "number", ja("This season already has an episode with this number."))


SEASON_CASES = {
    "empty title": ({"title": ""}, "title", REQUIRED),
    "negative sort order": ({"sort_order": "-3"}, "sort_order", ja("Sort order cannot be negative.")),
    "unknown program": ({"program_id": "01NOSUCHPROGRAM"}, "program_id", invalid_choice("01NOSUCHPROGRAM")),
}


@pytest.mark.parametrize(("overrides", "field", "message"), SEASON_CASES.values(), ids=SEASON_CASES.keys())
def test_season_add_refuses(refused, tree, overrides, field, message):
    data = {"program_id": tree.program.id, "title": "無限列車編", "sort_order": "2", "status": "draft", **overrides}
    refused(SEASON_ADD, data, field, message)


def test_editing_with_bad_input_keeps_the_item_unchanged(refused, editor_client, tree):
    url = reverse("admin:cms_program_change", args=[tree.program.id])
    values = form_read(editor_client.get(url), "program_form").values

    response = refused(url, {**values, "title": "", "description": "新しい説明"}, "title", REQUIRED)

    assert form_read(response, "program_form").values["description"] == "新しい説明"


# The 400 KB item limit


def test_item_too_large_is_a_field_error_in_the_form(refused, tree, monkeypatch):
    # Validation caps lists at 50 entries of 100 characters (about 20 KB), so no valid input reaches
    # DynamoDB's 400 KB limit; lifting the cap shows what the store's own guard reports.
    monkeypatch.setattr(validation, "LIST_MAX", 10_000)
    cast = ", ".join(f"出演者{i:04d}" + "あ" * 90 for i in range(1500))

    refused(
        f"{EPISODE_ADD}?program={tree.program.id}",
        episode_form(tree, cast=cast),
        "cast",
        ja("Too large to store: the whole item must stay under 400 KB."),
    )


def test_item_too_large_is_refused_by_the_store_before_writing(raw_dynamodb, tree):
    before = raw_dynamodb.snapshot()
    episode = episode_store.episode_get(tree.episode.id)
    episode.cast = ["あ" * 100] * 1500  # 450 KB of UTF-8

    with pytest.raises(ItemTooLarge) as caught:
        episode_store.episode_save(episode, old=episode_store.episode_get(tree.episode.id))

    assert caught.value.field == "cast"
    assert caught.value.size > 400 * 1024
    assert raw_dynamodb.snapshot() == before


# Lists and lookups


def test_tampered_cursor_gives_400_with_a_clear_message(editor_client, tree):
    services.episode_create(
        user="seed", program_id=tree.program.id, season_id=tree.season.id, number=2, title="育手", duration_s=60
    )
    cursor = selectors.episodes_page(size=1).next_cursor
    assert listed_titles(editor_client.get("/admin/cms/episode/", {"cursor": cursor})) == ["育手"]

    for bad in (cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB"), "garbage", cursor[::-1]):
        response = editor_client.get("/admin/cms/episode/", {"cursor": bad})

        assert response.status_code == 400
        page = html.unescape(response.content.decode())
        assert ja("That page link is invalid or out of date; showing the first page.") in page
        assert listed_titles(response) == ["残酷", "育手"]


@pytest.mark.parametrize("model", ("program", "season", "episode"))
def test_unknown_id_is_404(editor_client, raw_dynamodb, model):
    for object_id in ("01NOSUCHITEM000000000000000", "鬼滅", "x" * 1000):
        for view in ("change", "delete", "history"):
            response = editor_client.get(reverse(f"admin:cms_{model}_{view}", args=[object_id]))

            assert response.status_code == 404, (view, object_id[:30])


def test_script_in_a_title_is_saved_and_shown_as_text(editor_client, raw_dynamodb):
    title = "<script>alert(1)</script>"
    response = editor_client.post(PROGRAM_ADD, program_form(title=title, slug="xss"))
    assert response.status_code == 302
    program_id = response["Location"].split("/")[-3]
    assert raw_dynamodb.get("programs", program_id)["title"] == title

    pages = [
        editor_client.get(response["Location"]),
        editor_client.get("/admin/cms/program/"),
        editor_client.get(f"/admin/cms/program/{program_id}/history/"),
        editor_client.get(f"/admin/cms/program/{program_id}/delete/"),
        editor_client.get("/admin/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].content.decode()
    assert form_read(pages[0], "program_form").values["title"] == title
    assert listed_titles(pages[1]) == [title]
