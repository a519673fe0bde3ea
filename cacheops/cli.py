"""What the ops commands share: checking a family at the door, following a task sent to a worker, and recording and
reporting an airtime asked for on the command line. Each raises CommandError, which Django prints as one line."""

from celery import states
from celery.result import AsyncResult
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cacheops.console.actions import STAGE_LABELS
from cacheops.console.details import detail_text
from cacheops.console.summaries import result_label
from cacheops.release import airtime
from cacheops.release.families import family_known
from cms.broadcast import clock_format
from cms.enqueue import task_follow
from cms.store.errors import STORE_FAILURES

PREWARM_TASK = "cacheops.tasks.prewarm"
# What an airtime's preparation changes, a line per kind of item.
CHANGED_PROGRAMS = gettext_lazy("  programs: +%(added)s -%(removed)s ~%(changed)s")
CHANGED_EPISODES = gettext_lazy("  episodes: +%(added)s -%(removed)s ~%(changed)s")
# How long --wait follows a task by default: a build's hard time limit is below it (cms/settings.py).
WAIT_TIMEOUT_S = 600


def family_checked(family: str) -> str:
    """`family` if it names a family there is (the catalog, or program:<id> of a known program); else CommandError.

    Nothing is written before the answer: an unknown name leaves no row, no cache key and no task behind.
    """
    try:
        known = family_known(family)
    except STORE_FAILURES as exc:
        raise CommandError(_("Cannot read the programs from the content store: %(error)s") % {"error": exc}) from None
    if not known:
        raise CommandError(
            _("Unknown family %(family)s: use catalog or program:<id> of an existing program.") % {"family": family}
        )
    return family


def timeout_checked(timeout: float) -> float:
    """The --timeout in seconds, or CommandError when it is not a positive number."""
    if not 0 < timeout < float("inf"):
        raise CommandError(_("--timeout must be a positive number of seconds, not %(value)s.") % {"value": timeout})
    return timeout


def follow_hint(family: str) -> str:
    """How to follow a family's queued task: its console page, or catalog_status."""
    return _("Follow it on the console at %(url)s or with: manage.py catalog_status --family %(family)s") % {
        "url": reverse("cacheops_console:family", kwargs={"name": family}),
        "family": family,
    }


def _state_text(state: str, info) -> str:
    if state == "PROGRESS" and isinstance(info, dict):
        stage = info.get("stage", "")
        return _("%(stage)s, %(done)s of %(total)s") % {
            "stage": STAGE_LABELS.get(stage, stage),
            "done": info.get("done"),
            "total": info.get("total"),
        }
    if state == states.STARTED:
        return _("running")
    if state == states.RETRY:
        return _("waiting to try again")
    return _("waiting for a worker")


def task_wait(command: BaseCommand, result: AsyncResult, family: str, timeout: float) -> None:
    """Print a line for each change of a sent task's state until it ends; CommandError (one line) unless it
    succeeded, or if it has not ended within `timeout` seconds."""

    def changed(state: str, info) -> None:
        if state not in states.READY_STATES:
            command.stdout.write(f"{family}: {_state_text(state, info)}")

    try:
        state, info = task_follow(result, timeout_s=timeout, changed=changed)
    except TimeoutError:
        raise CommandError(
            _("Task %(task)s of %(family)s has not ended within %(seconds)g s; it goes on without waiting.")
            % {"task": result.id, "family": family, "seconds": timeout}
        ) from None
    except Exception as exc:
        # The result backend (the broker's Redis) is down or refused the read: the task itself may still run.
        raise CommandError(
            _("Cannot read the state of task %(task)s: %(error)s") % {"task": result.id, "error": exc}
        ) from None
    if state != states.SUCCESS:
        raise CommandError(
            _("Task %(task)s of %(family)s failed: %(error)s")
            % {"task": result.id, "family": family, "error": " ".join(str(info).split())}
        )
    outcome = info if isinstance(info, dict) else {}
    command.stdout.write(
        _("%(family)s: finished, %(result)s %(version)s")
        % {"family": family, "result": result_label(outcome.get("result", "")), "version": outcome.get("version", "")}
    )


OPERATION_FAILED = {
    "rebuild": gettext_lazy("Rebuild of %(family)s failed: %(error)s"),
    "prewarm": gettext_lazy("Prewarm of %(family)s failed: %(error)s"),
}


def operation_failed(kind: str, family: str, exc: Exception) -> str:
    """Why an operation run in this process failed, in the active language: the product's own errors translated,
    another library's text as it reads."""
    recorded = f"{type(exc).__name__}: {exc}"  # as the operations log records it
    said = detail_text(recorded)
    return str(OPERATION_FAILED[kind]) % {"family": family, "error": str(exc) if said == recorded else said}


def operation_line(op, *, timed: bool = False) -> str:
    """The outcome of an operation run in this process: result, version, and its detail (or its duration)."""
    facts = {"family": op.family, "result": result_label(op.result), "version": op.version_after}
    if timed:
        return _("%(family)s: %(result)s %(version)s in %(ms)s ms") % {**facts, "ms": op.duration_ms}
    detail = detail_text(op.detail) or _("no detail")
    return _("%(family)s: %(result)s %(version)s (%(detail)s)") % {**facts, "detail": detail}


def schedule_asked(option: str, family: str, text: str, at=None, *, prepare_here: bool, progress=None):
    """Record the airtime `option` asks for (`text` in JST, or the instant `at`), and prepare it here if told.

    Raise CommandError naming the option for another family or an airtime the schedule refuses.
    """
    if family != "catalog":
        raise CommandError(
            _("%(option)s %(text)s refused: only the catalog is staged for an airtime, not %(family)s.")
            % {"option": option, "text": repr(text), "family": repr(family)}
        )
    try:
        schedule = airtime.schedule_prewarm(at or airtime.at_parse(text), "cli", send=not prepare_here)
    except airtime.ScheduleRefused as exc:
        raise CommandError(
            _("%(option)s %(text)s refused: %(error)s") % {"option": option, "text": repr(text), "error": exc}
        ) from None
    if not prepare_here:
        return schedule
    return airtime.prepare(schedule.id, progress=progress) or schedule


def schedule_report(command: BaseCommand, schedule) -> None:
    """Print what preparing an airtime schedule left: its version, size, changes and edge warming."""
    facts = {"when": clock_format(schedule.at), "id": schedule.id}
    if schedule.result == schedule.FAILED:
        raise CommandError(
            _("Airtime %(when)s JST (schedule %(id)s) recorded, but %(detail)s")
            % {**facts, "detail": detail_text(schedule.detail)}
        )
    if not schedule.prepared_version:
        command.stdout.write(_("Airtime %(when)s JST scheduled (schedule %(id)s); preparing in the background") % facts)
        return
    command.stdout.write(
        _("Airtime %(when)s JST prepared (schedule %(id)s): %(version)s, %(bytes)s bytes in %(chunks)s chunks")
        % {
            **facts,
            "version": schedule.prepared_version,
            "bytes": schedule.compressed_bytes,
            "chunks": schedule.chunk_count,
        }
    )
    for kind, line in (("programs", CHANGED_PROGRAMS), ("episodes", CHANGED_EPISODES)):
        counts = {change: part["count"] for change, part in schedule.changes[kind].items()}
        command.stdout.write(str(line) % counts)
        for item in schedule.changes[kind]["added"]["items"]:
            command.stdout.write(f"    + {item.get('program_title', '')} {item['title']}".rstrip())
    if schedule.edge:
        warmed = sum(entry["ok"] for entry in schedule.edge)
        command.stdout.write(
            _("  edge: %(warmed)s/%(total)s chunks warmed") % {"warmed": warmed, "total": len(schedule.edge)}
        )


def wait_arguments(parser, wait_help: str) -> None:
    """--wait (helped by `wait_help`) and --timeout, as rebuild_catalog and prewarm take them."""
    parser.add_argument("--wait", action="store_true", help=wait_help)
    parser.add_argument(
        "--timeout",
        type=float,
        default=WAIT_TIMEOUT_S,
        help=_("with --wait: give up following after this many seconds, exit 1 (default %(seconds)d)")
        % {"seconds": WAIT_TIMEOUT_S},
    )
