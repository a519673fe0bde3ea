"""Japanese-first details of the editors' admin: reading order, running times, date-time fields, order notes."""

import html
import re

import pytest
from django import forms as django_forms

from cms import forms, program_index, selectors, services
from cms.broadcast import broadcast_parse
from cms.kana import reading_key
from tests.cms.conftest import field_error, form_read, ja, listed_titles

PROGRAMS = "/admin/cms/program/"
SEASONS = "/admin/cms/season/"
EPISODES = "/admin/cms/episode/"

# (title, reading) in the order a Japanese reader expects, written out by hand.
READING_ORDER = [
    ("NHKニュース7", "えぬえいちけーにゅーすせぶん"),
    ("カードキャプターさくら", "かーどきゃぷたーさくら"),  # ー ignored: かとき… before かん…
    ("ガンダム", "ガンダム"),  # katakana reading, が as か
    ("鬼滅の刃", "きめつのやいば"),
    ("進撃の巨人", "しんげきのきょじん"),
    ("ちびまる子ちゃん", "ちびまるこちゃん"),
    ("ハイキュー!!", "ハイキュー"),
    ("はじめの一歩", "はじめのいっぽ"),  # じ as し, before に
    ("ぱにぽに", "ぱにぽに"),  # ぱ as は
    ("ゆるキャン△", "ゆるきゃん"),
    ("よつばと!", "よつばと"),
    ("ONE PIECE", "わんぴーす"),  # a Latin title with a kana reading sorts by its reading
    ("abc def", ""),  # no reading: Latin after kana, case folded
    ("SPY×FAMILY", ""),
]


def program_sort(pairs):
    return sorted(pairs, key=lambda pair: reading_key(pair[1] or pair[0]))


def test_reading_key_sorts_titles_in_gojuon_order():
    shuffled = sorted(READING_ORDER, key=lambda pair: pair[0])
    assert program_sort(shuffled) == READING_ORDER
    assert program_sort(reversed(READING_ORDER)) == READING_ORDER


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("がき", "かく"),  # voiced folded: が sorts as か
        ("かき", "がき"),  # otherwise equal: plain before voiced
        ("ぱん", "ひ"),  # semi-voiced folded
        ("きゃく", "きやく"),  # small before full size when otherwise equal
        ("きゃく", "きゆ"),  # small folded: ゃ as や
        ("らーめん", "らん"),  # ー ignored (by code point it would sort after ん)
        ("ﾗｰﾒﾝ", "らん"),  # half-width katakana
        ("ん", "a"),  # kana before Latin
        ("Apple", "banana"),  # Latin case-insensitive
    ],
)
def test_reading_key_pairs(first, second):
    assert reading_key(first) < reading_key(second)


def test_reading_key_folds_kana_scripts_alike():
    assert reading_key("カタカナ")[0] == reading_key("かたかな")[0] == reading_key("ｶﾀｶﾅ")[0]
    assert reading_key(None) == ((), "", "")


@pytest.fixture
def reading_shelf(raw_dynamodb):
    """The programs of READING_ORDER, created in an order that is neither reading nor title order."""
    for title, kana in sorted(READING_ORDER, key=lambda pair: pair[0], reverse=True):
        services.program_create(
            user="seed", title=title, title_kana=kana, slug=f"p-{services.new_id().lower()}", status="draft"
        )
    return [title for title, _kana in READING_ORDER]


def test_program_choices_are_in_reading_order(editor_client, reading_shelf):
    assert [title for _id, title in program_index.choices_search("", 1, 10_000)[0]] == reading_shelf
    # The pickers' autocomplete lists its matches in the same order.
    found = editor_client.get(f"{PROGRAMS}autocomplete/").json()["results"]
    assert [result["text"] for result in found] == reading_shelf


def test_program_list_in_reading_order_pages_through(editor_client, reading_shelf, monkeypatch):
    assert listed_titles(editor_client.get(PROGRAMS, {"o": "title"})) == reading_shelf

    monkeypatch.setattr(selectors, "programs_page", _small_pages(selectors.programs_page))
    first = editor_client.get(PROGRAMS, {"o": "title"})
    href = html.unescape(re.search(r'<a class="next-page" href="([^"]*)"', first.content.decode()).group(1))
    second = editor_client.get(PROGRAMS + href)
    assert listed_titles(first) + listed_titles(second)[:1] == reading_shelf[:6]


def _small_pages(programs_page):
    def five_a_page(**kwargs):
        return programs_page(**{**kwargs, "size": 5})

    return five_a_page


# Running time: entered and shown as m:ss or h:mm:ss


def episode_form(data, seasons=(("s", "S1"),)):
    return forms.EpisodeForm(data, seasons=list(seasons))


def episode_data(duration: str) -> dict:
    return {
        "program_id": "p",
        "season_id": "s",
        "number": "1",
        "title": "残酷",
        "duration_s": duration,
        "status": "draft",
    }


@pytest.mark.parametrize(
    ("entered", "seconds"),
    [
        ("24:00", 1440),
        ("0:45", 45),
        ("1:30:00", 5400),
        ("24:00:00", 86400),
        ("1440", 1440),
        (" ２４：００ ", 1440),  # full-width, as an input method types it
        ("1440:00", 86400),
    ],
)
def test_running_time_accepts_clock_notation_and_seconds(entered, seconds):
    form = episode_form(episode_data(entered))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["duration_s"] == seconds


BAD_FORMAT = "Enter the running time as m:ss or h:mm:ss (for example 24:00), or as seconds."


@pytest.mark.parametrize(
    ("entered", "message"),
    [
        ("1:75", BAD_FORMAT),
        ("99:99:99", BAD_FORMAT),
        ("abc", BAD_FORMAT),
        ("1:2:3:4", BAD_FORMAT),
        ("-3", "Duration must be more than zero seconds."),
        ("0:00", "Duration must be more than zero seconds."),
        ("24:00:01", "Duration can be at most %(max)s seconds (24 hours)."),
        (str(10**40), "Duration can be at most %(max)s seconds (24 hours)."),
    ],
)
def test_running_time_refuses_garbage_with_a_field_error(entered, message):
    form = episode_form(episode_data(entered))

    assert not form.is_valid()
    expected = ja(message, max="86,400") if "%(max)s" in message else ja(message)
    assert form.errors["duration_s"] == [expected]


def test_running_time_shown_as_clock_notation():
    assert [forms.duration_format(s) for s in (1, 59, 60, 1440, 3599, 3600, 5400, 86400)] == [
        "0:01",
        "0:59",
        "1:00",
        "24:00",
        "59:59",
        "1:00:00",
        "1:30:00",
        "24:00:00",
    ]
    form = forms.EpisodeForm(initial={"duration_s": 1440}, seasons=[])
    assert form["duration_s"].value() == "24:00"
    assert 'value="24:00"' in str(form["duration_s"])
    assert isinstance(form.fields["duration_s"].widget, django_forms.TextInput)


def test_running_time_saved_and_listed_through_the_admin(editor_client, raw_dynamodb, tree):
    url = f"/admin/cms/episode/{tree.episode.id}/change/"
    values = form_read(editor_client.get(url), "episode_form").values
    assert values["duration_s"] == "24:00"

    response = editor_client.post(url, {**values, "duration_s": "1:30:00"})
    assert response.status_code == 302
    assert raw_dynamodb.get("episodes", tree.episode.id)["duration_s"] == 5400

    add = f"{EPISODES}add/?program={tree.program.id}"
    response = editor_client.post(add, {**values, "number": "2", "version": "", "duration_s": "24:00", "_continue": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    new_id = response["Location"].split("/")[-3]
    assert raw_dynamodb.get("episodes", new_id)["duration_s"] == 1440
    assert form_read(editor_client.get(response["Location"]), "episode_form").values["duration_s"] == "24:00"

    listed = editor_client.get(EPISODES).content.decode()
    assert re.search(r"<td>24:00</td>", listed) and re.search(r"<td>1:30:00</td>", listed)


def test_running_time_garbage_through_the_admin_keeps_what_was_typed(editor_client, tree):
    url = f"/admin/cms/episode/{tree.episode.id}/change/"
    values = form_read(editor_client.get(url), "episode_form").values

    response = editor_client.post(url, {**values, "duration_s": "1:75"})

    assert response.status_code == 400
    assert field_error(response, "duration_s") == ja(BAD_FORMAT)
    assert form_read(response, "episode_form").values["duration_s"] == "1:75"


# Date-time fields: JST help and a placeholder that is not a date


DATETIME_HELP = "JST, YYYY-MM-DD HH:MM. Hours up to 29 count as the next morning."


def form_row(response, name: str) -> str:
    """The HTML of the form row of field `name`, up to the next row."""
    page = response.content.decode().split("</fieldset>", 1)[0]
    (row,) = [chunk for chunk in page.split('<div class="form-row ')[1:] if chunk.startswith(f"field-{name}")]
    return row


@pytest.mark.parametrize("model", ["program", "season", "episode"])
def test_every_datetime_field_has_jst_help_and_a_pattern_placeholder(editor_client, tree, model):
    response = editor_client.get(f"/admin/cms/{model}/add/", {"program": tree.program.id})
    form = forms.ProgramForm if model == "program" else forms.SeasonForm if model == "season" else forms.EpisodeForm
    names = [name for name, field in form.base_fields.items() if isinstance(field, forms.BroadcastDateTimeField)]
    assert names == ["publish_at", "expire_at"]

    for name in names:
        row = form_row(response, name)
        assert html.unescape(re.search(r'<div class="help">(.*?)</div>', row).group(1)) == ja(DATETIME_HELP)
        placeholder = re.search(r'placeholder="([^"]*)"', row).group(1)
        assert placeholder and not re.search(r"\d", placeholder)


def test_change_form_keeps_jst_help_next_to_the_broadcast_notation(editor_client, raw_dynamodb):
    program = services.program_create(
        user="seed",
        title="深夜アニメ",
        slug="shinya",
        status="draft",
        publish_at=broadcast_parse("2026-11-26 25:30"),
    )

    row = form_row(editor_client.get(f"{PROGRAMS}{program.id}/change/"), "publish_at")

    help_text = html.unescape(re.search(r'<div class="help">(.*?)</div>', row).group(1))
    assert ja(DATETIME_HELP) in help_text
    assert ja("Broadcast notation: %(alt)s", alt="2026-11-26 25:30") in help_text


def test_date_cells_carry_the_no_wrap_class(editor_client, tree):
    services.episode_update(
        episode_id=tree.episode.id,
        version=tree.episode.version,
        user="seed",
        publish_at=broadcast_parse("2026-11-26 25:30"),
    )
    for changelist in (PROGRAMS, SEASONS, EPISODES):
        page = editor_client.get(changelist).content.decode()
        assert 'href="/static/cms/admin.css"' in page
        assert re.search(r'<td><span class="date-nowrap">[^<]*</span></td>', page)


# Searching keeps the chosen order, or says it replaced it


def order_note(response) -> str | None:
    match = re.search(r'<p class="order-note">(.*?)</p>', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def selected_order(response) -> list[str]:
    box = re.search(r'data-filter-title="order".*?</details>', response.content.decode(), re.S).group(0)
    return [html.unescape(label) for label in re.findall(r'<li class="selected"><a [^>]*>(.*?)</a>', box)]


def test_program_search_keeps_the_chosen_order(editor_client, reading_shelf):
    listed = editor_client.get(PROGRAMS, {"o": "title"})
    assert order_note(listed) is None
    assert selected_order(listed) == [ja("Title (gojuon order of the reading)")]

    searched = editor_client.get(PROGRAMS, {"o": "title", "q": "は"})
    # Readings match with voiced marks folded, as they are ordered: ぱ is found under は.
    found = {"はじめの一歩", "ハイキュー!!", "ぱにぽに"}
    assert listed_titles(searched) == [title for title in reading_shelf if title in found]
    assert order_note(searched) is None
    assert selected_order(searched) == [ja("Title (gojuon order of the reading)")]


def test_episode_orders_say_when_they_do_not_apply(editor_client, tree):
    assert order_note(editor_client.get(EPISODES, {"o": "airtime"})) is None

    searched = editor_client.get(EPISODES, {"o": "airtime", "q": "残"})
    assert listed_titles(searched) == ["残酷"]
    assert order_note(searched) == ja(
        "Search results are listed by %(order)s, not in the chosen order.", order=ja("title")
    )

    one_program = editor_client.get(EPISODES, {"o": "airtime", "program": tree.program.id})
    assert order_note(one_program) == ja(
        "With a program chosen, episodes are listed by season and number, not in the chosen order."
    )
    assert selected_order(one_program) == [ja("Program, season, number")]
    assert order_note(editor_client.get(EPISODES, {"o": "program", "program": tree.program.id})) is None
