"""Changelist pages cost one DynamoDB request for their items and one to count the whole list (programs: one
BatchGetItem, counted in SQL), and their links walk every item once, both ways."""

import html
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core import signing

from cms import domain, selectors, services
from cms.store.bulk import content_put_many
from cms.store.client import dynamodb_client
from cms.store.metering import requests_counted
from cms.store.models import EpisodeItem
from cms.store.tables import items_dump, items_load, tables_create, tables_truncate

from .conftest import ja, ja_plural, link_href, listed_titles

EPISODES = "/admin/cms/episode/"
SEASONS = "/admin/cms/season/"
PROGRAMS = "/admin/cms/program/"
PAGE = 50


def _now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture
def catalog(raw_dynamodb):
    """3 programs with 2 seasons of 23 episodes each (138 episodes an hour apart, every 5th one a draft, the first
    70 aired already), and 52 seasons more; the third program and the first one's second season are scheduled."""
    now = _now()
    base = now - timedelta(hours=69, minutes=30)
    programs, seasons, episodes = [], [], []
    for p in range(3):
        program = domain.Program(
            id=services.new_id(),
            slug=f"show-{p}",
            title=f"番組{p}",
            title_kana=f"ばんぐみ{p}",
            status="published",
            publish_at=now + timedelta(days=1) if p == 2 else None,
        )
        programs.append(program)
        for s in range(2):
            season = domain.Season(id=services.new_id(), program_id=program.id, title=f"第{s + 1}期", sort_order=s)
            if (p, s) == (0, 1):
                season.status, season.publish_at = "published", now + timedelta(days=2)
            seasons.append(season)
            for n in range(1, 24):
                index = len(episodes)
                episodes.append(
                    domain.Episode(
                        id=services.new_id(),
                        program_id=program.id,
                        season_id=season.id,
                        number=n,
                        title=f"第{n}話 {index:03d}",
                        duration_s=1440,
                        status="draft" if index % 5 == 0 else "published",
                        publish_at=base + timedelta(hours=index),
                    )
                )
    # A fourth program with 52 empty seasons, so that the season list has two pages.
    many = domain.Program(id=services.new_id(), slug="many-seasons", title="季節", title_kana="きせつ")
    programs.append(many)
    seasons += [
        domain.Season(id=services.new_id(), program_id=many.id, title=f"季節{s:02d}", sort_order=s) for s in range(52)
    ]
    content_put_many(programs, seasons, episodes)
    services.program_index_sync()
    return {"programs": programs, "seasons": seasons, "episodes": episodes}


def _scheduled(episodes) -> list:
    return [e for e in episodes if e.status == "published" and e.publish_at > _now()]


def _scheduled_search(episodes) -> list[str]:
    return sorted(e.title for e in _scheduled(episodes) if e.title.startswith("第2"))


def total_shown(response) -> str:
    """The list's total as the paginator shows it."""
    match = re.search(r'<span class="list-total">\((.*?)\)</span>', response.content.decode())
    return html.unescape(match.group(1)) if match else ""


def in_all(count: int) -> str:
    return ja_plural("%(count)s item in all", "%(count)s items in all", count, count=f"{count:,}")


def _get_counted(client, url: str, params: dict | None = None):
    with requests_counted() as counts:
        response = client.get(url, params or {})
    assert response.status_code == 200, (url, params, response.status_code)
    return response, counts


def _walk(client, url: str, params: dict) -> tuple[list[list[str]], list]:
    """Every page by its next links, then back by the previous links; the titles of each, what each cost, and the
    totals each showed."""
    forward, costs, totals = [], [], []
    response, counts = _get_counted(client, url, params)
    while True:
        forward.append(listed_titles(response))
        costs.append(counts)
        totals.append(total_shown(response))
        following = link_href(response, "next-page")
        if following is None:
            break
        assert len(forward) < 20, "paging does not end"
        response, counts = _get_counted(client, url + following)
    backward = [forward[-1]]
    while (previous := link_href(response, "prev-page")) is not None:
        response, counts = _get_counted(client, url + previous)
        backward.append(listed_titles(response))
        costs.append(counts)
        totals.append(total_shown(response))
        assert len(backward) <= len(forward), "previous links go past the first page"
    return forward, backward[::-1], costs, totals


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, lambda eps: [e.title for e in sorted(eps, key=lambda e: (e.program_id, e.season_id, e.number))]),
        ({"o": "airtime"}, lambda eps: [e.title for e in eps][::-1]),
        ({"status": "draft"}, lambda eps: [e.title for e in eps if e.status == "draft"]),
        ({"status": "published", "o": "airtime"}, lambda eps: [e.title for e in eps if e.status == "published"][::-1]),
        ({"q": "第1"}, lambda eps: sorted(e.title for e in eps if e.title.startswith("第1"))),
        ({"status": "scheduled"}, lambda eps: [e.title for e in _scheduled(eps)]),
        ({"status": "scheduled", "o": "airtime"}, lambda eps: [e.title for e in _scheduled(eps)]),
        ({"status": "scheduled", "q": "第2"}, _scheduled_search),
    ],
    ids=[
        "program order",
        "airtime",
        "drafts",
        "published by airtime",
        "search",
        "scheduled",
        "scheduled, airtime asked",
        "scheduled search",
    ],
)
def test_episode_pages_cost_one_query_and_a_count_and_cover_every_episode_once(
    editor_client, catalog, params, expected
):
    forward, backward, costs, totals = _walk(editor_client, EPISODES, params)

    titles = [title for page in forward for title in page]
    assert titles == expected(catalog["episodes"])
    assert [len(page) for page in forward[:-1]] == [PAGE] * (len(forward) - 1)
    assert backward == forward
    assert set(totals) == {in_all(len(titles))}
    for counts in costs:
        # One Query for the page's items, one Select=COUNT Query for the total.
        assert dict(counts) == {"Query": 2}, counts


def test_one_programs_episodes_and_seasons_cost_one_query(editor_client, catalog):
    program = catalog["programs"][1]
    response, counts = _get_counted(editor_client, EPISODES, {"program": program.id})

    ordered = sorted(catalog["episodes"], key=lambda e: (e.season_id, e.number))
    assert listed_titles(response) == [e.title for e in ordered if e.program_id == program.id]
    assert total_shown(response) == in_all(46)
    assert dict(counts) == {"Query": 2}

    response, counts = _get_counted(editor_client, SEASONS, {"program": program.id, "status": "draft"})
    assert listed_titles(response) == ["第1期", "第2期"]
    assert total_shown(response) == in_all(2)
    assert dict(counts) == {"Query": 2}


def test_one_programs_scheduled_episodes_and_seasons(editor_client, catalog):
    program = catalog["programs"][1]  # half of its episodes aired already
    response, counts = _get_counted(editor_client, EPISODES, {"program": program.id, "status": "scheduled"})

    ordered = sorted(_scheduled(catalog["episodes"]), key=lambda e: (e.season_id, e.number))
    expected = [e.title for e in ordered if e.program_id == program.id]
    assert 0 < len(expected) < 46
    assert listed_titles(response) == expected
    assert total_shown(response) == in_all(len(expected))
    assert dict(counts) == {"Query": 2}

    response, counts = _get_counted(editor_client, SEASONS, {"status": "scheduled"})
    assert listed_titles(response) == ["第2期"]
    assert total_shown(response) == in_all(1)
    assert dict(counts) == {"Query": 2}


def test_scheduled_episodes_say_they_are_soonest_first(editor_client, catalog):
    response = editor_client.get(EPISODES, {"status": "scheduled", "o": "program"})

    page = html.unescape(response.content.decode())
    assert ja("Scheduled episodes are listed by airtime, the next to go live first.") in page
    assert '<li class="selected"><a href="?status=scheduled' in page  # the filter shows as chosen
    assert ja("Scheduled (published, not yet live)") == "配信予定（公開済み・配信開始前）"


def test_season_pages_walk_both_ways(editor_client, catalog):
    forward, backward, costs, totals = _walk(editor_client, SEASONS, {})

    assert len(forward) == 2
    assert sorted(t for page in forward for t in page) == sorted(s.title for s in catalog["seasons"])
    assert backward == forward
    assert set(totals) == {in_all(len(catalog["seasons"]))}
    assert all(dict(counts) == {"Query": 2} for counts in costs), costs


def test_a_total_too_costly_to_count_says_at_least(editor_client, catalog, settings):
    settings.ADMIN_LIST_COUNT_MAX = 100

    response, counts = _get_counted(editor_client, EPISODES)

    assert total_shown(response) == ja("%(count)s or more in all", count="100")
    assert dict(counts) == {"Query": 2}
    response, counts = _get_counted(editor_client, EPISODES, {"status": "draft"})
    assert total_shown(response) == in_all(28)


def test_program_list_pages_cost_at_most_one_batch_get(editor_client, catalog):
    everything = ["季節", "番組0", "番組1", "番組2"]  # きせつ before ばんぐみ
    for params, titles in (
        ({}, everything),
        ({"o": "title"}, everything),
        ({"q": "ばんぐみ"}, everything[1:]),
        ({"q": "番組", "status": "published", "o": "title"}, everything[1:]),
        ({"status": "draft"}, ["季節"]),
        ({"status": "scheduled"}, ["番組2"]),
    ):
        response, counts = _get_counted(editor_client, PROGRAMS, params)

        assert listed_titles(response) == titles, params
        assert total_shown(response) == in_all(len(titles)), params  # counted in SQL
        assert dict(counts) == {"BatchGetItem": 1}, (params, counts)


def test_a_later_page_link_does_not_grow_with_the_pages_before_it(editor_client, catalog):
    response = editor_client.get(EPISODES)
    lengths = []
    while (following := link_href(response, "next-page")) is not None:
        lengths.append(len(following))
        response = editor_client.get(EPISODES + following)

    assert len(lengths) == 2
    assert max(lengths) - min(lengths) < 8, lengths


def _episode_raw(client, episode_id: str) -> dict:
    table = EpisodeItem.Meta.table_name
    return client.get_item(TableName=table, Key={"id": {"S": episode_id}}, ConsistentRead=True)["Item"]


def test_episodes_stored_before_the_status_indexes_are_keyed_when_the_indexes_are_added(private_dynamodb, db):
    program = services.program_create(user="seed", title="古い番組", slug="old-show", status="draft")
    season = services.season_create(user="seed", program_id=program.id, title="第1期", status="draft")
    old = services.episode_create(
        user="seed", program_id=program.id, season_id=season.id, number=1, title="古い回", duration_s=60, status="draft"
    )
    client, table = dynamodb_client(), EpisodeItem.Meta.table_name
    # The table as it was before: no status indexes, and episodes without their key.
    for index in ("by_status_order", "by_status_airtime", "by_status_title"):
        client.update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])
        # As on AWS, the table takes its next change once the index is gone.
        while index in {
            i["IndexName"] for i in client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
        }:
            time.sleep(0.2)
    client.update_item(TableName=table, Key={"id": {"S": old.id}}, UpdateExpression="REMOVE status_kind")
    version = _episode_raw(client, old.id)["version"]

    added = tables_create()

    assert sorted(added) == [f"{table}/by_status_airtime", f"{table}/by_status_order", f"{table}/by_status_title"]
    assert _episode_raw(client, old.id)["status_kind"] == {"S": "episode#draft"}
    assert _episode_raw(client, old.id)["version"] == version  # no open form turns stale
    for params in ({}, {"program_id": program.id}, {"order": "airtime"}, {"q": "古い"}):
        assert [e.id for e in selectors.episodes_page(status="draft", **params).items] == [old.id], params
        assert selectors.episodes_page(status="published", **params).items == [], params


def test_a_dump_made_before_the_status_indexes_loads_into_them(raw_dynamodb, db, tmp_path):
    program = services.program_create(user="seed", title="古い番組", slug="old-show", status="draft")
    season = services.season_create(user="seed", program_id=program.id, title="第1期", status="draft")
    old = services.episode_create(
        user="seed", program_id=program.id, season_id=season.id, number=1, title="古い回", duration_s=60, status="draft"
    )
    dump = io.StringIO()
    items_dump(dump)
    lines = [json.loads(line) for line in dump.getvalue().splitlines()]
    for line in lines:
        line["item"].pop("status_kind", None)
    tables_truncate()

    items_load(io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))

    assert [e.id for e in selectors.episodes_page(status="draft").items] == [old.id]


def test_a_link_made_for_another_index_is_refused_clearly(editor_client, catalog):
    # A status filter reads its own index: a position from the unfiltered list does not place an item there,
    # as with a link bookmarked before the status indexes existed.
    page = selectors.episodes_page(size=5)
    position = signing.loads(page.next_cursor, salt=selectors.CURSOR_SALT)["at"]
    query = {"q": "", "status": "draft", "program": "", "order": "program"}
    foreign = signing.dumps(
        {"q": selectors._query_id(query), "at": position, "back": False, "n": 2}, salt=selectors.CURSOR_SALT
    )

    response = editor_client.get(EPISODES, {"status": "draft", "cursor": foreign})

    assert response.status_code == 400  # and the first page of drafts instead
    assert len(listed_titles(response)) == len([e for e in catalog["episodes"] if e.status == "draft"])
