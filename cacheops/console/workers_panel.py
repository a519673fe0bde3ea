"""The console's workers page: Celery workers and their tasks, the queue, and beat's schedule.

SQL says which workers are alive (their heartbeat rows), what waits (build requests and edits not taken) and when
beat last ran (its beacons); the broker says how deep the queue is and, through Celery's remote control, what each
worker runs. Every broker call is bounded (cms.enqueue.broker_glance): with the broker down the page still answers
within about a second, and says the broker does not answer instead of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery.schedules import schedule as every
from django.conf import settings
from django.db.models import Count, Min

from cacheops import oplog
from cacheops.beat import BEAT, EVERY_S, entry_beacon
from cacheops.models import Beacon, BuildRequest, Operation, PendingChange, Worker
from cms.enqueue import broker_glance

# The broker's whole budget for one page, and the part of it the workers have to answer Celery's remote control.
BROKER_TIMEOUT_S = 1.0
INSPECT_TIMEOUT_S = 0.5
# Beat records its sign of life every EVERY_S seconds: silent for three of those, it is not running.
BEAT_SILENT_AFTER = timedelta(seconds=3 * EVERY_S)
PID_SEPARATOR = " pid "


@dataclass(frozen=True)
class Task:
    """A task a worker holds: its name and runtime when the worker said so itself, else only its id (and what
    the operations log knows of it)."""

    id: str
    name: str = ""
    started_at: datetime | None = None
    runtime_s: float | None = None
    operation: str = ""

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name or None,
            "started_at": _iso(self.started_at),
            "runtime_s": None if self.runtime_s is None else round(self.runtime_s, 1),
            "operation": self.operation or None,
        }


@dataclass(frozen=True)
class WorkerRow:
    """One worker process, from its heartbeat row, with the tasks it holds."""

    name: str
    node: str
    pid: int | None
    started_at: datetime
    seen_at: datetime
    alive: bool
    idle_since: datetime | None
    tasks: list[Task]
    # "inspect": the worker listed its running tasks itself; "heartbeat": only the ids its heartbeat row holds
    # (it did not answer in time: busy in its only process, or the broker does not answer).
    tasks_from: str

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "node": self.node,
            "pid": self.pid,
            "alive": self.alive,
            "started_at": _iso(self.started_at),
            "seen_at": _iso(self.seen_at),
            "idle_since": _iso(self.idle_since),
            "tasks_from": self.tasks_from,
            "tasks": [task.as_json() for task in self.tasks],
        }


@dataclass(frozen=True)
class Waiting:
    """The oldest thing waiting for a worker: a queued build request, and an edit no build has taken yet."""

    build_family: str = ""
    build_queued_at: datetime | None = None
    build_waited_s: float | None = None
    edits: int = 0
    edit_since: datetime | None = None
    edit_waited_s: float | None = None

    def as_json(self) -> dict:
        return {
            "oldest_build_request": {
                "family": self.build_family,
                "queued_at": _iso(self.build_queued_at),
                "waited_s": _seconds(self.build_waited_s),
            }
            if self.build_queued_at
            else None,
            "edits_not_taken": self.edits,
            "oldest_edit_not_taken": {"since": _iso(self.edit_since), "waited_s": _seconds(self.edit_waited_s)}
            if self.edit_since
            else None,
        }


@dataclass(frozen=True)
class BeatEntry:
    """One entry of CELERY_BEAT_SCHEDULE: its task, interval, last send (when beat recorded one) and next run."""

    name: str
    task: str
    every_s: float | None
    last_run_at: datetime | None
    next_run_at: datetime | None
    # True when the next run is estimated from beat's last sign of life (no send of this entry recorded yet).
    estimated: bool

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "every_s": self.every_s,
            "last_run_at": _iso(self.last_run_at),
            "next_run_at": _iso(self.next_run_at),
            "next_run_estimated": self.estimated,
        }


@dataclass(frozen=True)
class Panel:
    now: datetime
    workers: list[WorkerRow]
    broker_answers: bool
    queue_depth: int | None
    # Whether any worker answered Celery's remote control in time.
    inspect_answered: bool
    waiting: Waiting
    beat_at: datetime | None
    beat_alive: bool
    beat_entries: list[BeatEntry] = field(default_factory=list)

    @property
    def alive(self) -> int:
        return sum(row.alive for row in self.workers)

    def as_json(self) -> dict:
        return {
            "now": _iso(self.now),
            "broker": {"answers": self.broker_answers, "queue_depth": self.queue_depth},
            "workers_alive": self.alive,
            "workers_answered_inspect": self.inspect_answered,
            "workers": [row.as_json() for row in self.workers],
            "waiting": self.waiting.as_json(),
            "beat": {
                "last_tick_at": _iso(self.beat_at),
                "alive": self.beat_alive,
                "schedule": [entry.as_json() for entry in self.beat_entries],
            },
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _name_split(name: str) -> tuple[str, int | None]:
    """A heartbeat row's name ("celery@host pid 123") as the node name Celery's remote control answers with, and
    the process id."""
    node, _, pid = name.rpartition(PID_SEPARATOR)
    return (node, int(pid)) if node and pid.isdigit() else (name, None)


def _inspected(entries: list[dict], now: datetime) -> list[Task]:
    tasks = []
    for entry in entries:
        started = entry.get("time_start")
        started_at = datetime.fromtimestamp(started, UTC) if isinstance(started, int | float) and started else None
        runtime = max(0.0, (now - started_at).total_seconds()) if started_at else None
        tasks.append(Task(str(entry.get("id", "")), str(entry.get("name", "")), started_at, runtime))
    return tasks


def _from_heartbeat(task_ids: list[str], operations: dict[str, Operation], now: datetime) -> list[Task]:
    """Tasks known by id only, named after their operation when the operations log has one running them."""
    tasks = []
    for task_id in task_ids:
        op = operations.get(task_id)
        if op is None:
            tasks.append(Task(task_id))
            continue
        runtime = max(0.0, (now - op.started_at).total_seconds())
        tasks.append(Task(task_id, started_at=op.started_at, runtime_s=runtime, operation=f"{op.kind} {op.family}"))
    return tasks


def workers_found() -> list[Worker]:
    """Every worker's heartbeat row, by name."""
    return list(Worker.objects.order_by("name"))


def workers_rows(now: datetime, found: list[Worker], active: dict[str, list[dict]] | None) -> list[WorkerRow]:
    """The workers of heartbeat rows `found` (alive first, then by name), with their tasks: as the worker itself
    listed them in `active` (Celery's remote control, by node name), else the ids its heartbeat holds."""
    cutoff = oplog.silent_since(now)
    held = {task_id for row in found for task_id in row.task_ids}
    operations = {op.task_id: op for op in Operation.objects.filter(task_id__in=held).order_by("started_at")}
    rows = []
    for row in found:
        node, pid = _name_split(row.name)
        alive = row.seen_at >= cutoff
        if alive and active is not None and node in active:
            tasks, source = _inspected(active[node], now), "inspect"
        else:
            tasks, source = _from_heartbeat(row.task_ids, operations, now), "heartbeat"
        rows.append(WorkerRow(row.name, node, pid, row.started_at, row.seen_at, alive, row.idle_since, tasks, source))
    return sorted(rows, key=lambda r: (not r.alive, r.name))


def waiting_read(now: datetime) -> Waiting:
    """The oldest queued build request and the oldest edit no build has taken (two queries)."""
    request = BuildRequest.objects.filter(queued=True, queued_at__isnull=False).order_by("queued_at").first()
    edits = PendingChange.objects.filter(taken_by__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
    return Waiting(
        build_family=request.family if request else "",
        build_queued_at=request.queued_at if request else None,
        build_waited_s=max(0.0, (now - request.queued_at).total_seconds()) if request else None,
        edits=edits["n"],
        edit_since=edits["oldest"],
        edit_waited_s=max(0.0, (now - edits["oldest"]).total_seconds()) if edits["oldest"] else None,
    )


def _every_s(schedule) -> float | None:
    """An entry's interval in seconds, when it is one (a number, a timedelta or Celery's `schedule`)."""
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, every):
        return schedule.run_every.total_seconds()
    return None


def beat_read(now: datetime) -> tuple[datetime | None, list[BeatEntry]]:
    """Beat's last sign of life and each configured entry's last send and next run (one query).

    Beat records an entry's last send once it has sent it; until then its next run is estimated as beat's last
    sign of life plus the interval (beat runs a new entry one interval after it starts).
    """
    configured = settings.CELERY_BEAT_SCHEDULE
    names = [BEAT] + [entry_beacon(name) for name in configured]
    beacons = dict(Beacon.objects.filter(name__in=names).values_list("name", "at"))
    beat_at = beacons.get(BEAT)
    entries = []
    for name, entry in configured.items():
        interval = _every_s(entry.get("schedule"))
        last = beacons.get(entry_beacon(name))
        if last is not None and interval is not None:
            following, estimated = last + timedelta(seconds=interval), False
        elif beat_at is not None and interval is not None:
            following, estimated = beat_at + timedelta(seconds=interval), True
        else:
            following, estimated = None, last is None
        entries.append(BeatEntry(name, entry.get("task", ""), interval, last, following, estimated))
    return beat_at, entries


def panel_read(now: datetime) -> Panel:
    """Everything the workers page shows; the broker is given BROKER_TIMEOUT_S at most."""
    found = workers_found()
    cutoff = oplog.silent_since(now)
    # Only the live workers are asked what they run: the answer comes once they all have.
    glance = broker_glance(BROKER_TIMEOUT_S, INSPECT_TIMEOUT_S, sum(row.seen_at >= cutoff for row in found))
    beat_at, entries = beat_read(now)
    return Panel(
        now=now,
        workers=workers_rows(now, found, glance.active),
        broker_answers=glance.depth is not None,
        queue_depth=glance.depth,
        inspect_answered=bool(glance.active),
        waiting=waiting_read(now),
        beat_at=beat_at,
        beat_alive=beat_at is not None and now - beat_at <= BEAT_SILENT_AFTER,
        beat_entries=entries,
    )
