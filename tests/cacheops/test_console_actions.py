"""The console's buttons: who may press which, one task per family (a second press joins it), progress; release
actions (rollback, resume, purge, accept) are no tasks and never join one (see test_console_releases)."""

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, Permission, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from cacheops.build import operations
from cacheops.console import actions
from cacheops.manifest import manifest_read
from cacheops.models import ConsoleTask, Family, Operation
from cms import services
from cms.celery import app
from cms.groups import groups_ensure
from cms.store.local import free_port
from tests.cacheops.conftest import show_create
from tests.cacheops.test_console import EN, OPERATIONS, OVERVIEW, family_url, language_restored  # noqa: F401 (an autouse fixture)
from tests.cms.test_csp import refused_by_policy

TASKS = ("rebuild", "prewarm", "invalidate")
RELEASES = ("rollback", "resume", "purge", "accept")
ACTIONS = TASKS + RELEASES
PERMISSIONS = ("rebuild", "prewarm", "invalidate", "purge", "rollback")


def action_url(name: str, action: str) -> str:
    return f"/admin/cacheops/family/{name}/{action}/"


def task_url(task_id) -> str:
    return f"/admin/cacheops/tasks/{task_id}/"


def press(client, name: str, action: str, confirm: str | None = None, **extra):
    """POST a button: purge with the family's name typed (or `confirm`), rollback with a version and a reason."""
    data = {}
    if action == "purge":
        data = {"confirm": name if confirm is None else confirm}
    elif action == "rollback":
        data = {"version": extra.pop("version", ""), "reason": extra.pop("reason", "broken artwork on air")}
    return client.post(action_url(name, action), data, **extra)


def user_make(role: str) -> User | None:
    """A user of `role`: a staff group, a superuser, or staff holding cacheops.purge alone (or with Ops)."""
    if role == "anonymous":
        return None
    if role == "superuser":
        return User.objects.create_superuser(f"root-{uuid.uuid4().hex[:6]}", password="x")
    user = User.objects.create_user(f"{role}-{uuid.uuid4().hex[:6]}", is_staff=True)
    group = {"ops+purge": "Ops", "purge only": None}.get(role, role)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if "purge" in role:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="cacheops", codename="purge"))
    return user


def logged_in(client, role: str):
    if user := user_make(role):
        client.force_login(user)
    return client


def family_make(name: str = "catalog", version: str = "0123456789abcdef") -> Family:
    return Family.objects.create(name=name, current_version=version, manifest={"version": version, "chunks": []})


@pytest.fixture
def sent(monkeypatch):
    """Capture what the console sends instead of running it: each call becomes a task that stays queued."""
    calls = []

    def capture(name, *args, **kwargs):
        calls.append((name, kwargs))
        return SimpleNamespace(id=str(uuid.uuid4()))

    monkeypatch.setattr(actions, "task_send", capture)
    return calls


@pytest.fixture
def published(redis_engine, dynamodb):
    """The catalog published twice (v1, then v2 replacing it), for real in Redis; returns (v1, v2)."""
    show = show_create("葬送のフリーレン", "frieren", ("旅立ち",))
    v1 = operations.catalog_rebuild(requested_by="test", full=True).version_after
    services.program_update(program_id=show.program.id, version=show.program.version, user="test", title="フリーレン")
    v2 = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert v1 != v2
    return v1, v2


def status_json(client, task_id) -> dict:
    response = client.get(task_url(task_id))
    assert response.status_code == 200
    return response.json()


# Who may press what

ROLES = ("anonymous", "Viewers", "Editors", "Ops", "superuser", "purge only", "ops+purge")
PAGE_STATUS = {
    "anonymous": 302,
    "Viewers": 200,
    "Editors": 200,
    "Ops": 200,
    "superuser": 200,
    "purge only": 403,  # the purge permission alone does not let anyone see the console
    "ops+purge": 200,
}
ALLOWED = {
    "Ops": {"rebuild", "prewarm", "invalidate", "rollback", "resume"},
    "superuser": set(ACTIONS),
    "ops+purge": set(ACTIONS),
}
# What an allowed press answers on a family with nothing to roll back to, nothing pinned and nothing held back:
# the rollback form has no version to offer (400); the others are refused with a message on the family page.
ALLOWED_STATUS = {"rollback": 400, "resume": 302, "purge": 302, "accept": 302}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_permission_matrix_of_every_page_and_every_action(client, role, sent):
    family_make()
    task = ConsoleTask.objects.create(family="catalog", kind="prewarm", state="SUCCESS", finished_at=timezone.now())
    logged_in(client, role)

    for url in (OVERVIEW, family_url("catalog"), OPERATIONS, task_url(task.id)):
        response = client.get(url)
        assert response.status_code == PAGE_STATUS[role], url
        if role == "anonymous":
            assert response["Location"].startswith("/admin/login/?next=")
    rollback_page = client.get(action_url("catalog", "rollback")).status_code
    assert rollback_page == {"anonymous": 302}.get(role, 200 if "rollback" in ALLOWED.get(role, ()) else 403)
    for action in ACTIONS:
        allowed = action in ALLOWED.get(role, ())
        response = press(client, "catalog", action)
        expected = 302 if role == "anonymous" else ALLOWED_STATUS.get(action, 302) if allowed else 403
        assert response.status_code == expected, action
        if allowed and action in TASKS:
            assert response["Location"].startswith(family_url("catalog") + "?task=")
        elif allowed and expected == 302:
            assert response["Location"] == family_url("catalog")
        if role == "anonymous":
            assert response["Location"].startswith("/admin/login/")
        if action != "rollback":  # whose confirmation page answers GET
            # Actions answer POST only.
            assert client.get(action_url("catalog", action)).status_code == (302 if role == "anonymous" else 405)
    # The first allowed press sent a task; every later one joined it. Release actions send none.
    assert len(sent) == (1 if role in ALLOWED else 0)
    assert ConsoleTask.objects.exclude(kind__in=TASKS).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Viewers", "Editors"])
def test_editors_and_viewers_see_no_buttons(client, role):
    family_make()
    logged_in(client, role)

    for url in (OVERVIEW, family_url("catalog")):
        page = client.get(url).content.decode()
        assert not [
            form for form in re.findall(r"<form[^>]*>", page) if "post" in form.lower() and "logout" not in form
        ]
        assert "console-action" not in page


@pytest.mark.django_db
def test_ops_see_three_task_buttons_and_the_rollback_link_on_the_family_page_and_no_purge(client):
    family_make()
    logged_in(client, "Ops")

    page = client.get(family_url("catalog"), headers=EN).content.decode()
    actions_found = re.findall(r'action="/admin/cacheops/family/catalog/([a-z]+)/"', page)
    assert actions_found == ["rebuild", "prewarm", "invalidate"]
    assert 'href="/admin/cacheops/family/catalog/rollback/"' in page and "Roll back…" in page
    assert "csrfmiddlewaretoken" in page
    assert 'name="confirm"' not in page
    # The overview only reads: its catalog card leads to the family page, where the actions are.
    overview = client.get(OVERVIEW, headers=EN).content.decode()
    assert "console-action" not in overview
    assert not [
        form for form in re.findall(r"<form[^>]*>", overview) if "post" in form.lower() and "logout" not in form
    ]
    assert 'href="/admin/cacheops/family/catalog/"' in overview


@pytest.mark.django_db
def test_superusers_get_the_purge_form_with_its_confirmation_field_and_what_purge_does(client):
    family_make()
    logged_in(client, "superuser")

    page = client.get(family_url("catalog"), headers=EN).content.decode()

    assert 'action="/admin/cacheops/family/catalog/purge/"' in page
    assert 'name="confirm"' in page and "Family name to purge" in page
    explained = " ".join(re.search(r'<p class="help purge-explained">(.*?)</p>', page, re.S)[1].split())
    assert "Purge takes version 0123456789abcdef down everywhere" in explained
    assert "every reader is told and drops it within a second" in explained
    assert f"(within one poll, every {django_settings.CACHEOPS_READER_POLL_SECONDS:g} s, if it missed" in explained
    assert "answer 410 Gone" in explained and "never rolled back to" in explained
    assert "a full rebuild is queued" in explained


def test_groups_give_ops_the_four_actions_and_nobody_purge_leaving_the_content_permissions_alone(db):
    groups_ensure()  # again: idempotent
    granted = {
        group.name: {(p.content_type.app_label, p.codename) for p in group.permissions.all()}
        for group in Group.objects.all()
    }

    content = {("cms", f"{action}_{model}") for action in ("view",) for model in ("program", "season", "episode")}
    editing = {
        ("cms", f"{a}_{m}") for a in ("add", "change", "delete", "view") for m in ("program", "season", "episode")
    }
    assert granted["Ops"] == content | {("cacheops", name) for name in ("rebuild", "prewarm", "invalidate", "rollback")}
    assert granted["Viewers"] == content
    assert granted["Editors"] == editing
    console = Permission.objects.filter(content_type__app_label="cacheops", content_type__model="consoletask")
    assert set(console.values_list("codename", flat=True)) == set(PERMISSIONS)


# One task per family


@pytest.mark.django_db
def test_only_one_task_per_family_can_be_running(db):
    ConsoleTask.objects.create(family="catalog", kind="rebuild")
    ConsoleTask.objects.create(family="program:1", kind="rebuild")
    ConsoleTask.objects.create(family="catalog", kind="prewarm", finished_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        ConsoleTask.objects.create(family="catalog", kind="prewarm")


@pytest.mark.django_db
def test_a_second_press_by_anyone_joins_the_running_task_and_sends_nothing(client, redis_engine, sent):
    family_make()
    running = ConsoleTask.objects.create(
        family="catalog", kind="rebuild", task_id=str(uuid.uuid4()), requested_by="oki"
    )
    operations_before = Operation.objects.count()
    logged_in(client, "Ops")

    response = press(client, "catalog", "prewarm", headers=EN)
    page = client.get(response["Location"], headers=EN).content.decode()

    assert response["Location"] == f"{family_url('catalog')}?task={running.id}"
    assert sent == [] and Operation.objects.count() == operations_before
    assert ConsoleTask.objects.count() == 1
    assert "already running" in page
    assert f'data-task-url="{task_url(running.id)}"' in page
    assert page.count("disabled") >= 3  # every task button of the family, while its task runs
    # Rolling back stays possible: it is no task, and takes effect whatever runs.
    assert 'href="/admin/cacheops/family/catalog/rollback/"' in page
    overview = client.get(OVERVIEW).content.decode()
    assert f'data-task-url="{task_url(running.id)}"' in overview


@pytest.mark.django_db
def test_progress_comes_from_the_result_backend_and_the_row_ends_with_the_task(client, redis_engine, sent):
    family_make()
    logged_in(client, "Ops")
    task = ConsoleTask.objects.get(id=press(client, "catalog", "rebuild")["Location"].rsplit("=", 1)[1])
    backend = app.backend
    try:
        assert status_json(client, task.id) | {"message": ""} == {
            "id": task.id, "family": "catalog", "kind": "rebuild", "state": "PENDING", "stage": "",
            "done": None, "total": None, "message": "", "finished": False,
        }  # fmt: skip
        backend.store_result(task.task_id, {"stage": "programs", "done": 3, "total": 12}, "PROGRESS")
        progress = status_json(client, task.id)
        assert (progress["state"], progress["stage"], progress["done"], progress["total"]) == (
            "PROGRESS",
            "programs",
            3,
            12,
        )
        assert not progress["finished"]

        backend.mark_as_failure(task.task_id, RuntimeError("another build of catalog has been running since 14:02"))
        failed = status_json(client, task.id)
    finally:
        backend.forget(task.task_id)

    assert failed["state"] == "FAILURE" and failed["finished"]
    assert "another build of catalog has been running since 14:02" in failed["message"]
    task.refresh_from_db()
    assert task.finished_at is not None and task.state == "FAILURE"
    # The family is free again: the next press starts a new task.
    press(client, "catalog", "prewarm")
    assert len(sent) == 2


@pytest.mark.django_db
def test_a_task_silent_past_its_time_limit_stops_counting_as_running(client, redis_engine, sent, settings):
    family_make()
    stuck = ConsoleTask.objects.create(family="catalog", kind="rebuild", task_id=str(uuid.uuid4()))
    late = timezone.now() - timedelta(seconds=settings.CACHEOPS_BUILD_TIME_LIMIT + actions.OVERDUE_MARGIN_S + 1)
    ConsoleTask.objects.filter(id=stuck.id).update(started_at=late)
    logged_in(client, "Ops")

    response = press(client, "catalog", "prewarm")

    stuck.refresh_from_db()
    assert stuck.finished_at is not None and stuck.state == "FAILURE"
    assert len(sent) == 1 and response["Location"] != f"{family_url('catalog')}?task={stuck.id}"


# Pressing for real (tasks run inline)


@pytest.mark.django_db
def test_prewarm_runs_and_the_family_page_shows_it_finished(client, published):
    _v1, v2 = published
    logged_in(client, "Ops")

    response = press(client, "catalog", "prewarm", headers=EN)
    page = client.get(response["Location"], headers=EN)

    task = ConsoleTask.objects.get()
    assert (task.kind, task.state, task.message) == ("prewarm", "SUCCESS", "")
    assert task.finished_at is not None and task.requested_by.startswith("Ops-")
    assert Operation.objects.filter(kind="prewarm", requested_by=task.requested_by, result="done").exists()
    body = page.content.decode()
    assert "Prewarm of catalog started." in body and "Prewarm of catalog: finished" in body
    assert 'data-task-finished="true"' in body and 'value="1" max="1"' in body
    assert status_json(client, task.id)["state"] == "SUCCESS"
    assert refused_by_policy(page)[0] == []


@pytest.mark.django_db
def test_soft_invalidate_runs_the_operation(client, published):
    logged_in(client, "Ops")

    press(client, "catalog", "invalidate")

    invalidated = Operation.objects.get(kind="invalidate")
    assert (invalidated.requested_by, invalidated.result) == (ConsoleTask.objects.get().requested_by, "done")
    assert list(ConsoleTask.objects.values_list("kind", "state")) == [("invalidate", "SUCCESS")]


@pytest.mark.django_db
def test_a_failing_task_shows_its_own_message_not_a_500(client, published, redis_engine):
    _v1, v2 = published
    evicted = Family.objects.get(name="catalog").manifest["chunks"][0]["key"]
    redis_engine.delete(evicted)
    logged_in(client, "Ops")

    response = press(client, "catalog", "prewarm")
    page = client.get(response["Location"]).content.decode()

    task = ConsoleTask.objects.get()
    assert response.status_code == 302 and task.state == "FAILURE"
    assert task.message.startswith(f"version {v2} of catalog is no longer complete in the cache")
    assert task.message in page and task.message in status_json(client, task.id)["message"]


@pytest.fixture
def broker_down(settings):
    """Tasks are sent (not run inline) to a broker port nobody listens on."""
    conf, saved = app.conf, (app.conf.task_always_eager, app.conf.broker_url)
    conf.task_always_eager, conf.broker_url = False, f"redis://127.0.0.1:{free_port()}/0"
    app._pool, app.amqp._producer_pool = None, None
    yield
    conf.task_always_eager, conf.broker_url = saved
    app._pool, app.amqp._producer_pool = None, None


@pytest.mark.django_db
def test_with_the_broker_down_the_page_says_so_and_no_running_row_is_left(client, broker_down):
    family_make()
    logged_in(client, "Ops")

    response = press(client, "catalog", "prewarm", headers=EN)
    page = client.get(response["Location"], headers=EN).content.decode()

    assert response.status_code == 302 and response["Location"] == family_url("catalog")
    assert "The task queue could not be reached" in page and "nothing was started" in page
    assert not ConsoleTask.objects.exists()
    assert page.count("disabled") == 0


# Hostile requests


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "data", "status"),
    [
        (action_url("program:01JDZ0000000000000000000AA", "rebuild"), {}, 404),
        (action_url("x" * 5000, "rebuild"), {}, 404),
        (action_url("catalog%00", "rebuild"), {}, 404),
        (action_url("catalog", "explode"), {}, 404),
        (action_url("catalog", "purge"), {}, 400),
        (action_url("catalog", "purge"), {"confirm": ""}, 400),
        (action_url("catalog", "purge"), {"confirm": "c" * 5000}, 400),
        (action_url("catalog", "purge"), {"confirm": "catalog\x00"}, 400),
        (action_url("catalog", "rollback"), {"version": "v" * 5000, "reason": "why"}, 400),
        (action_url("catalog", "rollback"), {"version": "", "reason": "r" * 5000}, 400),
        (action_url("catalog", "rollback"), {"version": "0123456789abcdef\x00", "reason": "why\x00"}, 400),
        (action_url("program:01JDZ0000000000000000000AA", "rollback"), {}, 404),
        (action_url("program:01JDZ0000000000000000000AA", "resume"), {}, 404),
        (action_url("x" * 5000, "accept"), {}, 404),
        (action_url("catalog%00", "purge"), {"confirm": "catalog"}, 404),
        (task_url("abc"), None, 404),
        (task_url("9" * 40), None, 404),
        (task_url("-1"), None, 404),
    ],
)
def test_hostile_requests_answer_4xx(client, sent, url, data, status):
    family_make()
    logged_in(client, "superuser")

    response = client.get(url) if data is None else client.post(url, data)

    assert response.status_code == status
    assert sent == [] and not ConsoleTask.objects.exists()


# Purge


@pytest.mark.django_db
def test_purge_with_a_wrongly_typed_name_is_refused_naming_the_field_and_changes_nothing(client, published):
    _v1, v2 = published
    logged_in(client, "superuser")
    operations_before = Operation.objects.count()

    response = press(client, "catalog", "purge", confirm="Catalog", headers=EN)

    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="purge-errors"' in body and "Family name to purge: Type “catalog” exactly to purge it." in body
    assert manifest_read("catalog")["version"] == v2
    assert Operation.objects.count() == operations_before and not ConsoleTask.objects.exists()
