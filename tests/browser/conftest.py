"""Headless Chromium against the live server, and editors who log in through the real form."""

import itertools
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import sync_playwright

from cacheops import clock
from cacheops.console import schedules
from cacheops.read.reader import readers_stop
from cms.broadcast import JST
from tests.cacheops.conftest import _engine_use

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct-horse-battery-staple"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh browser contexts (separate cookies), closed after the test."""
    contexts = []

    def open_page():
        context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def staff_login(page, base_url: str, username: str, *, group: str | None = None, superuser: bool = False) -> User:
    """Create a staff user (in `group`, if given) and log them in on `page` through /admin/login/."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    return user


@pytest.fixture
def editor_login(live_server, dynamodb):
    """Create an editor in the Editors group and log them in on `page` through /admin/login/."""
    numbers = itertools.count(1)

    def login(page):
        return staff_login(page, live_server.url, f"editor{next(numbers)}", group="Editors")

    return login


# A fixed evening, far from whatever day and hour the suite runs on.
EVENING = datetime(2031, 4, 12, 22, 30, tzinfo=JST)


class FakeClock:
    """The instant every clock on the path tells; the test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)


@pytest.fixture
def redis_engine(request, settings):
    """The cache engine on Redis under a key prefix of this test's own."""
    yield from _engine_use(request, settings, "redis")


@pytest.fixture
def fake_clock(monkeypatch):
    """The cache engine's clock, and the airtime page's own now, held at EVENING until the test moves them."""
    controlled = FakeClock(EVENING)
    monkeypatch.setattr(clock, "now", controlled.now)
    monkeypatch.setattr(schedules, "timezone", SimpleNamespace(now=controlled.now))
    return controlled


@pytest.fixture
def server(live_server, redis_engine, dynamodb, settings, fake_clock):
    """The live server with a reader polling fast, staging 10 minutes ahead and no edge to warm."""
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    settings.CACHEOPS_STAGE_AHEAD_SECONDS = 600
    settings.CACHEOPS_EDGE_URL = ""
    readers_stop()
    yield live_server
    readers_stop()
