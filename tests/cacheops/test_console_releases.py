"""What ops do to a release from the console, and what they see: rollback with its confirmation page, the pin
banner, resume, purge (its typed name, its 410s), a version held back after a purge, refusals, the CDN."""

import re
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation

from cacheops import keys
from cacheops.backends import backend_reset
from cacheops.build.lock import Holder
from cacheops.manifest import manifest_read
from cacheops.models import AirtimeSchedule, ConsoleTask, Family, Operation
from cacheops.read.reader import readers_stop
from cacheops.release import release_actions
from cacheops.release import versions as recorded
from cms.broadcast import clock_format, jst_utc_format, utc_format
from cms.domain import time_parse, time_text
from cms.store.local import free_port
from tests.cacheops.conftest import catalog_published_twice, wait_for
from tests.cacheops.test_console import EN, OVERVIEW, family_create, family_url, language_restored  # noqa: F401
from tests.cacheops.test_console_actions import action_url, logged_in
from tests.cms.test_csp import refused_by_policy

ROLLBACK = action_url("catalog", "rollback")
REASON = "第2話の配信開始が早すぎた"


@pytest.fixture
def versions(redis_engine, dynamodb):
    """The catalog published twice, for real in Redis: v1 with one episode, then v2 with a second one added."""
    return catalog_published_twice()


def text(response) -> str:
    """The page's text without tags, its whitespace folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def section(response, element_id: str) -> str:
    """The text of the element of id `element_id` (up to the next module), whitespace folded."""
    page = response.content.decode()
    found = re.search(rf'id="{element_id}"(.*?)(?=<div class="module"|</body>)', page, re.S)
    assert found, f"no #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", found[1].split(">", 1)[1]).split())


def roll_back(client, version: str, reason: str = REASON, **extra):
    return client.post(ROLLBACK, {"version": version, "reason": reason}, **extra)


def episode_url(episode) -> str:
    return f"/admin/cms/episode/{episode.id}/change/"


# The confirmation page


@pytest.mark.django_db
def test_the_rollback_page_names_the_previous_version_and_what_rolling_back_removes_by_title(client, versions):
    logged_in(client, "Ops")

    response = client.get(ROLLBACK, headers=EN)

    assert response.status_code == 200
    page = response.content.decode()
    chosen = re.search(r'<tr class="earlier-version chosen" data-version="(\w+)">(.*?)</tr>', page, re.S)
    assert chosen[1] == versions.v1
    facts = recorded.release_get("catalog", versions.v1).facts
    with translation.override("en"):
        size = " ".join(filesizeformat(facts["raw_bytes"]).split())
    cells = " ".join(re.sub(r"<[^>]+>", " ", chosen[2]).split())
    as_of, built = (jst_utc_format(time_parse(facts[name])).split(" / ")[0] for name in ("as_of", "built_at"))
    assert as_of in cells and built in cells
    assert size in cells and "previous" in cells and "expired" not in cells
    changes = section(response, "rollback-changes")
    assert f"What rolling back to {versions.v1} changes (from {versions.v2})" in changes
    assert "Episodes removed (1) 葬送のフリーレン — Episode 2 魔法使いの隠し事" in changes
    assert "Programs" not in changes  # the program itself is the same in both
    assert f'<a href="{episode_url(versions.added)}">' in page
    assert f'<input type="hidden" name="version" value="{versions.v1}">' in page
    assert f"Roll back to {versions.v1} and pin it" in page
    assert refused_by_policy(response)[0] == []


@pytest.mark.django_db
def test_a_program_familys_rollback_page_shows_its_episodes_by_title_too(client, versions):
    name = f"program:{versions.show.program.id}"
    logged_in(client, "Ops")

    response = client.get(action_url(name, "rollback"), headers=EN)

    assert response.status_code == 200
    assert "Episodes removed (1) 葬送のフリーレン — Episode 2 魔法使いの隠し事" in section(response, "rollback-changes")


@pytest.mark.django_db
def test_an_expired_earlier_version_is_listed_but_cannot_be_chosen(client, versions):
    release = recorded.release_get("catalog", versions.v1)
    release.facts = {**release.facts, "expires_at": time_text(timezone.now() - timedelta(minutes=1))}
    release.save()
    logged_in(client, "Ops")

    response = client.get(ROLLBACK, {"version": versions.v1}, headers=EN)
    posted = roll_back(client, versions.v1, headers=EN)

    row = re.search(
        rf'<tr class="earlier-version expired" data-version="{versions.v1}">(.*?)</tr>', response.content.decode(), re.S
    )
    assert "expired: cannot be restored" in row[1] and "Choose" not in row[1]
    assert "No earlier version can be restored: rebuild instead." in text(response)
    assert posted.status_code == 400 and "Version to roll back to: Select a valid choice." in text(posted)
    assert Family.objects.get(name="catalog").pinned_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("", "Reason: This field is required."),
        ("x" * 501, "Reason: Ensure this value has at most 500 characters (it has 501)."),
    ],
)
def test_a_rollback_needs_a_reason_of_bounded_length_and_says_which_field(client, versions, reason, error):
    logged_in(client, "Ops")

    response = roll_back(client, versions.v1, reason, headers=EN)

    assert response.status_code == 400
    assert error in section(response, "rollback-errors")
    assert manifest_read("catalog")["version"] == versions.v2
    assert not Operation.objects.filter(kind="rollback").exists()


@pytest.mark.django_db
def test_the_current_version_can_be_pinned_as_it_is(client, versions):
    logged_in(client, "Ops")

    page = client.get(ROLLBACK, {"version": versions.v2}, headers=EN)
    response = roll_back(client, versions.v2, "放送中は動かさない", headers=EN, follow=True)

    assert f"Or keep the current version, {versions.v2}, and pin it as it is: chosen" in text(page)
    assert "No program or episode differs." in section(page, "rollback-changes")
    assert f"Pin {versions.v2} as it is" in text(page)
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.pin_reason) == (versions.v2, "放送中は動かさない")
    assert "Nothing is waiting: no build has made another version since the pin." in section(response, "pin-banner")


# Rolling back, the pin, resuming


def dead_build_holding_the_lock(redis_engine) -> tuple[str, bytes]:
    """A rebuild whose worker died mid-build: its operation never ended, its console task never finished, and
    the build lock in the cache still names it. Returns the lock's key and value."""
    op = Operation.objects.create(kind="rebuild", family="catalog", requested_by="worker", heartbeat_at=timezone.now())
    ConsoleTask.objects.create(family="catalog", kind="rebuild", task_id=str(uuid.uuid4()), requested_by="oki")
    holder = Holder(uuid.uuid4().hex, "worker-1", 4242, op.pk, time_text(timezone.now()))
    key = keys.lock_key("catalog")
    redis_engine.set(key, holder.value(), 600)
    return key, holder.value()


@pytest.mark.django_db
def test_a_rollback_pins_at_once_while_a_dead_build_holds_the_lock_and_the_banner_says_who_when_why(
    client, versions, redis_engine
):
    key, lock = dead_build_holding_the_lock(redis_engine)
    logged_in(client, "Ops")

    response = roll_back(client, versions.v1, headers=EN)

    assert (response.status_code, response["Location"]) == (302, family_url("catalog"))
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.latest_version, row.pin_reason) == (versions.v1, versions.v2, REASON)
    assert row.pinned_by.startswith("Ops-") and row.pinned_at is not None
    assert manifest_read("catalog")["version"] == versions.v1 and manifest_read("catalog")["pinned"] is True
    op = Operation.objects.get(kind="rollback")
    assert (op.result, op.version_before, op.version_after) == ("pinned", versions.v2, versions.v1)
    # Nothing waited for the dead build or joined its task: both are as they were.
    assert redis_engine.get(key) == lock
    assert ConsoleTask.objects.get().finished_at is None

    page = client.get(family_url("catalog"), headers=EN)
    banner = section(page, "pin-banner")
    assert f"Pinned: version {versions.v1} stays current until publishing is resumed" in banner
    assert f"Pinned by {row.pinned_by} at {clock_format(row.pinned_at, seconds=True)} JST" in banner
    assert f"{utc_format(row.pinned_at)} UTC" in banner
    assert f"Reason: {REASON}" in banner
    assert f"Waiting: version {versions.v2}, the newest build, replaces {versions.v1}" in banner
    assert "Episodes added (1) 葬送のフリーレン — Episode 2 魔法使いの隠し事" in banner
    assert "Resume publishing" in banner
    assert f"Rolled back catalog to {versions.v1}: it stays current until publishing is resumed." in text(page)
    assert refused_by_policy(page)[0] == []
    overview = client.get(OVERVIEW, headers=EN).content.decode()
    card = overview.split('id="catalog-card"', 1)[1].split("</section>", 1)[0]
    assert '<span class="state-badge state-pinned">pinned</span>' in card
    pinned_at = jst_utc_format(row.pinned_at).replace(" / ", " ")  # as the card shows it, tags left out
    assert f"Pinned by {row.pinned_by} at {pinned_at}. {REASON}" in " ".join(re.sub(r"<[^>]+>", "", card).split())


@pytest.mark.django_db
def test_resume_brings_the_newest_version_back(client, versions):
    logged_in(client, "Ops")
    roll_back(client, versions.v1)

    response = client.post(action_url("catalog", "resume"), headers=EN)
    page = client.get(response["Location"], headers=EN)

    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.pinned_at, row.pin_reason) == (versions.v2, None, "")
    assert manifest_read("catalog")["version"] == versions.v2 and not manifest_read("catalog")["pinned"]
    assert Operation.objects.get(kind="resume").result == "resumed"
    assert f"Publishing of catalog resumed: {versions.v2} is current." in text(page)
    assert 'id="pin-banner"' not in page.content.decode()


# Refusals and failures: a message, never a traceback


@pytest.mark.django_db
def test_refused_actions_say_why_on_the_page(client, versions, redis_engine):
    logged_in(client, "superuser")

    resumed = client.post(action_url("catalog", "resume"), headers=EN, follow=True)
    accepted = client.post(action_url("catalog", "accept"), headers=EN, follow=True)
    for entry in recorded.release_get("catalog", versions.v1).facts["chunks"]:
        redis_engine.delete(entry["key"])  # the earlier version's chunks are gone from the cache
    rolled = roll_back(client, versions.v1, headers=EN)
    page = client.get(rolled["Location"], headers=EN)

    assert resumed.status_code == 200 and "Resuming publishing of catalog refused: catalog is not pinned" in text(
        resumed
    )
    assert "Accepting the held-back version of catalog refused: catalog holds no version back" in text(accepted)
    assert rolled["Location"] == f"{ROLLBACK}?version={versions.v1}"
    assert page.status_code == 200
    assert f"Rollback of catalog refused: Version {versions.v1} can no longer be restored" in text(page)
    in_japanese = client.post(action_url("catalog", "resume"), headers={"Accept-Language": "ja"}, follow=True)
    assert "catalog は固定されていません。" in text(in_japanese)
    assert f"Version {versions.v1} is gone from the cache" in section(page, "rollback-changes")
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.pinned_at) == (versions.v2, None)


@pytest.mark.django_db
def test_with_the_cache_down_resume_says_so_and_the_pin_stays(client, versions, settings):
    logged_in(client, "Ops")
    roll_back(client, versions.v1)
    settings.CACHEOPS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    backend_reset()

    response = client.post(action_url("catalog", "resume"), headers=EN, follow=True)

    assert response.status_code == 200
    assert "Resuming publishing of catalog failed: the shared cache did not answer" in text(response)
    assert "The release is unchanged" in text(response)
    row = Family.objects.get(name="catalog")
    assert (row.current_version, row.pinned_by != "") == (versions.v1, True)
    assert 'id="pin-banner"' in response.content.decode()


# Banners from what the row recorded


STORED = {
    "against": "0123456789abcdef",
    "programs": {"added": {"count": 0, "items": []}, "removed": {"count": 0, "items": []}, "changed": {
        "count": 1, "items": [{"id": "01JDZ0000000000000000000AB", "title": "薬屋のひとりごと"}]}},
    "episodes": {"added": {"count": 0, "items": []}, "changed": {"count": 0, "items": []}, "removed": {
        "count": 102, "items": [{"id": "01JDZ0000000000000000000AC", "title": "猫猫", "number": 1,
                                 "program_id": "01JDZ0000000000000000000AB", "program_title": "薬屋のひとりごと"}]}},
}  # fmt: skip


def test_recorded_changes_are_shown_for_what_waits_and_what_is_held_back_with_links(client, db):
    family_create(
        "catalog",
        row={
            "pinned_at": timezone.now(),
            "pinned_by": "oki",
            "pin_reason": "差し替え待ち",
            "latest_version": "fedcba9876543210",
            "waiting": {"version": "fedcba9876543210", "changes": STORED},
            "held_back": {"version": "aaaabbbbccccdddd", "changes": STORED},
        },
    )
    logged_in(client, "superuser")

    response = client.get(family_url("catalog"), headers=EN)

    for banner in (section(response, "pin-banner"), section(response, "held-banner")):
        assert "Programs changed (1) 薬屋のひとりごと" in banner
        assert "Episodes removed (102) 薬屋のひとりごと — Episode 1 猫猫 and 101 more" in banner
    page = response.content.decode()
    assert page.count('href="/admin/cms/program/01JDZ0000000000000000000AB/change/"') == 2
    assert page.count('href="/admin/cms/episode/01JDZ0000000000000000000AC/change/"') == 2
    held = section(response, "held-banner")
    assert "The store still holds what was purged" in held
    assert "A rebuild made version aaaabbbbccccdddd again, which was purged" in held
    assert "Roll back to an earlier version…" in held and "Accept version aaaabbbbccccdddd and serve it" in held


# Purge, then the version a rebuild makes again


@pytest.fixture
def api(settings):
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    readers_stop()
    yield
    readers_stop()


def serving(client, version: str) -> bool:
    return client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip").headers.get("ETag") == f'"{version}"'


def chunk_url(version: str) -> str:
    entry = recorded.release_get("catalog", version).facts["chunks"][0]
    return keys.chunk_path(version, entry)


@pytest.mark.django_db(transaction=True)
def test_purge_needs_the_typed_name_then_takes_the_version_down_and_its_chunk_urls_answer_410(
    client, api_client, versions, api
):
    assert wait_for(lambda: serving(api_client, versions.v2), 5)
    assert api_client.get(chunk_url(versions.v2)).status_code == 200
    logged_in(client, "superuser")

    mistyped = client.post(action_url("catalog", "purge"), {"confirm": "Catalog"}, headers=EN)
    assert mistyped.status_code == 400 and serving(api_client, versions.v2)
    response = client.post(action_url("catalog", "purge"), {"confirm": "catalog"}, headers=EN)

    assert (response.status_code, response["Location"]) == (302, family_url("catalog"))
    assert wait_for(lambda: serving(api_client, versions.v1), django_settings.CACHEOPS_READER_POLL_SECONDS * 2 + 1)
    gone = api_client.get(chunk_url(versions.v2))
    assert gone.status_code == 410
    purged = Operation.objects.get(kind="purge")
    assert (purged.result, purged.version_before, purged.version_after) == ("done", versions.v2, versions.v1)
    assert not ConsoleTask.objects.exists()

    # The full rebuild the purge queued ran at once here, from the same content: the store still holds what was
    # purged, so the version it made is held back and the page asks ops what to do.
    page = client.get(family_url("catalog"), headers=EN)
    assert (
        f"Version {versions.v2} of catalog taken down: readers are told and drop it within a second. "
        f"{versions.v1} is served meanwhile. A full rebuild is queued."
    ) in text(page)
    held = section(page, "held-banner")
    assert f"A rebuild made version {versions.v2} again, which was purged: it is held back" in held
    assert "Episodes added (1) 葬送のフリーレン — Episode 2 魔法使いの隠し事" in held
    assert f'<a href="{episode_url(versions.added)}">' in page.content.decode()
    assert serving(api_client, versions.v1)
    # Rolling back from here means keeping what is served now: the version the purge fell back on.
    assert f"Or keep the current version, {versions.v1}, and pin it as it is" in text(client.get(ROLLBACK, headers=EN))

    accepted = client.post(action_url("catalog", "accept"), headers=EN, follow=True)

    assert f"Version {versions.v2} of catalog accepted: it is served again." in text(accepted)
    assert 'id="held-banner"' not in accepted.content.decode()
    assert Family.objects.get(name="catalog").current_version == versions.v2
    assert wait_for(lambda: serving(api_client, versions.v2), 5)


# The CDN


@pytest.mark.django_db
def test_the_family_page_shows_the_cdn_invalidation_and_asks_its_status_again(client, versions, distribution, settings):
    logged_in(client, "Ops")
    roll_back(client, versions.v1)
    sent = Family.objects.get(name="catalog").cdn
    assert sent["id"] and "/api/catalog" in sent["paths"]
    Family.objects.filter(name="catalog").update(cdn={**sent, "status": "InProgress"})

    asked = client.get(family_url("catalog"), headers=EN)
    settings.CACHEOPS_CDN_DISTRIBUTION_ID = "ENOSUCHDISTRIBUTION"
    failed = client.get(family_url("catalog"), headers=EN)

    facts = section(asked, "cdn-invalidation")
    assert sent["id"] in facts and "COMPLETED (asked just now)" in facts
    assert clock_format(time_parse(sent["at"]), seconds=True) in facts and "/api/programs/*" in facts
    assert "CloudFront GetInvalidation on distribution ENOSUCHDISTRIBUTION failed" in section(
        failed, "cdn-invalidation"
    )
    assert "InProgress (as recorded when sent)" in section(failed, "cdn-invalidation")


@pytest.mark.django_db
def test_a_cdn_that_could_not_be_reached_is_shown_as_an_error(client, versions, settings):
    settings.CACHEOPS_CDN_DISTRIBUTION_ID = "E2QWRUHAPOMQZL"
    settings.CACHEOPS_CDN_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    logged_in(client, "Ops")

    roll_back(client, versions.v1)
    page = client.get(family_url("catalog"), headers=EN)

    assert Family.objects.get(name="catalog").current_version == versions.v1  # the release changed all the same
    assert "The last release change could not invalidate the CDN" in section(page, "cdn-invalidation")
    assert "CreateInvalidation" in section(page, "cdn-invalidation")


@pytest.mark.django_db
def test_an_airtime_inside_a_pin_is_shown_as_held_by_the_pin(client, versions):
    logged_in(client, "superuser")
    release_actions.rollback(family="catalog", requested_by="oki", reason=REASON)
    AirtimeSchedule.objects.create(at=timezone.now() + timedelta(hours=1), created_by="ops")

    notice = section(client.get(OVERVIEW, headers=EN), "airtime-unready")

    assert "falls inside the pin, so the pinned version stays current until publishing is resumed" in notice
    japanese = section(client.get(OVERVIEW, headers={"Accept-Language": "ja"}), "airtime-unready")
    assert "固定中のため" in japanese
