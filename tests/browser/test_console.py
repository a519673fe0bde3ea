"""The cache console in Chromium: the TTL left counts down live, and nothing breaks the Content-Security-Policy."""

import pytest

from cacheops.build import operations
from tests.cacheops.conftest import _engine_use, show_create

pytestmark = pytest.mark.browser

CATALOG_TTL = "#catalog-card [data-fact='ttl'] [data-ttl-seconds]"


@pytest.fixture
def redis_engine(request, settings):
    """The cache engine on Redis under a key prefix of this test's own."""
    yield from _engine_use(request, settings, "redis")


def seconds(text: str) -> int:
    hours, minutes, rest = map(int, text.split(":"))
    return hours * 3600 + minutes * 60 + rest


def test_the_ttl_left_counts_down_live_under_the_policy(page, editor_login, live_server, redis_engine):
    show_create("葬送のフリーレン", "frieren")
    operations.catalog_rebuild(requested_by="test", full=True)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    editor_login(page)

    page.click("#cacheops-console-link caption a")
    page.wait_for_url(f"{live_server.url}/admin/cacheops/")
    before = page.inner_text(CATALOG_TTL)
    page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).textContent !== before", arg=[CATALOG_TTL, before]
    )

    after = page.inner_text(CATALOG_TTL)
    assert 0 < seconds(before) - seconds(after) <= 3
    page.click("#catalog-card .family-link")
    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/")
    assert page.locator("#traffic-chart path.series").count() == 2
    assert refused == []
