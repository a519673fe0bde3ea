"""Bad editor input is answered with an error next to the field, and nothing is written."""

import html
import io
import os
import re
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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
BAD_IMAGE = ja("Upload a valid image (JPEG, PNG or WebP).")
TOO_LONG_TITLE = ja("Keep this to %(max)d characters or fewer.", max=200)
TOO_LONG_TEXT = ja("Keep this to %(max)d characters or fewer.", max=4000)
BAD_LIST = ja("At most %(count)d entries of %(max)d characters each.", count=50, max=100)
TAKEN_SLUG = ja("Another program already uses this slug.")
BAD_SLUG = ja("Use lowercase letters, digits and hyphens only (at most 100).")
HTTPS_ONLY = ja("The video URL must start with https://.")
WINDOW = ja(
    "Enter a time from %(earliest)s to %(latest)s (JST).", earliest="2000-01-01 00:00", latest="2100-01-01 00:00"
)
NEGATIVE_SORT = ja("Sort order cannot be negative.")
SORT_TOO_BIG = ja("Sort order can be at most %(max)s.", max="1,000,000")
NUMBER_TOO_SMALL = ja("Episode numbers start at 1.")
NUMBER_TOO_BIG = ja("Episode numbers can be at most %(max)s.", max="9,999")
NO_DURATION = ja("Duration must be more than zero seconds.")
DURATION_TOO_BIG = ja("Duration can be at most %(max)s seconds (24 hours).", max="86,400")
BAD_VERSION = ja("This page's version number is not valid; reload the page and try again.")
STALE = ja(
    "This item was changed by someone else since you opened it. Your input is kept below, next to what they saved."
)


def invisible(char: str) -> str:
    return ja(
        "Remove the invisible character %(char)s (a control or text-direction character).", char=f"U+{ord(char):04X}"
    )


def separator(char: str) -> str:
    return ja("Remove the line or paragraph separator %(char)s: this field takes one line.", char=f"U+{ord(char):04X}")


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


def form_note(response) -> str:
    """The note shown above the form (problems of the whole form)."""
    match = re.search(r'class="errornote"[^>]*>(.*?)</(?:div|p)>', response.content.decode(), re.S)
    assert match, "no note above the form"
    return html.unescape(match.group(1)).strip()


@pytest.fixture
def refused(editor_client, raw_dynamodb):
    """Post a form and check it is refused with `message` next to `field` (None: above the form), writing nothing."""

    def check(url: str, data: dict, field: str | None, message: str):
        before, files = raw_dynamodb.snapshot(), stored_files()

        response = editor_client.post(url, data)

        assert response.status_code == 400
        if field is None:
            assert message in form_note(response)
            assert [str(e) for e in response.context["form"].non_field_errors()] == [message]
        else:
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
    "sort order 10^40": ({"sort_order": str(10**40)}, "sort_order", SORT_TOO_BIG),
    "ANSI escape in the title": ({"title": "\x1b[31m無限列車編"}, "title", invisible("\x1b")),
    "right-to-left mark in the title": ({"title": "無限\u200f列車編"}, "title", invisible("\u200f")),
    "line separator in the title": ({"title": "無限\u2028列車編"}, "title", separator("\u2028")),
    "start in year 9999 at 29:59": ({"publish_at": "9999-12-31 29:59"}, "publish_at", WINDOW),
    "tampered version": ({"version": str(10**200)}, None, BAD_VERSION),
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
    response = editor_client.post(PROGRAM_ADD, {**program_form(title=title, slug="xss"), "_continue": ""})
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


# Hostile input on the program and episode forms, new and existing items alike


@pytest.fixture
def target(editor_client, tree):
    """Return (url, values) of the program or episode form, new or of the existing item, as a browser sends it."""

    def make(kind: str, mode: str) -> tuple[str, dict]:
        if mode == "add":
            if kind == "program":
                return PROGRAM_ADD, program_form()
            return f"{EPISODE_ADD}?program={tree.program.id}", episode_form(tree)
        url = reverse(f"admin:cms_{kind}_change", args=[(tree.program if kind == "program" else tree.episode).id])
        return url, form_read(editor_client.get(url), f"{kind}_form").values

    return make


HUGE = {"10^40": str(10**40), "10^200": str(10**200)}

COMMON_CASES = {
    "empty title": ({"title": ""}, "title", REQUIRED),
    "whitespace-only title": ({"title": " \t\u3000 "}, "title", REQUIRED),
    "10k-character title": ({"title": "鬼" * 10_000}, "title", TOO_LONG_TITLE),
    "500 KB title": ({"title": "x" * 500 * 1024}, "title", TOO_LONG_TITLE),
    "NUL in the title": ({"title": "鬼滅\x00の刃"}, "title", invisible("\x00")),
    "bell in the title": ({"title": "鬼滅\x07の刃"}, "title", invisible("\x07")),
    "tab inside a one-line title": ({"title": "鬼滅\tの刃"}, "title", invisible("\t")),
    "DEL in the title": ({"title": "鬼滅\x7fの刃"}, "title", invisible("\x7f")),
    "C1 control in the title": ({"title": "鬼滅\x9bの刃"}, "title", invisible("\x9b")),
    "ANSI escape in the title": ({"title": "\x1b[31m鬼滅の刃\x1b[0m"}, "title", invisible("\x1b")),
    "right-to-left override in the title": ({"title": "鬼滅\u202eの刃"}, "title", invisible("\u202e")),
    "bidi isolate in the title": ({"title": "\u2067鬼滅の刃\u2069"}, "title", invisible("\u2067")),
    "left-to-right mark in the title": ({"title": "鬼滅\u200eの刃"}, "title", invisible("\u200e")),
    "right-to-left mark in the title": ({"title": "\u200f鬼滅の刃"}, "title", invisible("\u200f")),
    "Arabic letter mark in the title": ({"title": "鬼滅の刃\u061c"}, "title", invisible("\u061c")),
    "line separator in the title": ({"title": "鬼滅\u2028の刃"}, "title", separator("\u2028")),
    "paragraph separator in the title": ({"title": "鬼滅\u2029の刃"}, "title", separator("\u2029")),
    "tampered version 0": ({"version": "0"}, None, BAD_VERSION),
    "tampered version -1": ({"version": "-1"}, None, BAD_VERSION),
    "tampered version 10^40": ({"version": HUGE["10^40"]}, None, BAD_VERSION),
    "tampered version 10^200": ({"version": HUGE["10^200"]}, None, BAD_VERSION),
    "tampered version not a number": ({"version": "1 OR 1=1"}, None, BAD_VERSION),
    "airtime in year 1": ({"publish_at": "0001-01-01 00:00"}, "publish_at", WINDOW),
    "airtime in 1900": ({"publish_at": "1900-01-01 00:00"}, "publish_at", WINDOW),
    "a minute before 2000": ({"publish_at": "1999-12-31 23:59"}, "publish_at", WINDOW),
    "end in year 9999": ({"expire_at": "9999-12-31 23:59"}, "expire_at", WINDOW),
    "end at 29:59 on the last day of 9999": ({"expire_at": "9999-12-31 29:59"}, "expire_at", WINDOW),
    "end a minute after 2100 in broadcast notation": ({"expire_at": "2099-12-31 24:01"}, "expire_at", WINDOW),
    "hour 29:60": ({"publish_at": "2026-11-26 29:60"}, "publish_at", BAD_TIME),
}

PROGRAM_HOSTILE = {
    **COMMON_CASES,
    "10k-character reading": ({"title_kana": "き" * 10_000}, "title_kana", TOO_LONG_TITLE),
    "newline in the reading": ({"title_kana": "きめつ\nのやいば"}, "title_kana", invisible("\n")),
    "ANSI escape in the reading": ({"title_kana": "\x1b[1mきめつ"}, "title_kana", invisible("\x1b")),
    "bidi embedding in the reading": ({"title_kana": "きめつ\u202aのやいば"}, "title_kana", invisible("\u202a")),
    "right-to-left mark in the reading": ({"title_kana": "きめつ\u200fのやいば"}, "title_kana", invisible("\u200f")),
    "line separator in the reading": ({"title_kana": "きめつ\u2028のやいば"}, "title_kana", separator("\u2028")),
    "left-to-right mark in the slug": ({"slug": "kimetsu\u200e"}, "slug", invisible("\u200e")),
    "paragraph separator in the slug": ({"slug": "kime\u2029tsu"}, "slug", separator("\u2029")),
    "10k-character description": ({"description": "説" * 10_000}, "description", TOO_LONG_TEXT),
    "500 KB description": ({"description": "説" * 170_000}, "description", TOO_LONG_TEXT),
    "NUL in the description": ({"description": "第一章\x00第二章"}, "description", invisible("\x00")),
    "ANSI escape in the description": ({"description": "あらすじ\x1b[2J"}, "description", invisible("\x1b")),
    "form feed in the description": ({"description": "一\x0c二"}, "description", invisible("\x0c")),
    "C1 next line in the description": ({"description": "一\x85二"}, "description", invisible("\x85")),
    "bidi override in the description": ({"description": "説明\u202d文"}, "description", invisible("\u202d")),
    "empty slug": ({"slug": ""}, "slug", BAD_SLUG),
    "whitespace-only slug": ({"slug": "   "}, "slug", BAD_SLUG),
    "10k-character slug": ({"slug": "a" * 10_000}, "slug", BAD_SLUG),
    "slug with a slash": ({"slug": "kimetsu/2"}, "slug", BAD_SLUG),
    "slug ..": ({"slug": ".."}, "slug", BAD_SLUG),
    "slug climbing directories": ({"slug": "../../etc/passwd"}, "slug", BAD_SLUG),
    "upper-case slug": ({"slug": "Kimetsu"}, "slug", BAD_SLUG),
    "DEL in the slug": ({"slug": "kimetsu\x7f"}, "slug", invisible("\x7f")),
    "sort order -1": ({"sort_order": "-1"}, "sort_order", NEGATIVE_SORT),
    "sort order 1,000,001": ({"sort_order": "1000001"}, "sort_order", SORT_TOO_BIG),
    "sort order 10^40": ({"sort_order": HUGE["10^40"]}, "sort_order", SORT_TOO_BIG),
    "sort order 10^200": ({"sort_order": HUGE["10^200"]}, "sort_order", SORT_TOO_BIG),
    "sort order of 5,000 digits": ({"sort_order": "9" * 5000}, "sort_order", WHOLE_NUMBER),
}


EPISODE_HOSTILE = {
    **COMMON_CASES,
    "10k-character synopsis": ({"synopsis": "あ" * 10_000}, "synopsis", TOO_LONG_TEXT),
    "500 KB synopsis": ({"synopsis": "あ" * 170_000}, "synopsis", TOO_LONG_TEXT),
    "NUL in the synopsis": ({"synopsis": "前編\x00後編"}, "synopsis", invisible("\x00")),
    "ANSI escape in the synopsis": ({"synopsis": "前編\x1b[0m後編"}, "synopsis", invisible("\x1b")),
    "vertical tab in the synopsis": ({"synopsis": "前編\x0b後編"}, "synopsis", invisible("\x0b")),
    "bidi isolate in the synopsis": ({"synopsis": "前編\u2068後編"}, "synopsis", invisible("\u2068")),
    "NUL in a tag": ({"tags": "アニメ, 少年\x00漫画"}, "tags", invisible("\x00")),
    "ANSI escape in a tag": ({"tags": "アニメ, \x1b[5m点滅"}, "tags", invisible("\x1b")),
    "tab inside a tag": ({"tags": "少年\t漫画"}, "tags", invisible("\t")),
    "10k-character tag": ({"tags": "長" * 10_000}, "tags", BAD_LIST),
    "500 KB of tags": ({"tags": "x" * 500 * 1024}, "tags", BAD_LIST),
    "bidi override in a cast name": ({"cast": "花江夏樹, \u202e樹夏江花"}, "cast", invisible("\u202e")),
    "C1 control in a cast name": ({"cast": "花江\x90夏樹"}, "cast", invisible("\x90")),
    "right-to-left mark in a tag": ({"tags": "アニメ, \u200f少年"}, "tags", invisible("\u200f")),
    "line separator in a tag": ({"tags": "少年\u2028漫画"}, "tags", separator("\u2028")),
    "Arabic letter mark in a cast name": ({"cast": "花江\u061c夏樹"}, "cast", invisible("\u061c")),
    "paragraph separator in a cast name": ({"cast": "花江\u2029夏樹"}, "cast", separator("\u2029")),
    "left-to-right mark in the video URL": (
        {"video_url": "https://video.example.com/\u200emaster.m3u8"},
        "video_url",
        invisible("\u200e"),
    ),
    "line separator in the video URL": (
        {"video_url": "https://video.example.com/a\u2028b.m3u8"},
        "video_url",
        separator("\u2028"),
    ),
    "right-to-left mark in the synopsis": ({"synopsis": "前編\u200f後編"}, "synopsis", invisible("\u200f")),
    "http video URL": ({"video_url": "http://video.example.com/kimetsu/2/master.m3u8"}, "video_url", HTTPS_ONLY),
    "javascript: video URL": ({"video_url": "javascript:alert(1)"}, "video_url", HTTPS_ONLY),
    "JavaScript: video URL in mixed case": (
        {"video_url": "JavaScript:alert(document.cookie)"},
        "video_url",
        HTTPS_ONLY,
    ),
    "data: video URL": ({"video_url": "data:text/html,<script>alert(1)</script>"}, "video_url", HTTPS_ONLY),
    "protocol-relative video URL": ({"video_url": "//evil.example.com/master.m3u8"}, "video_url", HTTPS_ONLY),
    "10k-character video URL": (
        {"video_url": "https://video.example.com/" + "a" * 10_000},
        "video_url",
        ja("Keep this to %(max)d characters or fewer.", max=2000),
    ),
    "ANSI escape in the video URL": (
        {"video_url": "https://video.example.com/\x1b[0m.m3u8"},
        "video_url",
        invisible("\x1b"),
    ),
    "bidi override in the video URL": (
        {"video_url": "https://video.example.com/\u202e8u3m.ts"},
        "video_url",
        invisible("\u202e"),
    ),
    "episode number 0": ({"number": "0"}, "number", NUMBER_TOO_SMALL),
    "episode number -1": ({"number": "-1"}, "number", NUMBER_TOO_SMALL),
    "episode number 10,000": ({"number": "10000"}, "number", NUMBER_TOO_BIG),
    "episode number 10^40": ({"number": HUGE["10^40"]}, "number", NUMBER_TOO_BIG),
    "episode number 10^200": ({"number": HUGE["10^200"]}, "number", NUMBER_TOO_BIG),
    "duration 0": ({"duration_s": "0"}, "duration_s", NO_DURATION),
    "duration -1": ({"duration_s": "-1"}, "duration_s", NO_DURATION),
    "duration over 24 hours": ({"duration_s": "86401"}, "duration_s", DURATION_TOO_BIG),
    "duration 10^40": ({"duration_s": HUGE["10^40"]}, "duration_s", DURATION_TOO_BIG),
    "duration 10^200": ({"duration_s": HUGE["10^200"]}, "duration_s", DURATION_TOO_BIG),
}


HOSTILE = [
    pytest.param(kind, *case, id=f"{kind}: {name}")
    for kind, cases in (("program", PROGRAM_HOSTILE), ("episode", EPISODE_HOSTILE))
    for name, case in cases.items()
]


@pytest.mark.parametrize("mode", ["add", "change"])
@pytest.mark.parametrize(("kind", "overrides", "field", "message"), HOSTILE)
def test_hostile_input_refused(refused, target, kind, mode, overrides, field, message):
    url, values = target(kind, mode)
    refused(url, {**values, **overrides}, field, message)


@pytest.mark.parametrize("kind", ["program", "episode"])
@pytest.mark.parametrize("version", ["", "999"])
def test_missing_or_stale_version_refused_as_out_of_date(refused, target, kind, version):
    url, values = target(kind, "change")
    refused(url, {**values, "title": "新しい題名", "version": version}, None, STALE)


# Legitimate but unusual input is stored verbatim and always shown as text

PROGRAM_UNUSUAL = {
    "title": "🎬 <b>鬼滅</b>の刃 👨‍👩‍👧 & \"Demon\" 'Slayer'",
    "title_kana": "きめつのやいば🗡️<i>",
    "description": "<script>alert('x')</script>\n🎉 二行目\r\n\tタブで始まる行 &amp; </textarea>",
    "sort_order": "1000000",
    "publish_at": "2000-01-01 00:00",
    "expire_at": "2100-01-01 00:00",
}
EPISODE_UNUSUAL = {
    "title": "<img src=x onerror=alert(1)> 🔥",
    "synopsis": "<script>alert(1)</script>\n😀\tタブ付き\r\n<!-- 終 -->",
    "tags": "🎌, <b>タグ</b>",
    "cast": "花江夏樹🎤, <i>鬼頭明里</i>",
    "video_url": "https://video.example.com/kimetsu/🎬/master.m3u8?a=1&b=<2>",
    "number": "9999",
    "duration_s": "86400",
    "publish_at": "2026-11-26 29:59",
}
# Markup the admin itself never writes; "</textarea>" in the text is checked through the form's round trip.
MARKUP = ("<b>鬼滅</b>", "<i>", "<script>", "<img src=x", "<!-- 終")


@pytest.mark.parametrize("mode", ["add", "change"])
@pytest.mark.parametrize("kind", ["program", "episode"])
def test_emoji_and_markup_are_stored_verbatim_and_shown_as_text(editor_client, raw_dynamodb, target, kind, mode):
    url, values = target(kind, mode)
    sent = PROGRAM_UNUSUAL if kind == "program" else EPISODE_UNUSUAL

    response = editor_client.post(url, {**values, **sent, "_continue": ""})

    assert response.status_code == 302
    item_id = response["Location"].split("/")[-3]
    stored = raw_dynamodb.get(f"{kind}s", item_id)
    for field in ("title", "title_kana", "description", "synopsis", "video_url"):
        if field in sent:
            assert stored[field] == sent[field], field
    if kind == "program":
        assert (stored["sort_order"], stored["publish_at"], stored["expire_at"]) == (
            1_000_000,
            "1999-12-31T15:00:00Z",
            "2099-12-31T15:00:00Z",
        )
    else:
        assert stored["tags"] == ["🎌", "<b>タグ</b>"] and stored["cast"] == ["花江夏樹🎤", "<i>鬼頭明里</i>"]
        assert (stored["number"], stored["duration_s"], stored["publish_at"]) == (9999, 86400, "2026-11-26T20:59:00Z")
    pages = [editor_client.get(response["Location"]), editor_client.get(f"/admin/cms/{kind}/")]
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert not [markup for markup in MARKUP if markup in text]
    shown = form_read(pages[0], f"{kind}_form").values
    assert [shown[field] for field in ("title", "description", "synopsis") if field in sent] == [
        sent[field] for field in ("title", "description", "synopsis") if field in sent
    ]
    assert sent["title"] in listed_titles(pages[1])


# Line and paragraph separators pasted into multi-line text become the line breaks the editor saw there.
PASTED = "一行目\u2028二行目\u2029次の段落\r\n四行目"
AS_LINES = "一行目\n二行目\n次の段落\r\n四行目"


@pytest.mark.parametrize("mode", ["add", "change"])
@pytest.mark.parametrize(("kind", "field"), [("program", "description"), ("episode", "synopsis")])
def test_separators_in_multi_line_text_are_stored_as_line_breaks(
    editor_client, raw_dynamodb, target, kind, field, mode
):
    url, values = target(kind, mode)

    response = editor_client.post(url, {**values, field: PASTED, "_continue": ""})

    assert response.status_code == 302
    item_id = response["Location"].split("/")[-3]
    assert raw_dynamodb.get(f"{kind}s", item_id)[field] == AS_LINES
    assert form_read(editor_client.get(response["Location"]), f"{kind}_form").values[field] == AS_LINES


def test_separators_in_multi_line_text_from_other_writers_are_refused_before_writing(raw_dynamodb, tree):
    before = raw_dynamodb.snapshot()

    with pytest.raises(ValidationError) as caught:
        services.program_update(
            program_id=tree.program.id, version=tree.program.version, user="script", description=PASTED
        )

    message = ja("Replace the line or paragraph separator %(char)s with an ordinary line break.", char="U+2028")
    assert caught.value.message_dict == {"description": [message]}
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize(
    ("kind", "field", "message"), [("program", "sort_order", SORT_TOO_BIG), ("episode", "number", NUMBER_TOO_BIG)]
)
def test_a_number_stored_before_the_rules_is_shown_and_refused_on_save(
    editor_client, refused, target, tree, raw_number, kind, field, message
):
    item = tree.program if kind == "program" else tree.episode
    raw_number(f"{kind}s", item.id, field, 10**40)

    url, values = target(kind, "change")

    assert values[field] == str(10**40)
    assert editor_client.get(f"/admin/cms/{kind}/").status_code == 200
    refused(url, {**values, "title": "新しい題名"}, field, message)


# Uploads: only a real JPEG, PNG or WebP is stored, under its own format's name


def image_bytes(fmt: str, payload: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (48, 32), (20, 120, 200))
    if fmt == "MPO":  # a phone's multi-picture JPEG: two frames
        picture.save(buffer, fmt, save_all=True, append_images=[Image.new("RGB", (48, 32))])
    else:
        picture.save(buffer, fmt)
    return buffer.getvalue() + payload


SCRIPT = b"<script>alert(document.cookie)</script>"


def gif_posing_as_html() -> SimpleUploadedFile:
    return SimpleUploadedFile("x.html", image_bytes("GIF", SCRIPT), content_type="text/html")


def plain_gif() -> SimpleUploadedFile:
    return SimpleUploadedFile("anim.gif", image_bytes("GIF"), content_type="image/gif")


def svg_with_script() -> SimpleUploadedFile:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
    return SimpleUploadedFile("logo.svg", svg, content_type="image/svg+xml")


def html_named_png() -> SimpleUploadedFile:
    return SimpleUploadedFile("poster.png", b"<!doctype html><script>alert(1)</script>", content_type="image/png")


def thirty_mb() -> SimpleUploadedFile:
    return SimpleUploadedFile("huge.png", image_bytes("PNG") + b"\0" * (30 * 1024 * 1024), content_type="image/png")


HOSTILE_UPLOADS = {
    "text named .png": (text_as_png, BAD_IMAGE),
    "HTML named .png": (html_named_png, BAD_IMAGE),
    "GIF named .html with a script appended": (gif_posing_as_html, BAD_IMAGE),
    "GIF": (plain_gif, BAD_IMAGE),
    "SVG with a script": (svg_with_script, BAD_IMAGE),
    "30 MB": (thirty_mb, ja("Images can be at most %(mb)d MB.", mb=5)),
}


@pytest.mark.parametrize("mode", ["add", "change"])
@pytest.mark.parametrize("kind", ["program", "episode"])
@pytest.mark.parametrize(("upload", "message"), HOSTILE_UPLOADS.values(), ids=HOSTILE_UPLOADS.keys())
def test_hostile_upload_refused(refused, target, kind, mode, upload, message):
    url, values = target(kind, mode)
    field = "key_art_upload" if kind == "program" else "thumbnail_upload"
    refused(url, {**values, field: upload()}, field, message)


DISGUISED = {
    "PNG named .html with a script appended": ("x.html", "text/html", "PNG", "PNG", "png"),
    "JPEG named .gif": ("photo.gif", "image/gif", "JPEG", "JPEG", "jpg"),
    "WebP named .png with a script appended": ("art.png", "image/png", "WEBP", "WEBP", "webp"),
    "multi-picture JPEG from a phone": ("IMG_0001.JPG", "image/jpeg", "MPO", "JPEG", "jpg"),
}


@pytest.mark.parametrize("kind", ["program", "episode"])
@pytest.mark.parametrize(
    ("name", "content_type", "sent", "kept", "extension"), DISGUISED.values(), ids=DISGUISED.keys()
)
def test_upload_is_stored_under_its_real_format_with_nothing_appended(
    editor_client, raw_dynamodb, target, kind, name, content_type, sent, kept, extension
):
    url, values = target(kind, "change")
    field, stored_field = ("key_art_upload", "key_art") if kind == "program" else ("thumbnail_upload", "thumbnail")
    upload = SimpleUploadedFile(name, image_bytes(sent, SCRIPT), content_type=content_type)

    response = editor_client.post(url, {**values, field: upload, "_continue": ""})

    assert response.status_code == 302
    stored = raw_dynamodb.get(f"{kind}s", response["Location"].split("/")[-3])[stored_field]
    assert stored.endswith(f".{extension}") and stored_files() >= {stored}
    data = (Path(settings.MEDIA_ROOT) / stored).read_bytes()
    assert b"<script" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == (kept, (48, 32))
        image.load()


# Every write path gets the same rules: services called directly


SERVICE_CASES = {
    "ANSI escape in a title": ("title", "\x1b[31m赤", "title"),
    "bidi override in a title": ("title", "abc\u202etxt.exe", "title"),
    "right-to-left mark in a title": ("title", "abc\u200ftxt", "title"),
    "line separator in a title": ("title", "一行\u2028目", "title"),
    "line separator in the synopsis": ("synopsis", "一行目\u2028二行目", "synopsis"),
    "paragraph separator in the synopsis": ("synopsis", "一段落\u2029二段落", "synopsis"),
    "NUL in the synopsis": ("synopsis", "a\x00b", "synopsis"),
    "DEL in a tag": ("tags", ["ok", "bad\x7f"], "tags"),
    "episode number 10^40": ("number", 10**40, "number"),
    "duration 10^200": ("duration_s", 10**200, "duration_s"),
    "airtime in year 1": ("publish_at", datetime(1, 1, 1, tzinfo=UTC), "publish_at"),
    "end in year 9999": ("expire_at", datetime(9999, 12, 31, 23, 59, tzinfo=UTC), "expire_at"),
    "version 10^200": ("version", 10**200, NON_FIELD_ERRORS),
}


@pytest.mark.parametrize(("name", "value", "error_key"), SERVICE_CASES.values(), ids=SERVICE_CASES.keys())
def test_services_refuse_hostile_values_before_writing(raw_dynamodb, tree, name, value, error_key):
    before = raw_dynamodb.snapshot()

    with pytest.raises(ValidationError) as caught:
        services.episode_update(
            episode_id=tree.episode.id, user="script", **{"version": tree.episode.version, name: value}
        )

    assert list(caught.value.message_dict) == [error_key]
    assert raw_dynamodb.snapshot() == before


@pytest.mark.parametrize(
    ("fields", "error_key"),
    [
        ({"sort_order": 10**40}, "sort_order"),
        ({"title_kana": "\u2066かな\u2069"}, "title_kana"),
        ({"description": "ok\n\ttab\r\nbut \x1b[0m"}, "description"),
        ({"publish_at": datetime(1900, 1, 1, tzinfo=UTC)}, "publish_at"),
    ],
)
def test_program_and_season_services_refuse_hostile_values(raw_dynamodb, tree, fields, error_key):
    before = raw_dynamodb.snapshot()

    with pytest.raises(ValidationError) as caught:
        services.program_update(program_id=tree.program.id, version=tree.program.version, user="script", **fields)
    assert list(caught.value.message_dict) == [error_key]
    if error_key in ("sort_order", "publish_at"):
        with pytest.raises(ValidationError) as caught:
            services.season_update(season_id=tree.season.id, version=tree.season.version, user="script", **fields)
        assert list(caught.value.message_dict) == [error_key]
    assert raw_dynamodb.snapshot() == before
