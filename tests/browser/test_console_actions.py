"""The console's buttons in Chromium: Ops press Prewarm and watch it finish; editors get no buttons; purge asks;
a rollback is confirmed on a page of its own, pins at once, and resuming brings the newest version back."""

import itertools
import uuid

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from cacheops.build import operations
from cacheops.models import ConsoleTask, Family
from cms.celery import app
from tests.browser.conftest import staff_login
from tests.cacheops.conftest import _engine_use, catalog_published_twice, show_create

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
    page.click("#catalog-card .family-link")  # the actions live on the family page

    # Each task's button first says what it does; the task starts only once confirmed.
    confirm = page.locator("#family-actions .action-prewarm button")
    assert not confirm.is_visible()
    page.click("#family-actions .confirm-prewarm summary")
    assert "すべてのチャンクを読み戻して検証し" in page.inner_text("#family-actions .action-prewarm .help")
    assert confirm.inner_text() == "catalog を事前準備"
    confirm.click()

    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/?task=*")
    task = page.locator("#family-actions .console-task")
    assert task.get_attribute("data-task-finished") == "true"
    assert page.locator("#family-actions progress").get_attribute("value") == "1"
    assert "task-success" in task.get_attribute("class")
    assert page.inner_text("#family-facts tr:nth-child(2) td code") == published
    assert page.locator("#family-facts [data-ttl-seconds]").count() == 1
    assert page.locator("#family-actions button:enabled").count() == 3
    assert refused == []


def test_the_progress_bar_follows_a_running_task_until_it_succeeds(page, live_server, published):
    task_id = str(uuid.uuid4())
    task = ConsoleTask.objects.create(family="catalog", kind="rebuild", task_id=task_id, requested_by="oki")
    login(page, live_server, group="Ops")
    try:
        app.backend.store_result(task_id, {"stage": "programs", "done": 1, "total": 4}, "PROGRESS")
        page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")
        assert page.locator("#family-actions button:enabled").count() == 0  # the family's task buttons are busy
        # Rolling back is no task: it stays at hand while one runs.
        expect(page.locator("#family-actions a.action-rollback")).to_be_visible()

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
    assert page.locator("#family-actions button:enabled").count() == 3


def test_an_editor_sees_no_enabled_buttons(page, live_server, published):
    login(page, live_server, group="Editors")

    for path in ("/admin/cacheops/", "/admin/cacheops/family/catalog/"):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("form.console-action button:enabled").count() == 0, path
        assert page.locator("#catalog-card[data-family='catalog'], #family-facts[data-family='catalog']").count() == 1


def test_purge_refuses_a_wrongly_typed_name(page, live_server, published):
    login(page, live_server, superuser=True)
    page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")

    page.fill("#family-actions .action-purge input[name=confirm]", "catalgo")
    page.click("#family-actions .action-purge button")

    page.wait_for_selector("#purge-errors")
    assert "catalog" in page.inner_text("#purge-errors")
    assert page.inner_text("#family-facts tr:nth-child(2) td code") == published
    assert not ConsoleTask.objects.exists()


@pytest.fixture
def two_versions(redis_engine, dynamodb):
    """The catalog published twice: v1 with one episode, then v2 with a second one; returns (v1, v2)."""
    published = catalog_published_twice()
    return published.v1, published.v2


def current_version(page) -> str:
    return page.inner_text("#family-facts tr:nth-child(2) td code")


def roll_back(page, live_server, reason: str) -> None:
    """From the family page: open the rollback page, give a reason, confirm."""
    page.click("#family-actions a.action-rollback")
    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/rollback/")
    page.fill("#rollback-form textarea[name=reason]", reason)
    page.click("#rollback-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/")


def test_a_rollback_is_confirmed_after_reading_what_it_removes_and_pins_at_once(page, live_server, two_versions):
    v1, v2 = two_versions
    refused = refusals(page)
    # A build that never finished: its worker died. The rollback neither waits for it nor joins it.
    ConsoleTask.objects.create(family="catalog", kind="rebuild", task_id=str(uuid.uuid4()), requested_by="oki")
    user = login(page, live_server, group="Ops")
    page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")
    page.click("#family-actions a.action-rollback")

    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/rollback/")
    expect(page.locator("#earlier-versions tr.chosen")).to_have_attribute("data-version", v1)
    changes = page.locator("#rollback-changes .change-removed.changes-episodes")
    expect(changes).to_contain_text("葬送のフリーレン")
    expect(changes).to_contain_text("魔法使いの隠し事")
    page.click("#rollback-form button[type=submit]")  # no reason given: the browser keeps the form
    assert page.url == f"{live_server.url}/admin/cacheops/family/catalog/rollback/"
    page.fill("#rollback-form textarea[name=reason]", "第2話の配信開始が早すぎた")
    page.click("#rollback-form button[type=submit]")

    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/")
    assert current_version(page) == v1
    banner = page.locator("#pin-banner")
    expect(banner).to_contain_text(user.username)
    expect(banner).to_contain_text("第2話の配信開始が早すぎた")
    expect(banner.locator(".change-added")).to_contain_text("魔法使いの隠し事")
    assert Family.objects.get(name="catalog").pinned_by == user.username
    assert ConsoleTask.objects.get().finished_at is None
    assert refused == []


def test_ops_roll_back_see_the_pin_then_resume_and_the_newest_version_is_current_again(page, live_server, two_versions):
    v1, v2 = two_versions
    user = login(page, live_server, group="Ops")
    page.goto(f"{live_server.url}/admin/cacheops/family/catalog/")

    roll_back(page, live_server, "差し替え確認中")

    expect(page.locator("#pin-banner .pin-who")).to_contain_text(user.username)
    expect(page.locator("#pin-banner .pin-reason")).to_contain_text("差し替え確認中")
    page.goto(f"{live_server.url}/admin/cacheops/")
    expect(page.locator("#catalog-card .state-badge")).to_have_class("state-badge state-pinned")
    page.click("#catalog-card .family-link")
    resume = page.locator("#pin-banner .action-resume button")
    expect(resume).to_have_text("公開を再開")

    resume.click()

    page.wait_for_url(f"{live_server.url}/admin/cacheops/family/catalog/")
    expect(page.locator("#pin-banner")).to_have_count(0)
    assert current_version(page) == v2
    assert Family.objects.get(name="catalog").pinned_at is None
