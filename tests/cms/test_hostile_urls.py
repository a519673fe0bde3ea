"""Hostile URLs (odd ids, huge searches, unknown filters, forged cursors) get a 4xx or a page, never a 500."""

import uuid
from urllib.parse import quote

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from pynamodb.connection.base import Connection

from cms import domain, selectors, services
from tests.cms.conftest import ja, listed_titles, page_text

KINDS = ("program", "season", "episode")
LONG = "A" * 5000
# Ids that cannot name an item: none of them may reach DynamoDB (AWS refuses hash keys over 2048 bytes).
WELL_FORMED = "01JBCDEFGHJKMNPQRSTVWXYZ00"  # the shape of a ULID; no item has it
MALFORMED_IDS = {
    "5000 chars": LONG,
    "27 chars": WELL_FORMED + "1",
    "NUL byte": WELL_FORMED[:-1] + "%00",
    "dot dot slash": "..%2F..%2F..%2Fetc%2Fpasswd",
    "plain dot dot": "..",
    "kanji": quote("鬼滅の刃"),
    "right-to-left override": quote(WELL_FORMED[:13] + "\u202e" + WELL_FORMED[13:]),
    "emoji": quote("🎬" * 26),
    "letters outside Crockford": "01" + "I" * 24,
    "lower-case ULID": WELL_FORMED.lower(),
    "uuid without dashes": uuid.uuid4().hex,
}
FILTER_REFUSED = "That link asks for a filter or order this list does not have; it was left out."
SEARCH_CUT = "Searches look at the first %(max)d characters only."
BAD_CURSOR = "That page link is invalid or out of date; showing the first page."


@pytest.fixture
def dynamodb_calls(monkeypatch):
    """Every request the app makes to DynamoDB during the test, as (operation, parameters)."""
    calls = []
    original = Connection._make_api_call

    def spy(self, operation_name, operation_kwargs):
        calls.append((operation_name, operation_kwargs))
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", spy)
    return calls


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def longest_sent(calls) -> int:
    """Bytes of the longest string sent to DynamoDB (AWS refuses keys over 2048 and sort keys over 1024)."""
    return max((len(s.encode()) for _op, kwargs in calls for s in _strings(kwargs)), default=0)


def assert_no_crash(response, expected: int):
    assert response.status_code == expected, response.status_code
    assert "Traceback" not in page_text(response)


# Ids in URLs


def test_id_shape_is_a_ulid_or_a_uuid4():
    assert domain.id_valid(WELL_FORMED)
    assert domain.id_valid(services.new_id())
    assert domain.id_valid(str(uuid.uuid4()))
    assert not domain.id_valid(str(uuid.uuid1()))
    assert not domain.id_valid(WELL_FORMED + "\n")
    assert not domain.id_valid("8" + WELL_FORMED[1:])  # beyond the largest ULID
    for name, value in MALFORMED_IDS.items():
        assert not domain.id_valid(value), name


@pytest.mark.parametrize("view", ("change", "delete", "history"))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", MALFORMED_IDS)
def test_malformed_id_is_404_without_asking_dynamodb(editor_client, tree, dynamodb_calls, kind, view, name):
    response = editor_client.get(f"/admin/cms/{kind}/{MALFORMED_IDS[name]}/{view}/")

    assert_no_crash(response, 404)
    assert [op for op, _kwargs in dynamodb_calls if op in ("GetItem", "Query", "BatchGetItem")] == []


@pytest.mark.parametrize("view", ("change", "delete", "history"))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("new_id", (services.new_id, lambda: str(uuid.uuid4())), ids=("ULID", "uuid4"))
def test_well_formed_unknown_id_is_404(editor_client, tree, dynamodb_calls, kind, view, new_id):
    response = editor_client.get(f"/admin/cms/{kind}/{new_id()}/{view}/")

    assert_no_crash(response, 404)
    assert "GetItem" in [op for op, _kwargs in dynamodb_calls]


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_id_without_a_view_redirects_then_404(editor_client, tree, kind):
    response = editor_client.get(f"/admin/cms/{kind}/{LONG}/", follow=True)

    assert_no_crash(response, 404)


@pytest.mark.parametrize("kind", KINDS)
def test_view_on_site_link_is_404(editor_client, tree, kind):
    content_type = ContentType.objects.get(app_label="cms", model=kind)

    for object_id in (getattr(tree, kind).id, LONG, "x"):
        response = editor_client.get(reverse("admin:view_on_site", args=[content_type.id, object_id]))

        assert_no_crash(response, 404)


def test_malformed_ids_in_a_write_change_nothing(editor_client, tree, raw_dynamodb):
    before = raw_dynamodb.snapshot()

    for kind in KINDS:
        for view in ("change", "delete"):
            response = editor_client.post(f"/admin/cms/{kind}/{LONG}/{view}/", {"title": "x", "version": "1"})

            assert_no_crash(response, 404)
    assert raw_dynamodb.snapshot() == before


# The changelist's query string

LIST_CASES = {
    # name: (kind, query, status, messages shown)
    "search of 5000 chars": ("program", {"q": "あ" * 5000}, 400, [(SEARCH_CUT, {"max": 100})]),
    "search of 5000 chars, seasons": ("season", {"q": LONG}, 400, [(SEARCH_CUT, {"max": 100})]),
    "search of 5000 chars, episodes": ("episode", {"q": LONG}, 400, [(SEARCH_CUT, {"max": 100})]),
    "search that NFKC lengthens": ("program", {"q": "\ufdfa" * 100}, 200, []),
    "search of 100 chars": ("episode", {"q": "x" * 100}, 200, []),
    "search with NUL": ("program", {"q": "鬼\x00"}, 200, []),
    "search with bidi override": ("season", {"q": "\u202e竈門"}, 200, []),
    "unknown order": ("program", {"o": "-title"}, 400, [(FILTER_REFUSED, {})]),
    "order of 5000 chars": ("episode", {"o": LONG}, 400, [(FILTER_REFUSED, {})]),
    "order on a list without orders": ("season", {"o": "title"}, 400, [(FILTER_REFUSED, {})]),
    "unknown status": ("program", {"status": "archived"}, 400, [(FILTER_REFUSED, {})]),
    "status of 5000 chars": ("episode", {"status": LONG}, 400, [(FILTER_REFUSED, {})]),
    "unknown genre": ("program", {"genre": "horror"}, 400, [(FILTER_REFUSED, {})]),
    "genre on a list without genres": ("episode", {"genre": "anime"}, 400, [(FILTER_REFUSED, {})]),
    "program that is not an id": ("episode", {"program": "../../etc"}, 400, [(FILTER_REFUSED, {})]),
    "program of 5000 chars": ("season", {"program": LONG}, 400, [(FILTER_REFUSED, {})]),
    "unknown program": ("episode", {"program": services.new_id()}, 400, [(FILTER_REFUSED, {})]),
    "program on the programs list": ("program", {"program": LONG}, 400, [(FILTER_REFUSED, {})]),
    "garbage cursor": ("program", {"cursor": "garbage"}, 400, [(BAD_CURSOR, {})]),
    "cursor of 5000 chars": ("season", {"cursor": LONG}, 400, [(BAD_CURSOR, {})]),
    "cursor with NUL": ("episode", {"cursor": "abc\x00:def"}, 400, [(BAD_CURSOR, {})]),
    "everything at once": (
        "episode",
        {"q": LONG, "o": LONG, "status": LONG, "program": LONG, "cursor": LONG},
        400,
        [(SEARCH_CUT, {"max": 100}), (FILTER_REFUSED, {}), (BAD_CURSOR, {})],
    ),
}


@pytest.mark.parametrize("name", LIST_CASES)
def test_hostile_list_query_answers_the_list(editor_client, tree, dynamodb_calls, name):
    kind, query, status, shown = LIST_CASES[name]

    response = editor_client.get(f"/admin/cms/{kind}/", query)

    assert_no_crash(response, status)
    page = page_text(response)
    for message, values in shown:
        assert ja(message, **values) in page
    assert '<table id="result_list">' in page
    assert longest_sent(dynamodb_calls) <= 1024
    # Nothing refused is echoed back into the search box or the filter and paging links.
    assert LONG not in page and "あ" * 101 not in page


@pytest.mark.parametrize("kind", KINDS)
def test_refused_filters_fall_back_to_the_whole_list(editor_client, tree, kind):
    plain = listed_titles(editor_client.get(f"/admin/cms/{kind}/"))

    refused = editor_client.get(f"/admin/cms/{kind}/", {"status": "archived", "o": "nope", "program": "x"})

    assert refused.status_code == 400
    assert listed_titles(refused) == plain == [getattr(tree, kind).title]


def test_known_filters_are_still_accepted(editor_client, tree):
    for kind, query in (
        ("program", {"status": "draft", "genre": "anime", "o": "title"}),
        ("season", {"status": "draft", "program": tree.program.id}),
        ("episode", {"status": "draft", "program": tree.program.id, "o": "airtime"}),
    ):
        response = editor_client.get(f"/admin/cms/{kind}/", query)

        assert response.status_code == 200, kind
        assert listed_titles(response) == [getattr(tree, kind).title]


def test_long_search_is_cut_to_its_first_100_characters(editor_client, raw_dynamodb):
    title = "進" * 100 + "撃"
    services.program_create(user="seed", title=title, slug="long-title", status="draft")

    response = editor_client.get("/admin/cms/program/", {"q": title + "の巨人" * 1000})

    assert response.status_code == 400
    assert listed_titles(response) == [title]
    assert f'value="{"進" * 100}"' in response.content.decode()


def test_cursor_from_another_list_is_refused(editor_client, tree):
    for number in (2, 3):
        services.episode_create(
            user="seed",
            program_id=tree.program.id,
            season_id=tree.season.id,
            number=number,
            title=f"{number}",
            duration_s=60,
        )
    cursor = selectors.episodes_page(size=1).next_cursor

    for kind in ("program", "season"):
        response = editor_client.get(f"/admin/cms/{kind}/", {"cursor": cursor})

        assert_no_crash(response, 400)
        assert ja(BAD_CURSOR) in page_text(response)
        assert listed_titles(response) == [getattr(tree, kind).title]


# The add views' program parameter


@pytest.mark.parametrize("program", (LONG, "../x", "鬼滅", WELL_FORMED[:-1] + "\x00"))
def test_episode_add_with_a_malformed_program_asks_for_one(editor_client, tree, dynamodb_calls, program):
    response = editor_client.get("/admin/cms/episode/add/", {"program": program})

    assert_no_crash(response, 200)
    assert 'name="program"' in response.content.decode()  # the program picker
    assert longest_sent(dynamodb_calls) <= 1024


def test_season_add_with_a_malformed_program_shows_the_form(editor_client, tree, dynamodb_calls):
    response = editor_client.get("/admin/cms/season/add/", {"program": LONG})

    assert_no_crash(response, 200)
    assert longest_sent(dynamodb_calls) <= 1024
