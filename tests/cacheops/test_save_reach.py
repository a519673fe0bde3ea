"""An editor saving live content is told about how long it takes to reach the apps, and it does."""

import html
import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from cacheops.read.reader import readers_stop
from tests.cacheops.conftest import show_create, staff_client, wait_for
from tests.cms.conftest import form_read


@pytest.fixture
def live_site(redis_engine, settings, transactional_db, dynamodb):
    """Saves queue rebuilds (run inline) on Redis; the read API polls at the configured pace."""
    settings.CACHEOPS_REBUILD_ON_SAVE = True
    readers_stop()
    yield
    readers_stop()


def catalog_text(client) -> str:
    return client.get("/api/catalog", HTTP_ACCEPT_ENCODING="identity").content.decode()


def test_a_live_save_reaches_the_api_within_the_seconds_the_editor_is_told(live_site, settings, api_client):
    show = show_create("葬送のフリーレン", "frieren", episodes=("旅立ち",))
    assert wait_for(lambda: "旅立ち" in catalog_text(api_client), 10)
    staff = staff_client(Client(), "Editors")
    url = reverse("admin:cms_episode_change", args=[show.episodes[0].id])
    values = form_read(staff.get(url), "episode_form").values

    started = time.monotonic()
    response = staff.post(url, {**values, "title": "魔法使いの隠し事"}, follow=True)
    told = re.search(r"アプリには約(\d+)秒で反映されます。", html.unescape(response.content.decode()))
    seconds = int(told.group(1))
    reached = wait_for(lambda: "魔法使いの隠し事" in catalog_text(api_client), seconds - (time.monotonic() - started))

    # The build, then every web process is told at once (about a second), then caches in front add their max-age.
    assert seconds == round(settings.CACHEOPS_REBUILD_TYPICAL_SECONDS + 1 + 5)
    assert reached, f"not in the catalog {seconds} s after the save"
