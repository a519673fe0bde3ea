"""GET /api/catalog/events: the versions a process serves, pushed as Server-Sent Events by the ASGI read side."""

import asyncio
import json
import threading

import pytest
from django.core.asgi import get_asgi_application

from cacheops.build import operations
from cacheops.keys import chunk_path
from cacheops.metrics import EVENTS_OPEN
from cacheops.read.asgi import ReadSideAsgi
from cacheops.read.reader import readers_stop
from tests.cacheops.conftest import reassemble, show_create, wait_for
from tests.cacheops.test_openapi import ABSOLUTE, schema_check

ORIGIN = "https://app.example.jp"


class Stream:
    """One client of /api/catalog/events, on an event loop of its own, until it hangs up."""

    def __init__(self, **headers: str) -> None:
        self.app = ReadSideAsgi(get_asgi_application())
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.start: dict | None = None
        self.text = ""
        self._loop = asyncio.new_event_loop()
        self._hang_up = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/api/catalog/events", "raw_path": b"/api/catalog/events", "query_string": b"", "root_path": "",
            "headers": self.headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        }  # fmt: skip

        async def receive() -> dict:
            await self._hang_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.start = message
            else:
                self.text += message.get("body", b"").decode()

        self._loop.run_until_complete(self.app(scope, receive, send))

    def events(self) -> list[dict]:
        """The events received so far: their fields, with `data` decoded."""
        found = []
        for block in self.text.split("\n\n"):
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
            )
            if fields.get("event") == "version":
                found.append({**fields, "data": json.loads(fields["data"])})
        return found

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._hang_up.set)
        self._thread.join(10)


@pytest.fixture
def events(redis_engine, settings, transactional_db, dynamodb):
    """The catalog published; streams opened by the test, hung up afterwards."""
    settings.CACHEOPS_READER_POLL_SECONDS = 60  # only announcements move the readers within a test's waits
    settings.CACHEOPS_CORS_ORIGINS = [ORIGIN]
    readers_stop()
    show = show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    opened: list[Stream] = []

    def stream(**headers: str) -> Stream:
        opened.append(Stream(**headers))
        return opened[-1]

    yield show, stream, redis_engine
    for one in opened:
        one.close()
    readers_stop()


def _open_now() -> float:
    return EVENTS_OPEN._value.get()


def test_a_client_gets_the_current_version_at_once_then_an_event_for_each_new_one(events):
    show, stream, view = events
    manifest, _ = reassemble(view)
    before = _open_now()
    client = stream(origin=ORIGIN)
    assert wait_for(lambda: len(client.events()) == 1, 10), client.text

    headers = dict(client.start["headers"])
    assert client.start["status"] == 200
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"cache-control"] == b"no-store" and headers[b"access-control-allow-origin"] == ORIGIN.encode()
    retry = int(client.text.split("retry: ", 1)[1].split("\n", 1)[0])
    assert 1000 <= retry <= 3000
    [first] = client.events()
    assert first["id"] == manifest["version"]
    assert first["data"] == {
        "version": manifest["version"],
        "etag": f'"{manifest["version"]}"',
        "as_of": manifest["as_of"],
        "catalog": "/api/catalog",
        "manifest": "/api/catalog/manifest",
        "chunks": [chunk_path(manifest["version"], entry) for entry in manifest["chunks"]],
    }
    assert _open_now() == before + 1
    # As the API's document says: its headers, and the event's data.
    documented = ABSOLUTE["paths"]["/api/catalog/events"]["get"]["responses"]["200"]
    for name, header in documented["headers"].items():
        if header.get("required"):
            schema_check(headers[name.lower().encode()].decode(), header["schema"])
    assert documented["content"].keys() == {"text/event-stream"}
    schema_check(first["data"], documented["content"]["text/event-stream"]["x-event-data"])

    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    newer, _ = reassemble(view)

    assert wait_for(lambda: len(client.events()) == 2, 10), client.text
    assert client.events()[1]["id"] == newer["version"] != manifest["version"]
    assert client.events()[1]["data"]["etag"] == f'"{newer["version"]}"'
    client.close()
    assert _open_now() == before


def test_last_event_id_resumes_from_the_version_the_client_holds(events):
    _, stream, view = events
    manifest, _ = reassemble(view)
    current = stream(**{"last-event-id": manifest["version"]})
    behind = stream(**{"last-event-id": "0123456789abcdef"})
    assert wait_for(lambda: len(behind.events()) == 1, 10)

    assert behind.events()[0]["id"] == manifest["version"]  # what it missed, at once
    assert current.events() == []  # it holds the current version: nothing to say yet

    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    newer, _ = reassemble(view)
    assert wait_for(lambda: [e["id"] for e in current.events()] == [newer["version"]], 10), current.text


def test_an_idle_stream_gets_heartbeats(events, settings):
    settings.CACHEOPS_EVENTS_HEARTBEAT_SECONDS = 0.2
    _, stream, _ = events
    client = stream()
    assert wait_for(lambda: client.text.count(": heartbeat\n\n") >= 3, 10), client.text
    assert len(client.events()) == 1
