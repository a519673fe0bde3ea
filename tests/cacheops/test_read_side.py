"""The read side, answering in front of Django, says exactly what the API said inside Django's request cycle.

`read_side_answers.json` holds the answers the API gave to every request of `read_side_matrix.REQUESTS` when it was
a Django middleware, recorded before it moved out; this suite asks the same of the read side and compares.
"""

import gzip
import json
from pathlib import Path

import pytest

from cacheops.build import operations
from cacheops.read.reader import readers_stop
from tests.cacheops.conftest import body_of, reassemble, show_create, wait_for
from tests.cacheops.read_side_matrix import ORIGIN, Names, answers

RECORDED = Path(__file__).with_name("read_side_answers.json")


def intended(recorded: dict) -> dict:
    """A recorded answer with the changes made on purpose since: program pages negotiate gzip (so they vary on
    Accept-Encoding), and a preflight's empty 204 no longer names a content type."""
    method, path, _ = recorded["request"]
    headers = dict(recorded["headers"])
    if path == "/api/programs/{program}" and "vary" in headers and recorded["status"] != 405:
        headers["vary"] = "Accept-Encoding, Origin"
    if method == "OPTIONS" and recorded["status"] == 204:
        headers.pop("content-type")
    return recorded | {"headers": headers}


@pytest.fixture
def catalog(redis_engine, settings, transactional_db, dynamodb):
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    settings.CACHEOPS_CHUNK_BYTES = 150
    settings.CACHEOPS_CORS_ORIGINS = [ORIGIN]
    settings.CACHEOPS_EDGE_TOKEN = "edge-secret"
    readers_stop()
    show = show_create("葬送のフリーレン", "frieren", episodes=("旅立ち", "魔法使いの隠し事"))
    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    manifest, stream = reassemble(redis_engine)
    yield show, manifest, stream
    readers_stop()


def call_of(api_client):
    def call(method, path, headers):
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
        response = api_client.generic(method, path, **meta)
        return response.status_code, dict(response.header_list), response.content

    return call


def served(api_client, version: str) -> bool:
    return api_client.get("/api/catalog", HTTP_ACCEPT_ENCODING="gzip").headers.get("ETag") == f'"{version}"'


@pytest.fixture(params=["wsgi", "asgi"])
def side(request):
    """The read side under each interface: cms.wsgi's, then cms.asgi's."""
    return request.getfixturevalue("api_client" if request.param == "wsgi" else "asgi_client")


def test_every_endpoint_and_representation_answers_as_it_did_inside_django(catalog, side):
    api_client = side
    show, manifest, stream = catalog
    assert wait_for(lambda: served(api_client, manifest["version"]), 10)
    public = api_client.get("/api/catalog/manifest").content
    names = Names(manifest, stream, body_of(manifest, stream), show.program.id, public)

    now = answers(call_of(api_client), names)

    expected = [intended(recorded) for recorded in json.loads(RECORDED.read_text())]
    assert [answer["request"] for answer in now] == [answer["request"] for answer in expected]
    for answer, recorded in zip(now, expected, strict=True):
        assert answer == recorded, answer["request"]
    # Asked again, the answers kept for this version are given: the same ones.
    assert answers(call_of(api_client), names) == now


def test_program_pages_are_gzipped_for_clients_that_take_it_under_an_etag_of_their_own(catalog, side):
    api_client = side
    show, manifest, stream = catalog
    assert wait_for(lambda: served(api_client, manifest["version"]), 10)
    url = f"/api/programs/{show.program.id}"
    plain = api_client.get(url)

    packed = api_client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert packed.status_code == 200 and packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert len(packed.content) < len(plain.content) and packed["Content-Length"] == str(len(packed.content))
    assert packed["ETag"] != plain["ETag"] and packed["Cache-Control"] == plain["Cache-Control"]
    assert packed["Vary"] == plain["Vary"] == "Accept-Encoding, Origin"
    assert "Content-Encoding" not in plain.headers
    # Each representation validates only itself, and the same bytes keep their tag from request to request.
    assert api_client.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=packed["ETag"]).status_code == 304
    assert api_client.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 200
    assert api_client.get(url, HTTP_IF_NONE_MATCH=packed["ETag"]).status_code == 200
    assert api_client.get(url, HTTP_ACCEPT_ENCODING="gzip;q=0").content == plain.content
    again = api_client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert (again["ETag"], again.content) == (packed["ETag"], packed.content)


def test_other_paths_are_left_to_django(catalog, side):
    api_client = side
    login = api_client.get("/admin/login/")

    assert login.status_code == 200 and login["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in login.headers  # Django's middleware ran: the read side did not answer
    other = api_client.get("/apix")
    assert other.status_code == 404 and other["Content-Type"].startswith("text/html")  # Django's page, not JSON


def test_a_header_in_any_case_spelling_or_repetition_gets_the_answer_its_value_asks_for(catalog, asgi_client):
    _, manifest, _ = catalog
    assert wait_for(lambda: served(asgi_client, manifest["version"]), 10)
    etag = f'"{manifest["version"]}"'.encode()
    gzip_only = [(b"accept-encoding", b"gzip")]
    assert asgi_client.generic("GET", "/api/catalog", raw=gzip_only).status_code == 200  # kept from now on

    for sent in (
        [(b"If-None-Match", etag)],
        [(b"if_none_match", etag)],
        [(b"if-none-match", b""), (b"if-none-match", etag)],
    ):
        assert asgi_client.generic("GET", "/api/catalog", raw=gzip_only + sent).status_code == 304, sent


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_the_events_stream_refuses_other_methods_with_405_naming_get(catalog, side, method):
    api_client = side

    refused = api_client.generic(method, "/api/catalog/events", HTTP_ORIGIN=ORIGIN)

    assert refused.status_code == 405 and refused["Allow"] == "GET, OPTIONS"
    assert refused["Access-Control-Allow-Origin"] == ORIGIN
    if method != "HEAD":
        assert json.loads(refused.content)["error"] == {"status": 405, "message": f"{method} is not allowed here"}


def test_a_preflight_for_the_events_stream_allows_get_and_last_event_id(catalog, side):
    api_client = side

    preflight = api_client.options(
        "/api/catalog/events",
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="last-event-id",
    )

    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight["Access-Control-Allow-Methods"] == "GET"
    assert preflight["Access-Control-Allow-Headers"] == "Last-Event-ID"


def test_a_wsgi_server_answers_the_events_stream_501_naming_the_server_that_holds_it(catalog, api_client):
    answer = api_client.get("/api/catalog/events", HTTP_ACCEPT="text/event-stream")

    assert answer.status_code == 501 and answer["Content-Type"].startswith("application/json")
    assert "python -m cms.serve" in json.loads(answer.content)["error"]["message"]
