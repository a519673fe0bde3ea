"""The public read API: served from each process's memory, with headers any cache can be trusted with."""

import gzip
import hashlib
import json
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cacheops.backends import backend_reset
from cacheops.build import operations
from cacheops.keys import chunk_path
from cacheops.models import Family, Operation, TrafficMinute
from cacheops.read.api import cache_control
from cacheops.read.reader import reader_get, readers_stop
from cacheops.release import release_actions
from cacheops.timers import timers_stop
from cms import services
from cms.domain import time_parse
from tests.cacheops.conftest import RedisView, body_of, process_stop, reassemble, show_create, wait_for


@pytest.fixture
def api(engine, settings, transactional_db, dynamodb):
    """The read API on each cache backend, polling every 50 ms; yields the engine's raw view."""
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    settings.CACHEOPS_READER_MISS_WAIT_SECONDS = 2
    settings.CACHEOPS_CORS_ORIGINS = ["https://app.example.jp"]
    readers_stop()
    yield engine
    readers_stop()


def published(view, title="葬送のフリーレン", slug="frieren", **fields):
    """Publish a catalog holding one show; return (show, manifest, compressed stream) as read from the cache."""
    show = show_create(title, slug, episodes=("旅立ち", "魔法使いの隠し事"), **fields)
    operations.catalog_rebuild(requested_by="test", full=True)
    manifest, stream = reassemble(view)
    return show, manifest, stream


def serving(api_client, version: str) -> bool:
    return api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip").headers.get("ETag") == f'"{version}"'


def test_catalog_is_served_compressed_with_validators_and_answers_304(api, api_client):
    _, manifest, stream = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    response = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="br, gzip;q=0.8")
    assert response.status_code == 200
    assert response.content == stream
    assert response["Content-Encoding"] == "gzip"
    assert response["Content-Type"] == "application/json"
    assert response["Content-Length"] == str(len(stream))
    assert response["ETag"] == f'"{manifest["version"]}"'
    assert {v.strip() for v in response["Vary"].split(",")} == {"Accept-Encoding", "Origin"}
    assert response["Cache-Control"] == "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
    assert "Set-Cookie" not in response.headers

    head = api_client.head("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")
    assert head.status_code == 200 and head.content == b""
    assert head["Content-Length"] == str(len(stream)) and head["ETag"] == response["ETag"]

    again = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == response["ETag"] and "Accept-Encoding" in again["Vary"]
    assert again["Cache-Control"] == response["Cache-Control"]


def test_clients_refusing_the_codec_get_the_same_json_decoded_with_an_etag_of_its_own(api, api_client):
    _, manifest, stream = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    for accept in ("identity", "gzip;q=0, deflate", None):
        headers = {"HTTP_ACCEPT_ENCODING": accept} if accept is not None else {}
        response = api_client.get("/api/catalog", **headers)
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers
        assert response.content == body_of(manifest, stream)
        assert response["ETag"] == f'"{manifest["version"]}-id"'
        assert response["Content-Length"] == str(manifest["raw_bytes"])
    assert api_client.get("/api/catalog", HTTP_IF_NONE_MATCH=f'"{manifest["version"]}-id"').status_code == 304
    # The compressed representation's tag does not validate the identity one.
    assert api_client.get("/api/catalog", HTTP_IF_NONE_MATCH=f'"{manifest["version"]}"').status_code == 200


def test_chunk_urls_from_the_manifest_reassemble_the_catalog(api, api_client, settings):
    settings.CACHEOPS_CHUNK_BYTES = 150  # several chunks, even for a small catalog
    _, manifest, stream = published(api)
    assert len(manifest["chunks"]) >= 3
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    public = api_client.get("/api/catalog/manifest")
    assert public.status_code == 200 and public["Cache-Control"].startswith("public, max-age=1")
    listed = json.loads(public.content)
    assert "staged" not in listed
    parts = []
    for entry in listed["chunks"]:
        assert entry["url"] == f"/api/catalog/chunks/{listed['version']}/{entry['index']}/{entry['sha256'][:16]}"
        response = api_client.get(entry["url"])
        assert response.status_code == 200
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
        parts.append(response.content)
    assert b"".join(parts) == stream
    assert hashlib.sha256(b"".join(parts)).hexdigest() == listed["sha256"]


def test_a_program_is_cut_from_the_catalog_and_unknown_ids_are_answered_from_memory(api, api_client):
    show, manifest, stream = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    expected = next(p for p in json.loads(body_of(manifest, stream))["programs"] if p["id"] == show.program.id)

    response = api_client.get(f"/api/programs/{show.program.id}")
    assert response.status_code == 200
    assert json.loads(response.content) == {"program": expected}
    assert api_client.get(f"/api/programs/{show.program.id}", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304

    api.delete(f"{api.prefix}:catalog:manifest")  # the shared cache is not asked: memory answers
    unknown = show.program.id[:-4] + "0000"
    missing = api_client.get(f"/api/programs/{unknown}")
    assert missing.status_code == 404 and json.loads(missing.content)["error"]["status"] == 404


def test_a_new_version_is_served_within_the_poll_interval_and_requests_cost_the_cache_nothing(api, api_client):
    show, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    def cache_ops() -> float:
        families = text_string_to_metric_families(api_client.get("/metrics").content.decode())
        family = next(f for f in families if f.name == "airtime_shared_cache_ops")
        return sum(s.value for s in family.samples if s.name.endswith("_total"))

    assert wait_for(lambda: reader_get().subscribed, 10)  # subscribed: nothing more to open
    before, polls_before = cache_ops(), reader_get().polled_at
    for _ in range(300):
        assert api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip").status_code == 200
    # Only the poller talks to the cache, one manifest read a round, however many requests came.
    elapsed_polls = (reader_get().polled_at - polls_before) / 0.05 + 2
    assert cache_ops() - before <= elapsed_polls

    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3,
        title="新しい話", duration_s=1440, status="published",
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    newer = reassemble(api)[0]["version"]
    assert newer != manifest["version"]
    assert wait_for(lambda: serving(api_client, newer), 5)
    # The older version's chunks stay available to clients that read its manifest.
    assert api_client.get(chunk_path(manifest["version"], manifest["chunks"][0])).status_code == 200


def test_the_last_good_version_is_served_while_the_shared_cache_is_down_and_a_restart_heals(
    private_redis, redis_engine, settings, transactional_db, dynamodb, api_client
):
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    proc, url = private_redis
    settings.CACHEOPS_REDIS_URL = url
    backend_reset()
    readers_stop()
    view = RedisView(url, redis_engine.prefix)
    try:
        _, manifest, stream = published(view)
        assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
        port = url.rsplit(":", 1)[1].split("/")[0]
        process_stop(proc)  # the shared cache goes away mid-run

        assert wait_for(lambda: reader_get().cache_state.startswith("unreachable"), 10), reader_get().cache_state
        response = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200 and response.content == stream
        health = api_client.get("/healthz")
        assert health.status_code == 200 and json.loads(health.content)["shared_cache"].startswith("unreachable")
        assert (
            'airtime_errors_total{family="catalog",kind="shared_cache"}' in api_client.get("/metrics").content.decode()
        )

        # It comes back empty: the reader asks for the rebuild (run inline here) and goes on serving.
        restarted = subprocess.Popen(
            ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: reader_get().cache_state == "ok" and view.get(f"{view.prefix}:catalog:manifest"))
            assert api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip").content == stream
        finally:
            readers_stop()
            process_stop(restarted)
    finally:
        readers_stop()
        view.client.close()
        backend_reset()


def test_a_chunk_evicted_behind_the_manifest_asks_for_a_rebuild_and_the_old_bytes_stay(api, api_client, settings):
    show, manifest, stream = published(api)
    reader = reader_get()
    assert reader.current(wait_s=10) is not None
    settings.CACHEOPS_READER_POLL_SECONDS = 3600  # the test drives the rounds itself
    settings.CACHEOPS_READER_SUBSCRIBE = False  # nor do announcements
    reader.stop()
    reader_get().current()  # restarts with one round; then the test polls
    assert wait_for(lambda: reader.polled_at is not None)

    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3,
        title="新しい話", duration_s=1440, status="published",
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    newer, _ = reassemble(api)
    api.delete(newer["chunks"][0]["key"])  # evicted before any reader fetched it

    reader.poll()
    response = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")
    assert response["ETag"] == f'"{manifest["version"]}"' and response.content == stream
    assert Operation.objects.filter(kind="rebuild", family="catalog", requested_by="reader").exists()
    # The rebuild (run inline by the test settings) wrote the chunks again; the next round switches.
    reader.poll()
    assert serving(api_client, newer["version"])


def test_a_cold_process_waits_for_the_build_it_asked_for(api, api_client):
    show_create("薬屋のひとりごと", "kusuriya")
    # Nothing is published: the first request waits while the poller asks for the build (inline here).
    response = api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert "薬屋のひとりごと" in gzip.decompress(response.content).decode()
    assert Operation.objects.filter(kind="rebuild", family="catalog", requested_by="reader").count() == 1


def test_a_process_with_nothing_to_serve_answers_503_with_retry_after(api, api_client, settings):
    settings.CACHEOPS_READER_MISS_WAIT_SECONDS = 0.3
    settings.CACHEOPS_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.MOMENTO_LOCAL = "127.0.0.1:1"
    backend_reset()
    response = api_client.get("/api/catalog")
    assert response.status_code == 503 and response["Retry-After"]
    assert json.loads(response.content)["error"]["status"] == 503
    health = api_client.get("/healthz")
    assert health.status_code == 503 and json.loads(health.content)["status"] == "unavailable"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/catalog/chunks/zzz/-1/zzz", 404),
        ("get", "/api/catalog/chunks/0123456789abcdef/99999999999999999999/0123456789abcdef", 404),
        ("get", "/api/catalog/chunks/0123456789abcdef/0/0123456789abcdef", 404),
        ("get", "/api/catalog/chunks/0123456789abcdef/0", 404),
        ("get", "/api/programs/nope", 404),
        ("get", "/api/programs/" + "x" * 10_000, 404),
        ("get", "/api/" + "a" * 10_240, 404),
        ("get", "/api/catalog/", 404),
        ("post", "/api/catalog", 405),
        ("put", "/api/programs/x", 405),
        ("delete", "/api/catalog/manifest", 405),
    ],
)
def test_bad_requests_get_a_json_error(api, api_client, method, path, status):
    published(api)
    response = getattr(api_client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]["status"] == status
    assert response["Cache-Control"] == "no-store"  # a CDN must not keep an error for a URL that may work soon


def test_cors_allows_the_configured_origins_and_varies_on_origin(api, api_client):
    _, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    allowed = api_client.get("/api/catalog", HTTP_ORIGIN="https://app.example.jp")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.jp"
    assert "ETag" in allowed["Access-Control-Expose-Headers"]
    other = api_client.get("/api/catalog", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other["Vary"]
    preflight = api_client.options("/api/catalog", HTTP_ORIGIN="https://app.example.jp")
    assert preflight.status_code == 204 and "If-None-Match" in preflight["Access-Control-Allow-Headers"]


def test_no_response_outlives_the_next_content_boundary(api, api_client):
    now = datetime.now(UTC).replace(microsecond=0)
    show, _, _ = published(api)
    # An episode whose rights end in 100 seconds: no cache may keep the catalog past that instant.
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3, title="配信終了間近",
        duration_s=1440, status="published", expire_at=now + timedelta(seconds=100),
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    manifest, _ = reassemble(api)
    boundary = time_parse(manifest["next_boundary"])
    assert boundary == now + timedelta(seconds=100)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    for path in ("/api/catalog", f"/api/programs/{show.program.id}", "/api/catalog/manifest"):
        response = api_client.get(path, HTTP_ACCEPT_ENCODING="gzip")
        directives = dict(d.strip().partition("=")[::2] for d in response["Cache-Control"].split(","))
        max_age = int(directives["max-age"])
        longest = max_age + max(int(directives.get(k) or 0) for k in ("stale-while-revalidate", "stale-if-error"))
        assert datetime.now(UTC) + timedelta(seconds=longest) <= boundary, (path, response["Cache-Control"])


def test_cache_control_is_capped_at_the_boundary():
    now = datetime.now(UTC)
    assert cache_control(None, max_age=5, swr=30, sie=86400) == (
        "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400"
    )
    assert cache_control(now + timedelta(seconds=20.9), max_age=5, swr=30, sie=86400) == (
        "public, max-age=5, stale-while-revalidate=15, stale-if-error=15"
    )
    assert cache_control(now + timedelta(seconds=3.5), max_age=5, swr=30, sie=86400) == "public, max-age=3"
    assert cache_control(now - timedelta(seconds=1), max_age=5, swr=30) == "public, max-age=0, must-revalidate"


@pytest.fixture
def process_timer(settings):
    """This process's timer running, as in every web process, flushing at once."""
    settings.CACHEOPS_PROCESS_TIMER = True
    settings.CACHEOPS_METRICS_FLUSH_SECONDS = 0
    yield
    timers_stop()


def test_request_counts_reach_the_per_minute_rows(api, api_client, process_timer):
    show, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    for _ in range(5):
        api_client.get(f"/api/programs/{show.program.id}")

    def counted() -> bool:
        row = TrafficMinute.objects.filter(family=f"program:{show.program.id}").first()
        return row is not None and row.requests == 5 and row.l1_hits == 5

    assert wait_for(counted, 10)
    assert TrafficMinute.objects.filter(family="catalog", builds__gte=1).exists()
    # The poller's manifest reads and chunk fetches are counted against the family too.
    assert wait_for(lambda: TrafficMinute.objects.filter(family="catalog", cache_ops__gte=2).exists(), 10)


def test_a_future_episode_moves_the_boundary_even_when_the_catalog_is_unchanged(api):
    show, manifest, _ = published(api)
    airtime = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=3, title="最終話",
        duration_s=1440, status="published", publish_at=airtime,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    again, _ = reassemble(api)
    assert again["version"] == manifest["version"]  # nothing visible changed yet
    assert time_parse(again["next_boundary"]) == airtime


@pytest.mark.parametrize("draft", ["episode", "season", "program"])
def test_a_drafts_airtime_never_moves_the_boundary(api, draft):
    published(api)
    airtime = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    status = {level: "draft" if level == draft else "published" for level in ("program", "season", "episode")}
    program = services.program_create(user="test", title="薬屋のひとりごと", slug="kusuriya", status=status["program"])
    season = services.season_create(user="test", program_id=program.id, title="第1期", status=status["season"])
    services.episode_create(
        user="test", program_id=program.id, season_id=season.id, number=1, title="猫猫", duration_s=1440,
        status=status["episode"], publish_at=airtime,
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)

    again, _ = reassemble(api)
    assert again["next_boundary"] is None  # nothing the apps can see changes at that airtime


def test_a_process_that_just_started_serves_chunks_once_it_holds_the_version(api, api_client):
    _, manifest, stream = published(api)
    readers_stop()  # a fresh process: nothing held yet
    first = api_client.get(chunk_path(manifest["version"], manifest["chunks"][0]))
    assert first.status_code == 200 and first.content == stream[: manifest["chunks"][0]["bytes"]]


def test_a_purged_version_is_forgotten_by_every_reader_but_a_cache_restart_is_not(api, api_client, settings):
    _, manifest, stream = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    settings.CACHEOPS_READER_POLL_SECONDS = 3600  # the test drives the rounds itself
    settings.CACHEOPS_READER_SUBSCRIBE = False  # nor do announcements
    readers_stop()
    reader = reader_get()
    assert reader.current(wait_s=10) is not None

    api.delete(f"{api.prefix}:catalog:manifest")  # as a restarted, emptied cache looks
    reader.poll()
    assert serving(api_client, manifest["version"])  # stale-if-error: still served

    _, bad, bad_stream = published(api, "ダンジョン飯", "dungeon")
    reader.poll()
    bad_url = chunk_path(bad["version"], bad["chunks"][0])
    assert (
        serving(api_client, bad["version"])
        and api_client.get(bad_url).content == bad_stream[: bad["chunks"][0]["bytes"]]
    )

    release_actions.purge(family=operations.CATALOG, requested_by="ops")
    reader.poll()  # one poll: the purged version is gone, the intact earlier one is served meanwhile
    assert serving(api_client, manifest["version"])
    gone = api_client.get(bad_url)
    assert gone.status_code == 410 and json.loads(gone.content)["error"]["status"] == 410
    assert (
        api_client.get(chunk_path(manifest["version"], manifest["chunks"][0])).content
        == stream[: manifest["chunks"][0]["bytes"]]
    )
    assert Family.objects.get(name="catalog").previous_version != bad["version"]  # never rolled back to

    for entry in manifest["chunks"]:
        api.delete(entry["key"])  # evicted: nothing intact is left to fall back on
    release_actions.purge(family=operations.CATALOG, requested_by="ops")
    reader.poll()
    assert reader.current() is None  # 503 until the rebuild is published
    assert api_client.get("/api/catalog").status_code == 503
    assert api_client.get(bad_url).status_code == 410


def test_the_manifest_etag_names_its_bytes_so_a_ttl_refresh_is_not_answered_304(api, api_client):
    _, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    before = api_client.get("/api/catalog/manifest")
    expires = json.loads(before.content)["expires_at"]

    time.sleep(1.1)  # expires_at counts whole seconds
    operations.prewarm(requested_by="test")  # the same version, living longer
    assert wait_for(lambda: json.loads(api_client.get("/api/catalog/manifest").content)["expires_at"] != expires, 10)
    after = api_client.get("/api/catalog/manifest", HTTP_IF_NONE_MATCH=before["ETag"])

    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert json.loads(after.content)["version"] == manifest["version"]
    assert api_client.get("/api/catalog/manifest", HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


@pytest.mark.parametrize("token", ["é", "トークン", "\x00", "x" * 10_000])
def test_any_edge_token_sent_gets_an_answer_never_an_error(api, api_client, settings, token):
    settings.CACHEOPS_EDGE_TOKEN = "edge-secret"
    _, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)

    unknown = api_client.get("/api/catalog/chunks/0123456789abcdef/0/0123456789abcdef", HTTP_X_EDGE_TOKEN=token)
    known = api_client.get(chunk_path(manifest["version"], manifest["chunks"][0]), HTTP_X_EDGE_TOKEN=token)

    assert unknown.status_code == 404 and json.loads(unknown.content)["error"]["status"] == 404
    assert known.status_code == 200


def test_healthz_names_states_only_never_hosts_or_exception_texts(api, api_client, settings):
    from cacheops.read import health

    _, manifest, _ = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:1"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    health._checked.clear()
    try:
        response = api_client.get("/healthz")
    finally:
        health._checked.clear()

    report = json.loads(response.content)
    assert response.status_code == 200 and report["version"] == manifest["version"]
    assert report["shared_cache"] == "ok"
    assert "127.0.0.1" not in response.content.decode()
    # The read path uses the cache and the broker; the content store is the workers' concern (whether any is alive,
    # the process's timer reads from SQL).
    assert set(report) == {"status", "version", "as_of", "last_poll_s_ago", "shared_cache", "broker", "workers"}
    assert report["broker"] in {"ok", "error"} and report["workers"] in {"ok", "none alive", "unknown"}


def test_a_chunk_url_never_answers_other_bytes_when_the_same_version_is_chunked_again(api, api_client, settings):
    settings.CACHEOPS_CHUNK_BYTES = 400
    _, manifest, stream = published(api)
    assert wait_for(lambda: serving(api_client, manifest["version"]), 10)
    first = json.loads(api_client.get("/api/catalog/manifest").content)["chunks"][0]
    assert api_client.get(first["url"]).content == stream[:400]

    settings.CACHEOPS_CHUNK_BYTES = 300  # same content, same version, other chunks
    api.delete(manifest["chunks"][0]["key"])  # evicted: the build writes the version again, cut anew
    operations.catalog_rebuild(requested_by="test", full=True)
    assert wait_for(
        lambda: json.loads(api_client.get("/api/catalog/manifest").content)["chunks"][0]["bytes"] == 300, 10
    )
    second = json.loads(api_client.get("/api/catalog/manifest").content)["chunks"][0]

    assert second["url"] != first["url"]
    assert api_client.get(second["url"]).content == stream[:300]
    assert api_client.get(first["url"]).status_code == 404  # never 300 bytes under the URL that served 400
