"""The instants ahead at which published content changes by itself: listed on the airtime page, prepared to the second.

The engine's clock (cacheops.clock) is set where a test needs an instant to have passed, never waited for.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

from cacheops import clock
from cacheops.build import operations
from cacheops.build.snapshot import instants_ahead, next_boundary
from cacheops.models import AirtimeSchedule
from cacheops.read.reader import readers_stop
from cacheops.release import airtime
from cms import services
from cms.broadcast import JST
from cms.domain import time_text
from tests.cacheops.conftest import show_create, staff_client

PAGE = "/admin/cacheops/airtime/"
PREPARE = "/admin/cacheops/airtime/prepare/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NOW = datetime(2031, 4, 12, 12, 0, tzinfo=UTC)
# Tonight's finale, a quarter minute past 25:30 on the broadcast day of the 12th: far from the day the suite runs.
FINALE = datetime(2031, 4, 13, 1, 30, 15, tzinfo=JST)


@pytest.fixture(autouse=True)
def language_restored():
    """LocaleMiddleware activates each request's language in this thread: put the default back."""
    with translation.override(django_settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def cache(redis_engine, settings, dynamodb):
    """The engine on Redis with content in DynamoDB, nothing staged ahead and no edge to warm."""
    settings.CACHEOPS_EDGE_URL = ""
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0
    readers_stop()
    yield redis_engine
    readers_stop()


@pytest.fixture
def at_time(monkeypatch):
    """Return a function setting the instant the cache engine takes as now."""
    return lambda moment: monkeypatch.setattr(clock, "now", lambda: moment)


# -- instants_ahead, on sources as sources_build writes them --


def node(id_: str, title: str, status: str = "published", publish_at=None, expire_at=None, **more) -> dict:
    return {"id": id_, "title": title, "status": status, "publish_at": publish_at, "expire_at": expire_at, **more}


def program(id_: str, title: str, seasons=(), **fields) -> dict:
    return node(id_, title, seasons={s["id"]: s for s in seasons}, sort_order=0, **fields)


def season(id_: str, title: str, episodes=(), **fields) -> dict:
    return node(id_, title, episodes=list(episodes), sort_order=0, **fields)


def episode(id_: str, number: int, title: str, **fields) -> dict:
    return node(id_, title, number=number, **fields)


def at(hours: float) -> str:
    return time_text(NOW + timedelta(hours=hours))


def changes_at(found, hours: float) -> list[tuple[str, str, str]]:
    [entries] = [entries for instant, entries in found if instant == NOW + timedelta(hours=hours)]
    return [(e["change"], e["kind"], e["title"]) for e in entries]


def test_drafts_and_anything_under_a_draft_are_ignored():
    sources = [
        program("p1", "葬送のフリーレン", [
            season("s1", "第1期", [
                episode("e1", 1, "旅立ち", publish_at=at(1)),
                episode("e2", 2, "下書きの回", status="draft", publish_at=at(2)),
            ]),
            season("s2", "第2期", [episode("e3", 1, "下書きの期の回", publish_at=at(3))],
                   status="draft", expire_at=at(4)),
        ]),
        program("p2", "下書きの番組", [season("s3", "第1期", [episode("e4", 1, "回", publish_at=at(5))])],
                status="draft", publish_at=at(6)),
    ]  # fmt: skip

    found = instants_ahead(sources, NOW)

    assert [instant for instant, _ in found] == [NOW + timedelta(hours=1)]
    assert changes_at(found, 1) == [("publish", "episode", "旅立ち")]
    [entry] = found[0][1]
    assert entry == {
        "change": "publish", "kind": "episode", "id": "e1", "program_id": "p1", "program_title": "葬送のフリーレン",
        "season_title": "第1期", "title": "旅立ち", "number": 1,
    }  # fmt: skip
    assert next_boundary(sources, NOW) == at(1)


def test_times_at_or_before_now_are_ignored():
    sources = [
        program("p1", "呪術廻戦", [season("s1", "第1期", [
            episode("e1", 1, "両面宿儺", publish_at=at(-1), expire_at=at(0)),
            episode("e2", 2, "自分のために", publish_at=at(-2), expire_at=at(2)),
        ])], publish_at=at(-5)),
    ]  # fmt: skip

    found = instants_ahead(sources, NOW)

    assert [instant for instant, _ in found] == [NOW + timedelta(hours=2)]
    assert changes_at(found, 2) == [("expire", "episode", "自分のために")]
    assert instants_ahead(sources, NOW + timedelta(hours=2)) == []
    assert next_boundary(sources, NOW + timedelta(hours=2)) is None


def test_changes_at_one_instant_are_grouped_and_the_earliest_instants_kept_up_to_the_limit():
    sources = [
        program("p1", "ワンピース", [season("s1", "第1期", [
            episode(f"e{n}", n, f"第{n}話", publish_at=at(n), expire_at=at(n + 1)) for n in range(1, 15)
        ], expire_at=at(3))], publish_at=at(3)),
        program("p2", "SPY×FAMILY", [], expire_at=at(3)),
    ]  # fmt: skip

    found = instants_ahead(sources, NOW)

    assert [instant for instant, _ in found] == [NOW + timedelta(hours=h) for h in range(1, 11)]
    assert changes_at(found, 1) == [("publish", "episode", "第1話")]
    # Everything at one instant, in one entry: by program title, the program before its season and episodes.
    assert changes_at(found, 3) == [
        ("expire", "program", "SPY×FAMILY"),
        ("publish", "program", "ワンピース"),
        ("expire", "season", "第1期"),
        ("expire", "episode", "第2話"),
        ("publish", "episode", "第3話"),
    ]
    assert instants_ahead(sources, NOW, limit=3) == found[:3]
    assert next_boundary(sources, NOW) == time_text(found[0][0])


# -- the airtime page --


@pytest.fixture
def finale(cache, at_time) -> datetime:
    """Two hours before FINALE: a published show whose finale starts then, another show that ends an hour later, a
    draft episode in between; built, so that their sources are stored. Return FINALE."""
    at_time(FINALE - timedelta(hours=2))
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="最終話",
        duration_s=1440, status="published", publish_at=FINALE,
    )  # fmt: skip
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3, title="未公開の回",
        duration_s=1440, status="draft", publish_at=FINALE + timedelta(minutes=30),
    )  # fmt: skip
    show_create("呪術廻戦", "jujutsu", ["両面宿儺"], expire_at=FINALE + timedelta(hours=1))
    operations.catalog_rebuild(requested_by="test", full=True)
    return FINALE


def instant_rows(page: str) -> list[tuple[str, str]]:
    """(data-instant, row text without tags) for each content instant the page lists."""
    part = page.split('id="airtime-instants"', 1)[1].split('id="airtime-upcoming"', 1)[0]
    rows = re.findall(r'<tr class="instant-row" data-instant="([^"]+)">(.*?)</tr>', part, re.S)
    return [(value, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row)).strip()) for value, row in rows]


@pytest.mark.django_db
def test_the_page_lists_the_instants_ahead_in_jst_with_titles_and_countdowns(finale, client):
    staff_client(client, "Ops")

    page = client.get(PAGE, **EN).content.decode()

    [(first, first_text), (second, second_text)] = instant_rows(page)
    assert (first, second) == (time_text(finale), time_text(finale + timedelta(hours=1)))
    assert first_text == (
        "2031-04-13 01:30:15 JST (2031-04-12 25:30:15) 2031-04-12 16:30:15 UTC 2:00:00 "
        "starts: 葬送のフリーレン — 葬送のフリーレン 第1期 — Episode 2 最終話 Prepare"
    )
    assert "未公開の回" not in page  # a draft changes nothing
    assert (
        second_text
        == "2031-04-13 02:30:15 JST (2031-04-12 26:30:15) 2031-04-12 17:30:15 UTC 3:00:00 ends: 呪術廻戦 Prepare"
    )
    assert f'data-ttl-seconds="{2 * 3600}" data-ttl-expired="on air"' in page
    assert "<script>" not in page and "style=" not in page

    japanese = client.get(PAGE).content.decode()
    assert "今後のコンテンツの切り替わり" in japanese and "配信開始" in japanese and "第2話 最終話" in japanese
    assert 'data-ttl-expired="放送開始済み"' in japanese and "2031-04-13 01:30:15 JST" in japanese


@pytest.mark.django_db
def test_prepare_schedules_exactly_that_instant_and_counts_down_to_on_air(finale, client):
    staff_client(client, "Ops")
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(User.objects.get(username="eri"))
    assert checked.post(PREPARE, {"at": time_text(finale)}).status_code == 403  # no CSRF token
    assert client.get(PREPARE, {"at": time_text(finale)}).status_code == 405

    response = client.post(PREPARE, {"at": time_text(finale)}, **EN)

    assert response.status_code == 302 and response.url == PAGE
    schedule = AirtimeSchedule.objects.get()
    assert schedule.at == finale and schedule.created_by == "eri"
    assert schedule.result == AirtimeSchedule.PREPARED, schedule.detail
    page = client.get(PAGE, **EN).content.decode()
    assert "Prewarm for 2031-04-13 01:30:15 JST scheduled." in page
    first = instant_rows(page)[0][1]
    assert "Scheduled" in first and "Prepare" not in first
    upcoming = page.split('id="airtime-upcoming"', 1)[1]
    assert 'class="ttl-left airtime-countdown" data-ttl-seconds="' in upcoming
    assert 'data-ttl-expired="on air"' in upcoming
    assert (
        '<span class="jst">2031-04-13 01:30:15 JST</span> <span class="broadcast-day">(2031-04-12 25:30:15)</span>'
        in (upcoming)
    )

    again = client.post(PREPARE, {"at": time_text(finale)}, **EN)
    assert again.status_code == 400
    assert "is already scheduled" in errors(again)
    assert AirtimeSchedule.objects.count() == 1


def errors(response) -> str:
    page = response.content.decode()
    assert 'id="airtime-prepare-errors"' in page
    return page.split('id="airtime-prepare-errors"', 1)[1].split("</ul>", 1)[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "This field is required."),
        ("", "This field is required."),
        ("tonight", "“tonight” is not an instant like 2026-11-26T14:45:00Z (ISO 8601, UTC)."),
        ("{instant}x", "is not an instant like"),
        (" {instant}", "is not an instant like"),
        ("{instant_offset}", "is not an instant like"),
        ("{instant_minutes}", "is not an instant like"),
        ("２０３１-04-12T23:45:00Z", "is not an instant like"),
        ("2031-02-30T12:00:00Z", "“2031-02-30T12:00:00Z” is not an instant like"),
        ("2031-04-12T24:00:00Z", "is not an instant like"),
        ("9" * 5000, "Ensure this value has at most 40 characters (it has 5000)."),
        ("2031-04-12T23:45:00Z\x00", "Null characters are not allowed."),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z is outside the broadcast window (2000-2100)."),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z is outside the broadcast window (2000-2100)."),
        ("2001-01-01T00:00:00Z", "has already passed"),
        ("{unlisted}", "No published content starts or ends at {unlisted_jst} JST; reload the page"),
    ],
)
def test_tampered_garbage_and_unlisted_values_are_refused_with_the_reason(finale, client, value, message):
    staff_client(client, "Ops")
    unlisted = finale + timedelta(seconds=1)
    fills = {"instant": time_text(finale), "instant_offset": finale.isoformat(), "unlisted": time_text(unlisted)}
    fills |= {
        "instant_minutes": f"{finale.astimezone(UTC):%Y-%m-%dT%H:%MZ}",
        "unlisted_jst": f"{unlisted.astimezone(JST):%F %T}",
    }

    response = client.post(PREPARE, {} if value is None else {"at": value.format(**fills)}, **EN)

    assert response.status_code == 400
    assert message.format(**fills) in errors(response).replace("&#x27;", "'")
    assert not AirtimeSchedule.objects.exists()
    assert len(instant_rows(response.content.decode())) == 2  # the page, with the instants to choose from


@pytest.mark.django_db
def test_an_instant_that_passed_since_the_page_was_shown_is_refused(finale, client, at_time):
    staff_client(client, "Ops")
    assert instant_rows(client.get(PAGE, **EN).content.decode())[0][0] == time_text(finale)

    at_time(finale + timedelta(seconds=1))
    response = client.post(PREPARE, {"at": time_text(finale)}, **EN)

    assert response.status_code == 400
    assert "2031-04-13 01:30 JST has already passed (now 2031-04-13 01:30 JST)" in errors(response)
    assert not AirtimeSchedule.objects.exists()
    assert time_text(finale) not in [value for value, _ in instant_rows(response.content.decode())]


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Editors", "Viewers"])
def test_without_the_prewarm_permission_there_is_no_button_and_posting_is_forbidden(finale, client, group):
    staff_client(client, group)

    page = client.get(PAGE, **EN).content.decode()

    assert [value for value, _ in instant_rows(page)] == [time_text(finale), time_text(finale + timedelta(hours=1))]
    assert "instant-prepare" not in page and "/admin/cacheops/airtime/prepare/" not in page
    assert client.post(PREPARE, {"at": time_text(finale)}).status_code == 403
    assert not AirtimeSchedule.objects.exists()


@pytest.mark.django_db
def test_with_no_build_yet_nothing_changes_ahead_and_a_schedule_whose_instant_came_shows_on_air(cache, client):
    schedule = airtime.schedule_prewarm(datetime.now(UTC) + timedelta(hours=1), "ops", send=False)
    # Its instant came a minute ago; the airtime tick has not recorded the activation yet.
    AirtimeSchedule.objects.filter(id=schedule.id).update(at=datetime.now(UTC) - timedelta(minutes=1))
    staff_client(client, "Ops")

    page = client.get(PAGE, **EN).content.decode()

    upcoming = page.split('id="airtime-upcoming"', 1)[1]
    assert 'data-ttl-seconds="0" data-ttl-expired="on air">on air</span>' in upcoming
    assert instant_rows(page) == [] and "No published content starts or ends ahead." in page
