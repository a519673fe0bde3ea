"""The SQL program list: kept by saves, repaired by the sweep, read by the pickers, never every program at once."""

import io
import json
import random
import re

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.models.functions import Collate
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from cms import domain, program_index, selectors, services, tasks
from cms.kana import reading_key, reading_prefix_text, reading_sort_text
from cms.models import ProgramEntry
from cms.store import programs as program_store
from cms.store.local import free_port
from tests.cms.conftest import field_error
from tests.cms.test_japanese_details import READING_ORDER
from tests.conftest import store_at

PROGRAMS = "/admin/cms/program/"
SEARCH = "/admin/cms/program/autocomplete/"
SEASON_ADD = "/admin/cms/season/add/"
EPISODES = "/admin/cms/episode/"
TABLE = ProgramEntry._meta.db_table


def make_program(title: str, kana: str = "", **fields) -> domain.Program:
    return services.program_create(
        user="seed", title=title, title_kana=kana, slug=f"p-{services.new_id().lower()}", status="draft", **fields
    )


def row(program_id: str) -> dict | None:
    return ProgramEntry.objects.filter(pk=program_id).values("title", "status", "version").first()


def entries(*titles: tuple[str, str]) -> list[ProgramEntry]:
    """Rows written straight into the table (no DynamoDB), for (title, kana) pairs."""
    built = [
        program_index.entry_for(domain.Program(id=services.new_id(), slug="", title=t, title_kana=k, version=1))
        for t, k in titles
    ]
    return ProgramEntry.objects.bulk_create(built)


def search(client, **params):
    return client.get(SEARCH, params)


def search_titles(client, term: str, page: int = 1) -> list[str]:
    response = search(client, term=term, page=page)
    assert response.status_code == 200
    return [result["text"] for result in response.json()["results"]]


# The sort text


def test_reading_sort_text_orders_as_reading_key():
    readings = [kana or title for title, kana in READING_ORDER]
    extra = ["がき", "かく", "かき", "ぱん", "ひ", "きゃく", "きやく", "ﾗｰﾒﾝ", "らん", "Apple", "カタカナ", "ｶﾀｶﾅ", ""]
    texts = readings + extra
    for seed in range(20):
        random.Random(seed).shuffle(texts)
        assert sorted(texts, key=reading_sort_text) == sorted(texts, key=reading_key)
    assert set("".join(map(reading_sort_text, texts))) <= set("0123456789")


def test_reading_prefix_folds_kana_like_the_reading():
    assert reading_sort_text("カタカナ入門").startswith(reading_prefix_text("かたかな"))
    assert reading_sort_text("ガンダム").startswith(reading_prefix_text("かんた"))
    assert reading_sort_text("ｶﾞﾝﾀﾞﾑ").startswith(reading_prefix_text("ガン"))
    assert not reading_sort_text("ガンダム").startswith(reading_prefix_text("かんだむし"))


# The table follows every program write


def test_the_list_follows_create_update_status_and_delete(editor_client, raw_dynamodb):
    response = editor_client.post(
        f"{PROGRAMS}add/",
        {"title": "葬送のフリーレン", "title_kana": "そうそうのふりーれん", "slug": "frieren"}
        | {"sort_order": "3", "status": "draft"},
    )
    assert response.status_code == 302
    [entry] = ProgramEntry.objects.all()
    assert (entry.title, entry.title_kana, entry.status, entry.sort_order, entry.version) == (
        "葬送のフリーレン",
        "そうそうのふりーれん",
        "draft",
        3,
        1,
    )

    services.program_update(program_id=entry.id, version=1, user="eri", title="フリーレン")
    assert row(entry.id) == {"title": "フリーレン", "status": "draft", "version": 2}

    response = editor_client.post(PROGRAMS, {"action": "publish", "_selected_action": f"{entry.id}:2"})
    assert response.status_code == 302
    assert row(entry.id) == {"title": "フリーレン", "status": "published", "version": 3}

    services.program_delete(program_id=entry.id, version=3, user="eri")
    assert row(entry.id) is None


def test_an_older_version_never_overwrites_a_newer_row(db, raw_dynamodb):
    program = make_program("薬屋のひとりごと")
    services.program_update(program_id=program.id, version=1, user="eri", title="薬屋の独り言")

    assert program_index.entry_save(program) is False  # still at version 1
    assert row(program.id)["title"] == "薬屋の独り言"


def test_a_failed_sql_write_still_saves_and_the_sweep_repairs_it(editor_client, raw_dynamodb, caplog):
    data = {"title": "チェンソーマン", "slug": "chainsaw", "sort_order": "0", "status": "draft", "_continue": ""}
    with connection.execute_wrapper(_refuse_program_list):
        response = editor_client.post(f"{PROGRAMS}add/", data)

    assert response.status_code == 302
    program_id = response["Location"].split("/")[-3]
    assert raw_dynamodb.get("programs", program_id)["title"] == "チェンソーマン"
    assert "not brought up to date in the program list" in caplog.text
    assert row(program_id) is None

    assert program_index.entries_sync() == (1, 0, 0)
    assert row(program_id) == {"title": "チェンソーマン", "status": "draft", "version": 1}


def _refuse_program_list(execute, sql, params, many, context):
    """Fail every statement on the program list, as a database that is down or locked would."""
    if TABLE in sql:
        raise OperationalError("database is locked")
    return execute(sql, params, many, context)


def test_sync_repairs_a_missing_row_a_stale_title_and_a_deleted_program(db, raw_dynamodb):
    missing, stale, gone, kept = (make_program(t) for t in ("ブルーロック", "ハイキュー!!", "ダンダダン", "推しの子"))
    ProgramEntry.objects.filter(pk=missing.id).delete()
    ProgramEntry.objects.filter(pk=stale.id).update(title="古い題名")
    program_store.program_mark_deleted(gone)  # deleted behind the list's back

    assert program_index.entries_sync() == (1, 1, 1)

    assert dict(ProgramEntry.objects.values_list("id", "title")) == {
        missing.id: "ブルーロック",
        stale.id: "ハイキュー!!",
        kept.id: "推しの子",
    }
    assert program_index.entries_sync() == (0, 0, 0)


def test_sync_keeps_a_new_programs_row_while_the_index_it_reads_lags(db, raw_dynamodb, monkeypatch):
    listed = make_program("既存の番組")
    new = make_program("出来たての番組")
    # On AWS the index the sweep reads is eventually consistent: just after a save it may not list the program.
    lagging = [(p, position) for p, position in program_store.programs_stream() if p.id != new.id]
    monkeypatch.setattr(program_store, "programs_stream", lambda **_kwargs: iter(lagging))

    assert program_index.entries_sync() == (0, 0, 0)
    assert row(new.id) is not None and row(listed.id) is not None

    # A row whose program a read by key does not find is taken out; a program the lagging index still
    # lists after its delete is not put back.
    ghost = domain.Program(id=services.new_id(), slug="ghost", title="幻の番組", version=1)
    program_index.entry_for(ghost).save()
    services.program_delete(program_id=listed.id, version=listed.version, user="editor")

    assert program_index.entries_sync() == (0, 0, 1)
    assert row(ghost.id) is None and row(listed.id) is None and row(new.id) is not None


def test_sync_command_and_task_report_what_changed(db, raw_dynamodb):
    program = make_program("ワンピース")
    ProgramEntry.objects.all().delete()
    out = io.StringIO()
    with translation.override("en"):
        call_command("program_index_sync", stdout=out)

    assert out.getvalue() == "Program list synced: 1 added, 0 changed, 0 removed.\n"
    assert row(program.id)["title"] == "ワンピース"
    assert tasks.program_index_sync.apply().get() == [0, 0, 0]
    schedule = settings.CELERY_BEAT_SCHEDULE.values()
    assert {"task": "cms.tasks.program_index_sync", "schedule": 300.0} in schedule


def test_sync_command_names_an_unreachable_store_in_one_line(db, dynamodb):
    with store_at(f"http://127.0.0.1:{free_port()}"), translation.override("en"):
        with pytest.raises(CommandError) as refused:
            call_command("program_index_sync", stdout=io.StringIO())

    assert str(refused.value).startswith("Cannot read the programs from the content store:")
    assert "\n" not in str(refused.value)


def test_seed_demo_fills_the_list(db, raw_dynamodb):
    out = io.StringIO()
    with translation.override("en"):
        call_command("seed_demo", "--programs", "4", stdout=out)

    assert ProgramEntry.objects.count() == 4
    assert "Program list synced: 4 added, 0 changed, 0 removed." in out.getvalue()


def _collations() -> list[str]:
    """Collations that order text differently: SQLite's own; on PostgreSQL, languages with unusual letters."""
    if connection.vendor == "sqlite":
        return ["BINARY", "NOCASE", "RTRIM"]
    wanted = ["C", "en-x-icu", "da-x-icu", "cy-x-icu", "ja-x-icu", "en_US.utf8"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT collname FROM pg_collation WHERE collname = ANY(%s)", [wanted])
        return [name for (name,) in cursor.fetchall()]


def test_reading_column_sorts_in_reading_order_whatever_the_collation(db):
    rows = entries(*READING_ORDER, ("かき", ""), ("がき", ""), ("かき", ""), ("aa", ""), ("dd", ""), ("Ａａ", ""))
    expected = [r.id for r in sorted(rows, key=lambda r: (reading_key(r.title_kana or r.title), r.id))]

    for collation in _collations():
        ordered = ProgramEntry.objects.order_by(Collate("reading", collation)).values_list("id", flat=True)
        assert list(ordered) == expected, collation


# Reads


def test_program_choices_follow_reading_order(db, raw_dynamodb):
    shuffled = READING_ORDER[:]
    random.Random(7).shuffle(shuffled)
    for title, kana in shuffled:
        make_program(title, kana)

    assert [title for _id, title in program_index.choices_search("", 1, 10_000)[0]] == [
        title for title, _kana in READING_ORDER
    ]


def test_program_titles_read_the_store_only_for_ids_missing_from_the_list(db, raw_dynamodb, monkeypatch):
    listed, unlisted = make_program("呪術廻戦"), make_program("怪獣8号")
    ProgramEntry.objects.filter(pk=unlisted.id).delete()
    asked = []
    programs_many = program_store.programs_many
    monkeypatch.setattr(program_store, "programs_many", lambda ids: asked.append(ids) or programs_many(ids))

    assert selectors.program_titles([listed.id]) == {listed.id: "呪術廻戦"}
    assert asked == []
    assert selectors.program_titles([listed.id, unlisted.id, listed.id]) == {
        listed.id: "呪術廻戦",
        unlisted.id: "怪獣8号",
    }
    assert asked == [[unlisted.id]]


# The autocomplete endpoint


def test_search_pages_through_matches_in_reading_order(editor_client):
    entries(*((f"番組{n:02d}", f"ばんぐみ{n:02d}") for n in range(45)), ("関係ない", "かんけいない"))

    first, second, third = (search(editor_client, term="ばんぐみ", page=page).json() for page in (1, 2, 3))

    assert [r["text"] for r in first["results"]] == [f"番組{n:02d}" for n in range(20)]
    assert first["pagination"] == second["pagination"] == {"more": True}
    assert [r["text"] for r in third["results"]] == [f"番組{n:02d}" for n in range(40, 45)]
    assert third["pagination"] == {"more": False}
    assert set(first["results"][0]) == {"id", "text"}
    assert len(search(editor_client).json()["results"]) == 20  # no term: every program, a page at a time


def test_search_folds_kana_and_matches_title_substrings(editor_client):
    entries(("カタカナ入門", ""), ("ガンダム", "ガンダム"), ("進撃の巨人", "しんげきのきょじん"), ("SPY×FAMILY", ""))

    assert search_titles(editor_client, "かたかな") == ["カタカナ入門"]
    assert search_titles(editor_client, "ｶﾀｶﾅ") == ["カタカナ入門"]
    assert search_titles(editor_client, "かんだ") == ["ガンダム"]
    assert search_titles(editor_client, "シンゲキ") == ["進撃の巨人"]
    assert search_titles(editor_client, "の巨") == ["進撃の巨人"]
    assert search_titles(editor_client, "family") == ["SPY×FAMILY"]
    assert search_titles(editor_client, "ＳＰＹ") == ["SPY×FAMILY"]
    assert search_titles(editor_client, "ナルト") == []


def test_search_is_for_staff_who_may_see_content(client, editor_client, viewer_client, ops_client, db):
    entries(("鬼滅の刃", "きめつのやいば"))

    anonymous = client.get(SEARCH, {"term": "き"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    bare = Client()
    bare.force_login(User.objects.create_user("no-perms", password="secret-pass-123", is_staff=True))
    refused = bare.get(SEARCH, {"term": "き"})
    assert refused.status_code == 403
    assert refused.json()["error"]["status"] == 403
    for allowed in (editor_client, viewer_client, ops_client):
        assert search_titles(allowed, "き") == ["鬼滅の刃"]


@pytest.mark.parametrize(
    "params",
    [
        {"term": "あ" * 101},
        {"term": "鬼\x00"},
        {"page": "0"},
        {"page": "-1"},
        {"page": "1001"},
        {"page": "abc"},
        {"page": "9" * 5000},
        {"page": "1.5"},
    ],
    ids=["term of 101 chars", "NUL", "page 0", "negative page", "page 1001", "page abc", "huge page", "page 1.5"],
)
def test_hostile_search_is_refused_with_a_json_400(editor_client, params):
    response = search(editor_client, **params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 400 and error["message"]


def test_search_bounds_are_accepted(editor_client):
    entries(("あ" * 100, ""))

    assert search_titles(editor_client, "あ" * 100, page=1) == ["あ" * 100]
    assert search_titles(editor_client, "あ", page=1000) == []
    assert search(editor_client, term="", page="").status_code == 200
    assert search_titles(editor_client, "%") == [] and search_titles(editor_client, "_") == []


# Pickers and filters check programs against the list


def test_season_add_offers_the_autocomplete_and_refuses_a_program_not_listed(editor_client, raw_dynamodb):
    listed, unlisted = make_program("チェンソーマン"), make_program("ダンダダン")
    ProgramEntry.objects.filter(pk=unlisted.id).delete()

    page = editor_client.get(SEASON_ADD, {"program": listed.id}).content.decode()
    select = _select(page, "program_id")
    assert 'class="admin-autocomplete"' in select and f'data-ajax--url="{SEARCH}"' in select
    assert _options(select) == [(listed.id, "チェンソーマン")]
    assert "admin/js/autocomplete.js" in page

    data = {"program_id": unlisted.id, "title": "第1期", "sort_order": "0", "status": "draft"}
    response = editor_client.post(SEASON_ADD, data)
    assert response.status_code == 400
    assert unlisted.id in field_error(response, "program_id")
    assert raw_dynamodb.count("seasons") == 0

    response = editor_client.post(SEASON_ADD, {**data, "program_id": listed.id})
    assert response.status_code == 302
    assert raw_dynamodb.count("seasons") == 1


def test_episode_picker_goes_on_only_with_a_listed_program(editor_client, raw_dynamodb):
    program = make_program("ぼっち・ざ・ろっく!", "ぼっちざろっく")

    picker = editor_client.get(f"{EPISODES}add/").content.decode()
    assert _options(_select(picker, "program")) == []
    unknown = editor_client.get(f"{EPISODES}add/", {"program": services.new_id()}).content.decode()
    assert 'name="program"' in unknown and 'class="errorlist' in unknown
    form = editor_client.get(f"{EPISODES}add/", {"program": program.id}).content.decode()
    assert 'id="episode_form"' in form


def test_changelist_program_filter_is_a_form_keeping_the_other_parameters(editor_client, raw_dynamodb):
    program = make_program("葬送のフリーレン")

    page = editor_client.get(EPISODES, {"program": program.id, "status": "draft", "o": "airtime", "q": "第"})
    html = page.content.decode()
    box = re.search(r'<form method="get" class="lookup-filter" id="program-filter">.*?</form>', html, re.S).group(0)
    assert _options(_select(box, "program")) == [("", ""), (program.id, "葬送のフリーレン")]
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', box))
    assert hidden == {"q": "第", "status": "draft", "o": "airtime"}
    clear = re.search(r'<a class="lookup-filter-clear" href="([^"]*)"', html).group(1)
    assert "program=" not in clear and "status=draft" in clear

    refused = editor_client.get(EPISODES, {"program": services.new_id()})
    assert refused.status_code == 400


# 5,000 programs


@pytest.fixture
def many_programs(db):
    """5,000 programs in the list, written straight into SQL."""
    return entries(*((f"番組{n:04d}", f"ばんぐみ{n:04d}") for n in range(5000)))


def _select(page: str, name: str) -> str:
    return re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)


def _options(select: str) -> list[tuple[str, str]]:
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


def test_pages_with_5000_programs_hold_one_program_option_at_most(editor_client, many_programs):
    chosen = many_programs[1234]
    pages = {
        "season add": (editor_client.get(SEASON_ADD), "program_id"),
        "season add with a program": (editor_client.get(SEASON_ADD, {"program": chosen.id}), "program_id"),
        "episode picker": (editor_client.get(f"{EPISODES}add/"), "program"),
        "episode list": (editor_client.get(EPISODES), "program"),
        "episode list of a program": (editor_client.get(EPISODES, {"program": chosen.id}), "program"),
    }
    for name, (response, field) in pages.items():
        assert response.status_code == 200, name
        page = response.content.decode()
        programs = [value for value, _text in _options(_select(page, field)) if value]
        assert len(programs) <= 1, name
        assert "番組0000" not in page and "番組4999" not in page, name
    assert _options(_select(pages["season add with a program"][0].content.decode(), "program_id")) == [
        (chosen.id, "番組1234")
    ]


def test_choices_and_search_over_5000_programs_cost_one_query(editor_client, many_programs, django_assert_num_queries):
    with django_assert_num_queries(1):
        choices = program_index.choices_search("", 1, 10_000)[0]
    assert len(choices) == 5000 and choices[0][1] == "番組0000" and choices[-1][1] == "番組4999"

    with CaptureQueriesContext(connection) as queries:
        response = search(editor_client, term="ばんぐみ12", page=2)
    assert [r["text"] for r in response.json()["results"]] == [f"番組12{n:02d}" for n in range(20, 40)]
    assert response.json()["pagination"] == {"more": True}
    assert len([q for q in queries.captured_queries if TABLE in q["sql"]]) == 1


def test_search_json_is_not_html_escaped_twice(editor_client):
    entries(("<b>Tom & Jerry</b>", ""))

    body = search(editor_client, term="tom").content.decode()
    assert json.loads(body)["results"][0]["text"] == "<b>Tom & Jerry</b>"
