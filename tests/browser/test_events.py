"""An app in Chromium listens to /api/catalog/events and refetches the catalog by the ETag each event names."""

import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from cacheops.build import operations
from cacheops.read.reader import readers_stop
from cms.store.local import free_port
from tests.cacheops.conftest import get, process_env, process_stop, reassemble, show_create, wait_for

pytestmark = pytest.mark.browser

# The app: one EventSource; each event is kept with the instant it came, then the catalog revalidated (its copy may
# be the one the event replaces: the browser sends that copy's ETag, and gets the event's version back).
APP = """
window.seen = [];
const source = new EventSource("/api/catalog/events");
source.addEventListener("version", async (message) => {
  const event = JSON.parse(message.data);
  const at = Date.now();
  const catalog = await fetch(event.catalog, {cache: "no-cache"});
  const body = await catalog.json();
  window.seen.push({id: message.lastEventId, at, event, status: catalog.status, etag: catalog.headers.get("ETag"),
                    titles: body.programs.map((p) => p.title)});
});
"""


@pytest.fixture
def asgi_server(redis_engine, transactional_db, dynamodb, tmp_path, settings):
    """The ASGI application (cms.asgi) under granian, sharing this test's cache; yields its URL."""
    readers_stop()
    env = process_env(tmp_path, CACHEOPS_READER_POLL_SECONDS="60")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=django_settings.BASE_DIR, env=env, check=True)
    port = free_port()
    with (tmp_path / "granian.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
            + ["--workers", "1", "--log-level", "warning", "cms.asgi:application"],
            cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def answers() -> bool:
            try:
                return get(port, "/api/catalog", timeout_s=5)[0] == 200
            except OSError:
                return False

        assert wait_for(lambda: answers() or proc.poll() is not None, 30), (tmp_path / "granian.log").read_text()
        assert proc.poll() is None, (tmp_path / "granian.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process_stop(proc)
        readers_stop()


def test_an_app_hears_of_an_edit_within_a_second_and_refetches_the_catalog_by_its_etag(
    page, redis_engine, transactional_db, dynamodb, tmp_path, settings, request
):
    show_create("葬送のフリーレン", "frieren", ["旅立ち"])
    operations.catalog_rebuild(requested_by="test", full=True)
    first, _ = reassemble(redis_engine)
    server = request.getfixturevalue("asgi_server")
    page.goto(f"{server}/api/openapi.json")  # any page of the API's origin
    page.evaluate(APP)
    page.wait_for_function("window.seen.length === 1")
    [opened] = page.evaluate("window.seen")
    assert opened["id"] == first["version"] and opened["etag"] == opened["event"]["etag"] == f'"{first["version"]}"'

    show_create("薬屋のひとりごと", "kusuriya")
    operations.catalog_rebuild(requested_by="test", full=True)
    published_at = time.time() * 1000
    newer, _ = reassemble(redis_engine)

    page.wait_for_function("window.seen.length === 2")
    heard = page.evaluate("window.seen")[1]
    assert heard["id"] == newer["version"] != first["version"]
    # Refetched by the event's ETag: the catalog answered is the version the event named, with the edit in it.
    assert heard["status"] == 200 and heard["etag"] == heard["event"]["etag"] == f'"{newer["version"]}"'
    assert "薬屋のひとりごと" in heard["titles"]
    assert heard["at"] - published_at < 1000, f"heard {heard['at'] - published_at:.0f} ms after the edit was published"
