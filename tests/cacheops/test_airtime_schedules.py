"""Prewarm for an airtime: scheduled instants are prepared, diffed, staged like boundaries, cancelled, watched.

Time is set by replacing the operations' and the schedules' clocks, never waited for.
"""

import hashlib
import importlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from cacheops import clock
from cacheops.build import operations
from cacheops.keys import chunk_path
from cacheops.manifest import manifest_version_read
from cacheops.models import AirtimeSchedule, Family
from cacheops.read.reader import readers_stop
from cacheops.release import airtime, boundaries
from cms import services
from cms.broadcast import JST
from cms.domain import time_text
from tests.cacheops.conftest import reassemble, show_create, staff_client

EDGE_TOKEN = "edge-secret-token"
PAGE = "/admin/cacheops/airtime/"
SCHEDULE = "/admin/cacheops/airtime/schedule/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def language_restored():
    """LocaleMiddleware activates each request's language in this thread: put the default back."""
    with translation.override(django_settings.LANGUAGE_CODE):
        yield


@pytest.fixture
def cache(redis_engine, settings, dynamodb):
    """The engine on Redis with content in DynamoDB; yields plain access to this test's keys."""
    settings.CACHEOPS_EDGE_TOKEN = EDGE_TOKEN
    settings.CACHEOPS_EDGE_URL = ""
    readers_stop()
    yield redis_engine
    readers_stop()


@pytest.fixture
def at_time(monkeypatch):
    """Return a function setting the instant the cache engine takes as now."""

    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)

    return set_now


def ahead(**delta) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(**delta)


def finale_at(instant: datetime):
    """A published show whose finale is published at `instant`, built; return the show."""
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="最終話",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    return show


def staged(view) -> dict | None:
    return reassemble(view)[0]["staged"]


# -- scheduling --


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tonight", "is not a date and time like 2026-11-26 25:30"),
        ("2026-11-26 30:00", "is not a date and time like"),
        ("2101-01-01 00:00", "outside the broadcast window"),
        ("2001-01-01 23:45", "has already passed"),
    ],
)
def test_scheduling_refuses_garbage_the_past_and_the_window(text, message):
    with translation.override("en"), pytest.raises(airtime.ScheduleRefused, match=message):
        airtime.schedule_prewarm(airtime.at_parse(text), "ops")
    assert not AirtimeSchedule.objects.exists()


@pytest.mark.django_db
def test_beyond_the_window_is_refused_even_when_parsed_elsewhere():
    with translation.override("en"), pytest.raises(airtime.ScheduleRefused, match="beyond the broadcast window"):
        airtime.schedule_prewarm(datetime(2150, 1, 1, tzinfo=UTC), "ops")


def test_broadcast_notation_is_accepted():
    assert airtime.at_parse("2026-11-26 25:30") == datetime(2026, 11, 27, 1, 30, tzinfo=JST)


# -- preparing --


@pytest.mark.django_db
def test_preparing_writes_verified_chunks_and_the_diff_names_the_episode_of_that_instant(cache):
    instant = ahead(hours=2)
    finale_at(instant)
    schedule = airtime.schedule_prewarm(instant, "ops")  # the task runs inline (eager)
    schedule.refresh_from_db()

    assert schedule.result == AirtimeSchedule.PREPARED, schedule.detail
    copy = json.loads(cache.get(f"{cache.prefix}:catalog:manifest:{schedule.prepared_version}"))
    assert copy["as_of"] == time_text(instant) and len(copy["chunks"]) == schedule.chunk_count
    stream = b""
    for entry in copy["chunks"]:
        data = cache.get(entry["key"])
        assert data is not None and hashlib.sha256(data).hexdigest() == entry["sha256"]
        stream += data
    assert len(stream) == schedule.compressed_bytes
    episodes = schedule.changes["episodes"]
    assert episodes["added"]["count"] == 1
    [added] = episodes["added"]["items"]
    assert (added["title"], added["number"], added["program_title"]) == ("最終話", 2, "葬送のフリーレン")
    assert episodes["removed"]["count"] == episodes["changed"]["count"] == 0, schedule.changes
    assert schedule.changes["against"] == reassemble(cache)[0]["version"]
    assert staged(cache) is None  # two hours away: prepared, not staged


# -- staging --


@pytest.mark.django_db
def test_the_scheduled_instant_is_staged_when_near_and_done_at_activation(cache, at_time, settings):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    instant = ahead(hours=2)
    finale_at(instant)
    schedule = airtime.schedule_prewarm(instant, "ops")

    at_time(instant - timedelta(minutes=15))
    assert boundaries.airtime_due() == "idle"
    at_time(instant - timedelta(minutes=5))
    assert boundaries.airtime_due() == "staged"
    assert staged(cache)["activate_at"] == time_text(instant)
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.STAGED
    assert staged(cache)["version"] == schedule.prepared_version

    at_time(instant + timedelta(seconds=2))
    assert boundaries.airtime_due() == "published"
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.DONE and "recorded 2 s later" in schedule.detail


@pytest.mark.django_db
def test_a_scheduled_instant_with_no_content_boundary_is_staged_before_the_later_boundary(cache, at_time, settings):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    boundary = ahead(hours=2)
    finale_at(boundary)
    early = boundary - timedelta(minutes=5)
    airtime.schedule_prewarm(early, "ops")

    at_time(early - timedelta(minutes=4))
    assert airtime.unready() is None  # nothing changes at that instant: no alarm, though it is staged anyway
    assert boundaries.airtime_due() == "staged"
    assert airtime.unready() is None
    assert staged(cache)["activate_at"] == time_text(early)
    at_time(early + timedelta(seconds=1))
    assert boundaries.airtime_due() == "published"
    # The content boundary comes next, and is staged right after the activation.
    assert staged(cache)["activate_at"] == time_text(boundary)


@pytest.mark.django_db
def test_a_change_since_preparing_is_rebuilt_at_staging(cache, at_time, settings):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    instant = ahead(hours=2)
    show = finale_at(instant)
    schedule = airtime.schedule_prewarm(instant, "ops")
    schedule.refresh_from_db()
    first = schedule.prepared_version
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3, title="特別編",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0  # the rebuild stores the sources, the tick stages
    operations.catalog_rebuild(requested_by="test", full=True)
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600

    at_time(instant - timedelta(minutes=5))
    assert boundaries.airtime_due() == "staged"
    schedule.refresh_from_db()
    assert schedule.prepared_version != first
    assert staged(cache)["version"] == schedule.prepared_version
    assert {i["title"] for i in schedule.changes["episodes"]["added"]["items"]} == {"最終話", "特別編"}
    assert "re-built at staging" in schedule.detail


@pytest.mark.django_db
def test_a_cancelled_schedule_is_never_staged_and_a_staged_one_is_removed(cache, at_time, settings):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    boundary = ahead(hours=3)
    finale_at(boundary)
    first = airtime.schedule_prewarm(boundary - timedelta(hours=1), "ops")
    second = airtime.schedule_prewarm(boundary - timedelta(minutes=30), "ops")

    airtime.schedule_cancel(first.id, "ops")
    at_time(first.at - timedelta(minutes=5))
    assert boundaries.airtime_due() == "idle"
    assert staged(cache) is None

    at_time(second.at - timedelta(minutes=5))
    assert boundaries.airtime_due() == "staged"
    assert staged(cache)["activate_at"] == time_text(second.at)
    airtime.schedule_cancel(second.id, "ops")  # queues the tick, which runs inline here
    assert staged(cache) is None
    assert Family.objects.get(name="catalog").staged_version == ""
    assert boundaries.airtime_due() == "idle"
    assert set(AirtimeSchedule.objects.values_list("result", flat=True)) == {AirtimeSchedule.CANCELLED}


# -- readiness --


@pytest.mark.django_db
def test_a_near_boundary_without_a_staged_version_is_reported_on_the_console_and_metrics(
    cache, at_time, settings, client, api_client
):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 0  # the build stages nothing
    instant = ahead(hours=2)
    finale_at(instant)
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    at_time(instant - timedelta(minutes=4))
    staff_client(client, "Ops")

    assert airtime.unready() == instant
    page = client.get("/admin/cacheops/", **EN).content.decode()
    assert 'id="airtime-unready"' in page and "Not ready for airtime" in page
    assert 'airtime_airtime_unready{reason="unstaged"} 1.0' in api_client.get("/metrics").content.decode()

    assert boundaries.airtime_due() == "staged"
    assert airtime.unready() is None
    page = client.get("/admin/cacheops/", **EN).content.decode()
    assert 'id="airtime-unready"' not in page
    staged = Family.objects.get(name="catalog").staged_version
    card = page.split('id="catalog-card"', 1)[1].split("</section>", 1)[0]
    assert staged and f"<code>{staged}</code>" in card  # the catalog's card names the staged version and its instant
    assert 'airtime_airtime_unready{reason="unstaged"} 0.0' in api_client.get("/metrics").content.decode()


# -- commands --


@pytest.mark.django_db
def test_prewarm_at_accepts_broadcast_notation_and_prints_the_diff(cache, capsys):
    tomorrow = (datetime.now(JST) + timedelta(days=1)).date()
    instant = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=JST) + timedelta(days=1, hours=1, minutes=30)
    finale_at(instant)
    with translation.override("en"):
        call_command("prewarm", "--at", f"{tomorrow:%Y-%m-%d} 25:30")
    out = capsys.readouterr().out
    schedule = AirtimeSchedule.objects.get()
    assert schedule.at == instant and schedule.result == AirtimeSchedule.PREPARED
    assert schedule.prepared_version in out and "+ 葬送のフリーレン 最終話" in out
    assert f"Airtime {instant.astimezone(JST):%Y-%m-%d %H:%M} JST prepared (schedule {schedule.id}): " in out


@pytest.mark.django_db
def test_rebuild_catalog_with_a_future_as_of_schedules_it(cache, capsys):
    instant = ahead(hours=5)
    finale_at(instant)
    with translation.override("en"):
        call_command("rebuild_catalog", "--as-of", time_text(instant), "--sync")
    schedule = AirtimeSchedule.objects.get()
    assert schedule.at == instant and schedule.result == AirtimeSchedule.PREPARED
    assert "prepared" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("prewarm", ["--at", "tomorrow"], "CommandError: --at 'tomorrow' refused: "),
        ("prewarm", ["--at", "2001-01-01 25:30"], "CommandError: --at '2001-01-01 25:30' refused: "),
        (
            "rebuild_catalog",
            ["--as-of", "2150-01-01T00:00:00Z"],
            "CommandError: --as-of '2150-01-01T00:00:00Z' refused",
        ),
    ],
)
def test_bad_airtimes_exit_non_zero_with_one_line(cache, capsys, command, args, message):
    module = importlib.import_module(f"cacheops.management.commands.{command}")
    with translation.override("en"), pytest.raises(SystemExit) as exit_:
        module.Command().run_from_argv(["manage.py", command, *args])
    err = capsys.readouterr().err
    assert exit_.value.code != 0
    [line] = err.splitlines()
    assert line.startswith(message), line


# -- edge warming --


def test_edge_warming_fetches_each_prepared_chunk_through_the_api(cache, settings, live_server, client, api_client):
    settings.CACHEOPS_EDGE_URL = live_server.url
    settings.CACHEOPS_CHUNK_BYTES = 200  # several chunks
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    instant = ahead(hours=2)
    finale_at(instant)
    schedule = airtime.schedule_prewarm(instant, "ops")
    schedule.refresh_from_db()

    assert schedule.chunk_count > 1
    assert [entry["index"] for entry in schedule.edge] == list(range(schedule.chunk_count))
    assert all(entry["ok"] and entry["status"] == 200 for entry in schedule.edge), schedule.edge
    # Embargoed: without the edge token the prepared version is nobody's.
    prepared = manifest_version_read("catalog", schedule.prepared_version)
    assert api_client.get(chunk_path(schedule.prepared_version, prepared["chunks"][0])).status_code == 404

    staff_client(client, "Ops")
    page = client.get(PAGE, **EN).content.decode()
    assert f"{schedule.chunk_count} of {schedule.chunk_count} chunks warmed" in page


# -- the console page --


@pytest.mark.django_db
def test_editors_cannot_schedule_ops_can_and_see_countdown_and_diff(cache, client):
    instant = ahead(hours=2)
    finale_at(instant)
    text = instant.astimezone(JST).strftime("%Y-%m-%d %H:%M")

    staff_client(client, "Editors")
    assert client.post(SCHEDULE, {"at": text}).status_code == 403
    assert 'id="airtime-form"' not in client.get(PAGE).content.decode()
    assert not AirtimeSchedule.objects.exists()

    client.logout()
    ops = User.objects.create_user("ops", is_staff=True)
    ops.groups.add(Group.objects.get(name="Ops"))
    client.force_login(ops)
    response = client.post(SCHEDULE, {"at": text}, **EN)
    assert response.status_code == 302
    schedule = AirtimeSchedule.objects.get()
    page = client.get(PAGE, **EN).content.decode()
    assert 'class="ttl-left airtime-countdown" data-ttl-seconds="' in page
    assert "最終話" in page and schedule.prepared_version in page
    assert "<script>" not in page and "style=" not in page

    response = client.post(f"/admin/cacheops/airtime/{schedule.id}/cancel/", **EN)
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.CANCELLED and schedule.cancelled_by == "ops"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "This field is required."),
        ("soon", "Enter a date and time like"),
        ("2001-01-01 25:30", "has already passed"),
    ],
)
def test_form_errors_name_the_field(cache, client, text, message):
    staff_client(client, "Ops")
    response = client.post(SCHEDULE, {"at": text}, **EN)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Airtime (JST): " in page and message in page.split("Airtime (JST): ", 1)[1][:300]


@pytest.mark.django_db
def test_scheduling_needs_csrf(cache):
    client = staff_client(Client(enforce_csrf_checks=True), "Ops")
    assert client.post(SCHEDULE, {"at": "2099-01-01 25:30"}).status_code == 403
    assert not AirtimeSchedule.objects.exists()


@pytest.mark.django_db
def test_a_schedule_is_prepared_from_the_store_again_after_a_save_and_a_save_after_T_does_not_mark_it_missed(
    cache, at_time, settings
):
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    instant = ahead(hours=1)
    episode = services.episode_create(
        user="eri", program_id=show.program.id, season_id=show.season.id, number=2, title="最終話",
        duration_s=1440, status="published", publish_at=instant,
    )  # fmt: skip
    # Saved after the last build: the preparation reads the store itself, so the diff has the new episode.
    schedule = airtime.schedule_prewarm(instant, "ops")
    schedule.refresh_from_db()
    assert [e["title"] for e in schedule.changes["episodes"]["added"]["items"]] == ["最終話"]

    services.episode_update(episode_id=episode.id, version=episode.version, user="eri", title="最終話 旅の終わり")
    operations.catalog_rebuild(requested_by="test", full=True)  # the save's build prepares the schedule again
    schedule.refresh_from_db()
    assert [e["title"] for e in schedule.changes["episodes"]["added"]["items"]] == ["最終話 旅の終わり"]

    # No worker staged it; just after T an editor's save is built (as of after T), before the beat's tick.
    at_time(instant + timedelta(seconds=3))
    operations.catalog_rebuild(requested_by="test", full=True)
    boundaries.airtime_due()
    schedule.refresh_from_db()
    assert schedule.result == AirtimeSchedule.DONE, schedule.detail
