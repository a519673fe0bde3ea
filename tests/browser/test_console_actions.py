"""The console's buttons in Chromium: Ops press Prewarm and watch it finish; editors get no buttons; purge asks."""

import itertools
import uuid

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from cacheops import operations
from cacheops.models import ConsoleTask
from cms.celery import app
from tests.browser.conftest import staff_login
from tests.cacheops.conftest import _engine_use, show_create

pytestmark = pytest.mark.browser

NUMBERS = itertools.count(1)


@pytest.fixture
def redis_engine(request, settings):
    """The cache engine on Redis under a key prefix of this test's own."""
    yield from _engine_use(request, settings, "redis")


@pytest.fixture
def published(redis_engine, dynamodb):
    show_create("葬送のフリーレン", "frieren")
    return operations.catalog_rebuild(requested_by="test", full=True).version_after


def login(page, live_server, *, group: str | None = None, superuser: bool = False) -> User:
    return staff_login(page, live_server.url, f"staff{next(NUMBERS)}", group=group, superuser=superuser)


def refusals(page) -> list[str]:
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def test_ops_press_prewarm_and_watch_it_finish_with_the_version_and_ttl_shown(page, live_server, published):
    refused = refusals(page)
    login(page, live_server, group="Ops")
    page.goto(f"{live_server.url}/admin/cacheops/")

    page.click("tr[data-actions-for='catalog'] .action-prewarm button")

    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/?task=*")
    task = page.locator("#family-actions .console-task")
    assert task.get_attribute("data-task-finished") == "true"
    assert page.locator("#family-actions progress").get_attribute("value") == "1"
    assert "task-success" in task.get_attribute("class")
    assert page.inner_text("#family-facts tr:nth-child(2) td code") == published
    assert page.locator("#family-facts [data-ttl-seconds]").count() == 1
    assert page.locator("#family-actions button:enabled").count() == 4
    assert refused == []


def test_the_progress_bar_follows_a_running_task_until_it_succeeds(page, live_server, published):
    task_id = str(uuid.uuid4())
    task = ConsoleTask.objects.create(family="catalog", kind="rebuild", task_id=task_id, requested_by="oki")
    login(page, live_server, group="Ops")
    try:
        app.backend.store_result(task_id, {"stage": "programs", "done": 1, "total": 4}, "PROGRESS")
        page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")
        assert page.locator("#family-actions button:enabled").count() == 0  # the family is busy

        app.backend.store_result(task_id, {"stage": "programs", "done": 3, "total": 4}, "PROGRESS")
        bar = page.locator("#family-actions progress")
        expect(bar).to_have_attribute("value", "3")
        expect(bar).to_have_attribute("max", "4")

        app.backend.mark_as_done(task_id, {"result": "published", "version": published})
        expect(bar).to_have_count(0)  # finished: the page was read again
    finally:
        app.backend.forget(task_id)
    task.refresh_from_db()
    assert task.state == "SUCCESS" and task.finished_at is not None
    assert page.locator("#family-actions button:enabled").count() == 4


def test_an_editor_sees_no_enabled_buttons(page, live_server, published):
    login(page, live_server, group="Editors")

    for path in ("/admin/cacheops/", "/admin/cacheops/family/catalog/"):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("form.console-action button:enabled").count() == 0, path
        assert page.locator("tr[data-family='catalog']").count() + page.locator("#family-facts").count() == 1


def test_purge_refuses_a_wrongly_typed_name(page, live_server, published):
    login(page, live_server, superuser=True)
    page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")

    page.fill("#family-actions .action-purge input[name=confirm]", "catalgo")
    page.click("#family-actions .action-purge button")

    page.wait_for_selector("#purge-errors")
    assert "catalog" in page.inner_text("#purge-errors")
    assert page.inner_text("#family-facts tr:nth-child(2) td code") == published
    assert not ConsoleTask.objects.exists()
