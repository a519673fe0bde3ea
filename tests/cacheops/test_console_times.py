"""What ops read in the console: times to the second in JST with UTC beside, details and messages in the admin's
language, countdowns in days, and a traffic chart with its axes, units and builds."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from cacheops.backends import CacheUnavailable, backend_reset
from cacheops.build import lock, operations
from cacheops.errors import BuildBusy, PublishError
from cacheops.manifest import manifest_read
from cacheops.models import AirtimeSchedule, Operation, TrafficMinute
from cacheops.oplog import operation_log
from tests.cacheops.conftest import show_create, staff_client
from tests.cacheops.test_console import OPERATIONS, family_url, language_restored, minute_ago, rows  # noqa: F401
from tests.cacheops.test_console_actions import logged_in, press

pytestmark = pytest.mark.django_db

AIRTIME = "/admin/cacheops/airtime/"


@pytest.fixture
def viewer(client):
    return staff_client(client, "Viewers")


@pytest.fixture
def published(redis_engine, dynamodb):
    """The catalog published for real, in Redis."""
    show_create("葬送のフリーレン", "frieren", ("旅立ち", "魔法使い"))
    build = operations.catalog_rebuild(requested_by="test", full=True)
    assert build.result == "published"
    return build


def in_language(client, language: str):
    """The admin's language, as its switch leaves it: the language cookie."""
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def logged_at(when: datetime, **fields) -> Operation:
    op = Operation.objects.create(**({"kind": "rebuild", "family": "catalog", "result": "done"} | fields))
    Operation.objects.filter(pk=op.pk).update(started_at=when)
    return op


def log_cells(client) -> dict[str, list[str]]:
    """The operations log's rows by requester."""
    return {cells[1]: cells for cells in rows(client.get(OPERATIONS), "operation-row")}


# Times


def test_the_operations_log_tells_two_events_of_one_minute_apart_in_jst_with_utc_beside(viewer):
    logged_at(datetime(2026, 12, 5, 17, 45, 7, tzinfo=UTC), requested_by="first")
    logged_at(datetime(2026, 12, 5, 17, 45, 41, tzinfo=UTC), requested_by="second")

    page = viewer.get(OPERATIONS).content.decode()
    when = {name: cells[0] for name, cells in log_cells(viewer).items()}

    # 02:45 JST on the 6th is the broadcast day of the 5th at 26:45.
    assert when == {
        "first": "2026-12-06 02:45:07 JST (2026-12-05 26:45:07) 2026-12-05 17:45:07 UTC",
        "second": "2026-12-06 02:45:41 JST (2026-12-05 26:45:41) 2026-12-05 17:45:41 UTC",
    }
    assert '<time class="jst-utc" datetime="2026-12-05T17:45:07Z">' in page
    assert '<time class="jst-utc" datetime="2026-12-05T17:45:41Z">' in page


def test_the_family_page_shows_its_times_and_its_operations_to_the_second(published, viewer):
    build = published
    built = timezone.localtime(build.started_at, UTC)

    response = viewer.get(family_url("catalog"))
    page = response.content.decode()

    facts = re.search(r'<table class="console-facts".*?</table>', page, re.S)[0]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST.*?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", facts, re.S)
    assert f'datetime="{built:%Y-%m-%dT%H:%M:%SZ}"' in page
    assert [c[0] for c in rows(response, "operation-row")][-1].endswith(f"{built:%Y-%m-%d %H:%M:%S} UTC")


# Details and messages in the admin's language

DETAILS = {
    "incremental; 50 items read; 766152 bytes": {
        "ja": "差分構築; 50 件を読み込み; 766,152 バイト",
        "en": "incremental build; 50 items read; 766,152 bytes",
    },
    "current since 2026-12-05T17:45:00Z, recorded 2 s later": {
        "ja": "2026-12-06 02:45:00 JST (2026-12-05 26:45:00) / 2026-12-05 17:45:00 UTC から配信中（2 秒後に記録）",
        "en": "current since 2026-12-06 02:45:00 JST (2026-12-05 26:45:00) / 2026-12-05 17:45:00 UTC, "
        "recorded 2 s later",
    },
    "pinned by ops-ken: broken artwork": {
        "ja": "ops-ken が固定（理由: broken artwork）",
        "en": "pinned by ops-ken: broken artwork",
    },
    "something only a person wrote; 1 bytes": {
        "ja": "something only a person wrote; 1 バイト",
        "en": "something only a person wrote; 1 byte",
    },
}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_details_the_product_writes_are_shown_in_the_admins_language(viewer, language):
    for n, detail in enumerate(DETAILS):
        Operation.objects.create(kind="activate", family="catalog", result="done", requested_by=f"u{n}", detail=detail)

    shown = {cells[1]: cells[7] for cells in log_cells(in_language(viewer, language)).values()}

    assert shown == {f"u{n}": texts[language] for n, texts in enumerate(DETAILS.values())}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "実行中: catalog の別の構築が実行中です。"),
        ("en", "Busy: another build of catalog is running."),
    ],
)
def test_a_busy_build_says_so_in_the_admins_language(viewer, language, expected):
    with pytest.raises(BuildBusy), operation_log("rebuild", "catalog", "beat"):
        raise lock._busy("catalog", None)

    assert log_cells(in_language(viewer, language))["beat"][7] == expected


@pytest.fixture
def cache_down(settings):
    """The shared cache unreachable from here on: nothing listens where the engine now looks for it."""
    settings.CACHEOPS_REDIS_URL = "redis://127.0.0.1:1/0"
    backend_reset()
    yield
    backend_reset()


def shown_detail(client, language: str, requested_by: str) -> str:
    """The whole detail of the one operation `requested_by` asked for, as the log's cell holds it (its title)."""
    page = in_language(client, language).get(OPERATIONS, {"requested_by": requested_by}).content.decode()
    [title] = re.findall(r'<td class="detail" title="([^"]*)"', page)
    return html.unescape(title)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "{family} のバージョン {version} はキャッシュにそろっていません: チャンク 0（{key}）がありません"),
        ("en", "version {version} of {family} is no longer complete in the cache: chunk 0 ({key}) is missing"),
    ],
)
def test_a_prewarm_that_found_a_chunk_gone_says_so_in_the_admins_language(
    published, redis_engine, viewer, language, expected
):
    manifest = manifest_read("catalog")
    key = manifest["chunks"][0]["key"]
    redis_engine.delete(key)

    with pytest.raises(PublishError):
        operations.prewarm(family="catalog", requested_by="ops-ken")

    facts = {"family": "catalog", "version": manifest["version"], "key": key}
    english = "version {version} of {family} is no longer complete in the cache: chunk 0 ({key}) is missing"
    assert Operation.objects.get(kind="prewarm").detail == "PublishError: " + english.format(**facts)
    assert shown_detail(viewer, language, "ops-ken") == expected.format(**facts)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "キャッシュの add（'{key}'）に失敗しました: {reason}"),
        ("en", "cache add '{key}' failed: {reason}"),
    ],
)
def test_a_program_family_publish_that_could_not_reach_the_cache_says_so_in_the_admins_language(
    published, redis_engine, viewer, cache_down, language, expected
):
    program = Operation.objects.filter(family__startswith="program:").first().family
    with pytest.raises(CacheUnavailable) as raised:
        operations.program_rebuild(program_id=program.removeprefix("program:"), requested_by="ops-ken")

    failure = raised.value
    detail = Operation.objects.get(family=program, requested_by="ops-ken").detail
    assert detail == f"CacheUnavailable: {failure}"
    # The cache's own operation and key in the admin's language; the client library's reason as it wrote it.
    assert shown_detail(viewer, language, "ops-ken") == expected.format(key=failure.key, reason=failure.reason)


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ja", "キャッシュの delete（'{key}'）に失敗しました: "), ("en", "cache delete '{key}' failed: ")],
)
def test_a_hard_invalidation_that_could_not_reach_the_cache_says_so_in_the_admins_language(
    published, redis_engine, viewer, cache_down, language, expected
):
    with pytest.raises(CacheUnavailable) as raised:
        operations.invalidate(family="catalog", hard=True, requested_by="ops-ken")

    assert Operation.objects.get(kind="invalidate-hard").detail.startswith("CacheUnavailable: cache ")
    assert shown_detail(viewer, language, "ops-ken") == expected.format(key=raised.value.key) + raised.value.reason


@pytest.mark.parametrize(("language", "expected"), [("ja", "中断されました（Ctrl-C）"), ("en", "interrupted (Ctrl-C)")])
def test_an_operation_stopped_by_ctrl_c_says_so_in_the_admins_language(viewer, language, expected):
    with pytest.raises(KeyboardInterrupt), operation_log("prewarm", "catalog", "ops-ken"):
        raise KeyboardInterrupt

    assert shown_detail(viewer, language, "ops-ken") == expected


# Details of failures and notes no test above writes through its own path: the product's errors in the admin's
# language, another library's text inside them as it was written.
FAILURES = {
    "StoreUnavailable: DynamoDB did not answer Query: Could not connect to the endpoint URL": {
        "ja": "DynamoDB が Query に応答しませんでした: Could not connect to the endpoint URL",
        "en": "DynamoDB did not answer Query: Could not connect to the endpoint URL",
    },
    "PublishError: verification failed: chunk 2 (p:catalog:chunk:abc:2) is corrupt": {
        "ja": "検証に失敗しました: チャンク 2（p:catalog:chunk:abc:2）が壊れています",
        "en": "verification failed: chunk 2 (p:catalog:chunk:abc:2) is corrupt",
    },
    "PublishError: the chunks of program:01J 0a1b expire before its manifest could be written": {
        "ja": "program:01J 0a1b のチャンクは、マニフェストを書き込む前に期限切れになります",
        "en": "the chunks of program:01J 0a1b expire before its manifest could be written",
    },
    "PublishError: catalog has no current version": {
        "ja": "catalog に現在のバージョンがありません",
        "en": "catalog has no current version",
    },
    "full; 3 items read; 120 bytes; superseded 0a1b2c3d as of 2026-12-05T17:45:00Z": {
        "ja": "全体構築; 3 件を読み込み; 120 バイト; 2026-12-06 02:45:00 JST (2026-12-05 26:45:00) / "
        "2026-12-05 17:45:00 UTC 時点の 0a1b2c3d の切替準備は、後の構築に置き換えられました",
        "en": "full build; 3 items read; 120 bytes; staging 0a1b2c3d as of 2026-12-06 02:45:00 JST (2026-12-05 "
        "26:45:00) / 2026-12-05 17:45:00 UTC was superseded by a later build",
    },
    "pinned by ops-ken; CDN invalidation failed: CloudFront CreateInvalidation on distribution E2X failed: "
    "AccessDenied": {
        "ja": "ops-ken が固定; CDN の無効化に失敗しました: ディストリビューション E2X の CloudFront "
        "CreateInvalidation に失敗しました: AccessDenied",
        "en": "pinned by ops-ken; CDN invalidation failed: CloudFront CreateInvalidation on distribution E2X "
        "failed: AccessDenied",
    },
    "ConnectionError: something another library said": {
        "ja": "ConnectionError: something another library said",
        "en": "ConnectionError: something another library said",
    },
}


@pytest.mark.parametrize("language", ["ja", "en"])
def test_failures_and_notes_the_product_writes_are_shown_in_the_admins_language(viewer, language):
    for n, detail in enumerate(FAILURES):
        Operation.objects.create(kind="rebuild", family="catalog", result="failed", requested_by=f"u{n}", detail=detail)

    shown = [shown_detail(viewer, language, f"u{n}") for n in range(len(FAILURES))]

    assert shown == [texts[language] for texts in FAILURES.values()]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "準備に失敗しました: 検証に失敗しました: 組み立て直したスナップショットがチェックサムと一致しません"),
        ("en", "preparing failed: verification failed: the reassembled snapshot does not match its checksum"),
    ],
)
def test_an_airtime_whose_preparation_failed_says_why_in_the_admins_language(published, viewer, language, expected):
    AirtimeSchedule.objects.create(
        at=timezone.now() + timedelta(days=1),
        result=AirtimeSchedule.FAILED,
        detail="preparing failed: verification failed: the reassembled snapshot does not match its checksum",
    )

    assert expected in in_language(viewer, language).get(AIRTIME).content.decode()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "catalog は固定されていません。"),
        ("en", "catalog is not pinned."),
    ],
)
def test_a_refused_release_action_is_logged_in_english_and_shown_in_the_admins_language(
    published, viewer, language, expected
):
    from cacheops.release import release_actions

    with pytest.raises(release_actions.ReleaseRefused):
        release_actions.resume(family="catalog", requested_by="ops-ken")

    assert Operation.objects.get(kind="resume").detail == "ReleaseRefused: catalog is not pinned."
    assert log_cells(in_language(viewer, language))["ops-ken"][7] == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ja", "catalog の事前準備を開始しました。"), ("en", "Prewarm of catalog started.")],
)
def test_a_flash_message_names_the_family_as_every_page_does(client, published, language, expected):
    logged_in(in_language(client, language), "Ops")

    response = press(client, "catalog", "prewarm")
    page = client.get(response["Location"]).content.decode()

    messages = re.search(r'<ul class="messagelist">(.*?)</ul>', page, re.S)[1]
    assert expected in messages
    assert "Catalog" not in messages


# Countdowns


@pytest.mark.parametrize(("language", "days"), [("ja", "26日 22:37:3"), ("en", "26 d 22:37:3")])
def test_a_far_airtime_counts_down_in_days(published, viewer, language, days):
    at = timezone.now().replace(microsecond=0) + timedelta(days=26, hours=22, minutes=37, seconds=38)
    AirtimeSchedule.objects.create(at=at, created_by="ops-ken")

    page = in_language(viewer, language).get(AIRTIME).content.decode()

    countdown = re.search(r'class="ttl-left airtime-countdown"[^>]*>([^<]*)<', page)[1]
    assert re.fullmatch(rf"{days}\d", countdown)
    assert {"ja": 'data-days-format="%(days)d日 %(clock)s"', "en": 'data-days-format="%(days)d d %(clock)s"'}[
        language
    ] in page


def test_an_airtime_shows_its_instant_to_the_second_and_its_activation_in_jst(published, viewer):
    at = datetime(2031, 4, 12, 16, 30, 15, tzinfo=UTC)
    AirtimeSchedule.objects.create(
        at=at, result=AirtimeSchedule.DONE, detail="current since 2031-04-12T16:30:15Z, recorded 1 s later"
    )

    page = in_language(viewer, "en").get(AIRTIME).content.decode()

    assert (
        '<time class="jst-utc" datetime="2031-04-12T16:30:15Z"><span class="jst">2031-04-13 01:30:15 JST</span>' in page
    )
    assert "current since 2031-04-13 01:30:15 JST (2031-04-12 25:30:15) / 2031-04-12 16:30:15 UTC" in page
    assert "2031-04-12T16:30:15Z, recorded" not in page


# The traffic chart


def test_the_chart_shows_requests_per_second_and_the_hit_rate_on_labelled_axes_with_builds_on_the_time_axis(
    published, viewer
):
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(10), requests=120, l1_hits=90, misses=30)
    TrafficMinute.objects.create(family="catalog", minute=minute_ago(9), requests=60, l1_hits=60)
    Operation.objects.create(kind="rebuild", family="catalog", result="failed", heartbeat_at=timezone.now())

    page = in_language(viewer, "en").get(family_url("catalog")).content.decode()

    svg = re.search(r'<svg class="traffic-chart".*?</svg>', page, re.S)[0]
    assert "Requests per second (req/s)" in re.search(r'class="axis-title axis-title-left"[^>]*>([^<]*)<', svg)[1]
    assert re.search(r'class="axis-title axis-title-right"[^>]*>([^<]*)<', svg)[1] == "Hit rate (%)"
    assert "Time (JST)" in re.search(r'class="axis-title axis-title-time"[^>]*>([^<]*)<', svg)[1]
    right = re.findall(r'class="tick tick-right"[^>]*>([^<]*)<', svg)
    left = re.findall(r'class="tick tick-left"[^>]*>([^<]*)<', svg)
    assert (right, left) == (["0%", "50%", "100%"], ["0", "1", "2"])  # 120 a minute is 2/s
    paths = dict(re.findall(r'<path class="series series-([\w-]+)" d="([^"]*)"', svg))
    assert list(paths) == ["hit-rate", "requests"]  # the requests line is drawn last, on top
    # The hit rate only where there were requests: 75 % then 100 %, one stretch.
    hit_points = re.findall(r"([ML])([\d.]+),([\d.]+)", paths["hit-rate"])
    assert [kind for kind, _x, _y in hit_points] == ["M", "L"]
    top, bottom = 44, 220
    assert [float(y) for _k, _x, y in hit_points] == [bottom - (bottom - top) * 0.75, top]
    assert len(paths["requests"].split()) == 60
    marks = re.findall(r'<g class="build-mark (build-\w+)"><title>([^<]*)</title>.*?<path d="M[\d.]+,(\d+)', svg)
    assert sorted(css for css, _title, _y in marks) == ["build-done", "build-failed"]
    assert {int(y) for _css, _title, y in marks} == {bottom}  # each mark's tip on the time axis
    assert all(re.search(r"\d\d:\d\d:\d\d JST.*UTC", title) for _css, title, _y in marks)
    assert "Build (on the time axis)" in svg and "Hit rate, % (right axis)" in svg


def test_the_chart_speaks_the_admins_language(published, viewer):
    page = in_language(viewer, "ja").get(family_url("catalog")).content.decode()

    svg = re.search(r'<svg class="traffic-chart".*?</svg>', page, re.S)[0]
    assert "毎秒のリクエスト数（件/秒）" in svg and "ヒット率（%）" in svg and "時刻（日本時間、1分ごと）" in svg
