"""The console's task buttons (rebuild, prewarm, invalidate): the task each sends, who may press it, and the one
task per family that runs.

Whether a family has a task running is decided in SQL (a unique constraint over the unfinished rows), never in
the cache: a second press, by anyone, joins the running task instead of starting another. What ops do to a
release (roll back, resume, purge, accept) is no task: it takes effect in the request (see `releases`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from celery import states
from celery.result import AsyncResult, EagerResult
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.celery import app
from cms.enqueue import task_send

from .. import oplog, workers
from ..models import ConsoleTask, Operation

PROGRESS = "PROGRESS"
# A task row whose worker never answered stops counting as running this long after its time limit.
OVERDUE_MARGIN_S = 60
# The stages the cache tasks report, as the progress bar names them.
STAGE_LABELS = {
    "assemble": gettext_lazy("assembling the catalog"),
    "programs": gettext_lazy("program families"),
    "write": gettext_lazy("writing chunks"),
    "refresh": gettext_lazy("rewriting chunks"),
    "verify": gettext_lazy("verifying chunks"),
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    name: str
    label: Promise
    task: str
    options: dict = field(default_factory=dict)
    # What pressing it does, read before confirming.
    explains: Promise = ""

    @property
    def permission(self) -> str:
        return f"cacheops.{self.name}"


ACTIONS = {
    action.name: action
    for action in (
        Action(
            "rebuild",
            gettext_lazy("Rebuild"),
            "cacheops.tasks.rebuild",
            {"full": True},
            gettext_lazy(
                "Reads everything again from the content store and publishes a new version if anything changed. "
                "It may take minutes; saves made meanwhile wait for it."
            ),
        ),
        Action(
            "prewarm",
            gettext_lazy("Prewarm"),
            "cacheops.tasks.prewarm",
            explains=gettext_lazy(
                "Builds the version if it is missing, reads every chunk back to verify it and renews the TTLs. "
                "What readers get does not change."
            ),
        ),
        Action(
            "invalidate",
            gettext_lazy("Invalidate"),
            "cacheops.tasks.invalidate",
            {"hard": False},
            gettext_lazy(
                "Marks the current version stale and builds it again from the content store; readers keep the "
                "current version until the new one is published."
            ),
        ),
    )
}


# What ops do to a release, each under the permission of the console task it replaced: rolling back and resuming
# go together, and so do purging and accepting what a purge held back.
RELEASE_PERMISSIONS = {
    "rollback": "cacheops.rollback",
    "resume": "cacheops.rollback",
    "purge": "cacheops.purge",
    "accept": "cacheops.purge",
}


def release_allowed(user) -> dict[str, bool]:
    """Which release actions `user` may take, by name."""
    return {name: user.has_perm(permission) for name, permission in RELEASE_PERMISSIONS.items()}


class SendFailed(Exception):
    """The broker did not take the task: nothing runs, and no row claims the family."""


@dataclass(frozen=True)
class Started:
    task: ConsoleTask
    joined: bool

    def text(self, action: Action) -> str:
        """What the page says after a press."""
        what = {"action": action.label, "family": self.task.family}
        if self.joined:
            return _("A task of %(family)s is already running: its progress is shown instead.") % what
        return _("%(action)s of %(family)s started.") % what


def send_failed_text(exc: SendFailed) -> str:
    """What the page says when the broker did not take the task."""
    return _("The task queue could not be reached (%(reason)s): nothing was started. Try again in a moment.") % {
        "reason": exc
    }


@dataclass(frozen=True)
class TaskStatus:
    """What the progress bar shows: the Celery state, the stage with done/total, and a readable line."""

    id: int
    family: str
    kind: str
    state: str
    stage: str
    done: int | None
    total: int | None
    message: str
    finished: bool

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def permitted(user) -> list[Action]:
    """The actions `user` may take, in the order the buttons show."""
    return [action for action in ACTIONS.values() if user.has_perm(action.permission)]


def start(family: str, action: Action, requested_by: str) -> Started:
    """Send `action`'s task for `family`, or join the task of the family already running; raise SendFailed."""
    if running := running_task(family):
        return Started(running, joined=True)
    try:
        with transaction.atomic():
            task = ConsoleTask.objects.create(family=family, kind=action.name, requested_by=requested_by)
    except IntegrityError:
        # Another press claimed the family between the look above and this insert.
        return Started(_latest(family), joined=True)
    _send(task, action)
    return Started(task, joined=False)


def _latest(family: str) -> ConsoleTask:
    rows = ConsoleTask.objects.filter(family=family)
    return rows.filter(finished_at__isnull=True).first() or rows.latest("id")


def _send(task: ConsoleTask, action: Action) -> None:
    try:
        result = task_send(action.task, family=task.family, requested_by=task.requested_by, **action.options)
    except Exception as exc:
        if not app.conf.task_always_eager:
            task.delete()
            raise SendFailed(str(exc) or type(exc).__name__) from exc
        # Run inline (development, tests): what failed is the task itself.
        _finish(task, states.FAILURE, _error_text(exc))
        return
    task.task_id = result.id
    if isinstance(result, EagerResult):
        _finish(task, result.state, _error_text(result.result) if result.failed() else "")
    else:
        task.save(update_fields=["task_id"])


def _error_text(exc) -> str:
    return str(exc) or type(exc).__name__


def _finish(task: ConsoleTask, state: str, message: str) -> None:
    task.state, task.message, task.finished_at = state, message[:2000], timezone.now()
    task.save(update_fields=["task_id", "state", "message", "finished_at"])


def running_task(family: str) -> ConsoleTask | None:
    """The family's running task, once the result backend has been asked whether it is still running."""
    task = ConsoleTask.objects.filter(family=family, finished_at__isnull=True).first()
    if task is None or task_status(task).finished:
        return None
    return task


def running_by_family(names: list[str]) -> dict[str, ConsoleTask]:
    """The unfinished task of each of `names`, in one query (SQL only: the page's script asks for the rest)."""
    rows = ConsoleTask.objects.filter(family__in=names, finished_at__isnull=True)
    return {task.family: task for task in rows}


def task_get(task_id: str | None, **filters) -> ConsoleTask | None:
    """The task of id `task_id` (any text: what is not a plausible id finds nothing)."""
    if not task_id or not task_id.isdecimal() or len(task_id) > 18:
        return None
    return ConsoleTask.objects.filter(id=int(task_id), **filters).first()


def task_shown(family: str, task_id: str | None) -> ConsoleTask | None:
    """The task a family page shows: the one named in its address if it is this family's, else the running one."""
    return task_get(task_id, family=family) or running_task(family)


def _backend_state(task: ConsoleTask) -> tuple[str, object]:
    if not task.task_id:
        return states.PENDING, None
    result = AsyncResult(task.task_id, app=app)
    try:
        return result.state, result.info
    except Exception:
        # The result backend is down: the row keeps counting as running until it is overdue.
        logger.warning("Could not read the state of task %s", task.task_id, exc_info=True)
        return states.PENDING, None


def _overdue(task: ConsoleTask) -> bool:
    limit = timedelta(seconds=settings.CACHEOPS_BUILD_TIME_LIMIT + OVERDUE_MARGIN_S)
    return task.started_at < timezone.now() - limit


def task_status(task: ConsoleTask) -> TaskStatus:
    """The task's progress; a task the result backend calls finished, that is overdue, or that no live worker runs
    (its worker died, or the broker lost it) is recorded finished."""
    if task.finished_at is None:
        state, info = _backend_state(task)
        if state in states.READY_STATES:
            _finish(task, state, _error_text(info) if state != states.SUCCESS else "")
        elif ended := _ended(task, state):
            _finish(task, *ended)
        elif _overdue(task):
            _finish(task, states.FAILURE, _("No answer from a worker within its time limit."))
        else:
            return _status(task, state, info if state == PROGRESS and isinstance(info, dict) else {})
    return _status(task, task.state, {})


def _ended(task: ConsoleTask, state: str) -> tuple[str, str] | None:
    """(state, message) for a task that no live worker will finish, from its operations and the workers' beats."""
    now = timezone.now()
    last = Operation.objects.filter(task_id=task.task_id).order_by("-id").first() if task.task_id else None
    if last is not None:
        if not last.result and (last.heartbeat_at or last.started_at) >= oplog.silent_since(now):
            return None  # running
        if not last.result or last.result == oplog.ABANDONED:
            silent = timezone.localtime(last.heartbeat_at or last.started_at)
            return states.FAILURE, _("Abandoned: the worker running it stopped (no sign of life since %(at)s JST).") % {
                "at": f"{silent:%H:%M:%S}"
            }
        if state == states.PENDING and last.heartbeat_at < oplog.silent_since(now):
            # Its operations ended, and the result backend knows nothing of it (it restarted empty meanwhile).
            failed = last.result in ("failed", "busy")
            return (states.FAILURE, last.detail) if failed else (states.SUCCESS, "")
        return None
    waited_since = oplog.silent_since(now)
    if task.started_at >= waited_since or not task.task_id or workers.task_held(task.task_id, now):
        return None
    # No live worker holds it, and one has been idle while it waited: the broker lost it, or a worker that died did.
    if workers.idle_since_before(max(task.started_at, waited_since), now):
        return states.FAILURE, _("Abandoned: no worker took it up although one was idle (the task queue lost it).")
    return None


def _status(task: ConsoleTask, state: str, meta: dict) -> TaskStatus:
    stage, done, total = meta.get("stage", ""), meta.get("done"), meta.get("total")
    action = ACTIONS.get(task.kind)
    what = _("%(action)s of %(family)s") % {"action": action.label if action else task.kind, "family": task.family}
    line = _status_text(state, str(STAGE_LABELS.get(stage, stage)), done, total, task.message)
    finished = task.finished_at is not None
    return TaskStatus(task.id, task.family, task.kind, state, stage, done, total, f"{what}: {line}", finished)


def _status_text(state: str, stage: str, done: int | None, total: int | None, message: str) -> str:
    if state == states.SUCCESS:
        return _("finished")
    if state in states.READY_STATES:
        return _("failed: %(message)s") % {"message": message}
    if state == PROGRESS:
        return _("%(stage)s, %(done)s of %(total)s") % {"stage": stage, "done": done, "total": total}
    if state == states.RETRY:
        return _("waiting to try again")
    if state == states.STARTED:
        return _("running")
    if not workers.workers_alive():
        return _("waiting for a worker: none is running")
    return _("waiting for a worker")
