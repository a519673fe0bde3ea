"""The rehearsal's driver: phase by phase, what editors, ops and faults do to the stack.

Editors save through `cms.services` in this process, with the web processes' DynamoDB budget (an editor waits on
the admin); ops press the console's buttons (`cacheops.console.actions`) and call its release actions; faults are
done to the real processes (SIGKILL, SIGSTOP, restarts).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rehearsal_stack import Monitor, Stack, now

# Every phase but the first can be left out (--skip); the first saves the airtime's episode ahead, and a value.
PHASES = (
    "saves",
    "airtime",
    "invalidate",
    "prewarm",
    "rollback",
    "dynamodb-pause",
    "cache-restart",
    "broker-restart",
    "broker-restart-queued",
    "worker-kill",
)
FAULTS = PHASES[5:]
# Share of the run each phase gets (the DynamoDB pause lasts 10 s by itself).
WEIGHTS = {"dynamodb-pause": 2.0}
PAUSE_S = 10.0
# How long ops keep the rollback's pin before resuming: a few reader polls.
PIN_S = 3.0
# Every process switches to (or from) a pinned version within one poll of the manifest (1 s), plus a second for the
# requests in flight.
PIN_REACH_S = 2.0
# The airtime is this long into its phase (whole seconds), and never sooner than this after the run starts, so
# that the build of the episode's save has staged it.
AIRTIME_LEAD_S = 2.0
AIRTIME_EARLIEST_S = 6.0
# How long the driver waits for a build holding the catalog's lock before giving up on killing its worker.
KILL_WAIT_S = 30.0
EDITOR = "editor"
OPS = "ops"


@dataclass
class Save:
    """One editor's save: what it wrote where, when it was sent and when it returned success (None: it failed)."""

    number: int
    phase: str
    episode_id: str
    title: str
    started: float
    returned: float | None = None
    error: str = ""


@dataclass
class Fault:
    """What was done to the stack: when it took effect and when it ended."""

    phase: str
    what: str
    at: float
    until: float
    injected: bool = True
    detail: str = ""


@dataclass
class Phase:
    name: str
    scheduled: float
    started: float = 0.0
    ended: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Airtime:
    episode_id: str
    program_id: str
    at: float  # T, whole seconds


@dataclass
class Pin:
    """The rollback's pin: the version pinned, when the rollback started, when ops asked to resume and when it was
    done."""

    version: str
    rolled_back: float
    resuming: float = 0.0
    resumed: float = 0.0

    def held(self, moment: float) -> bool:
        """Whether readers may be served the pinned version at `moment` (a poll after the resume included)."""
        return self.rolled_back <= moment <= (self.resumed or math.inf) + PIN_REACH_S

    def only(self, sent: float, received: float) -> bool:
        """Whether an answer must be the pinned version: every process had a poll to switch, and no resume yet."""
        return self.rolled_back + PIN_REACH_S <= sent and received <= (self.resuming or math.inf)


class Driver:
    """Runs the phases on schedule over `seconds`, recording saves, faults and what ops started."""

    def __init__(
        self,
        stack: Stack,
        *,
        started: float,
        seconds: float,
        phases: list[str],
        episodes: list[str],
        airtime_season: tuple[str, str],
        visible: Callable[[Save], bool],
        heal_wait_s: float,
    ) -> None:
        self.stack, self.started, self.seconds, self.heal_wait_s = stack, started, seconds, heal_wait_s
        self.episodes, self.airtime_season, self.visible = iter(episodes), airtime_season, visible
        self.plan = self._schedule(phases)
        self.saves: list[Save] = []
        self.faults: list[Fault] = []
        self.kills: list[tuple[str, float, int]] = []  # (node, when, operation id)
        self.console_tasks: list[int] = []
        self.airtime: Airtime | None = None
        self.pin: Pin | None = None
        self.current: Phase | None = None
        self.monitor = Monitor(stack, self.phase_at, self.console_tasks)

    # -- the schedule --

    def _schedule(self, phases: list[str]) -> list[Phase]:
        total = sum(WEIGHTS.get(name, 1.0) for name in phases)
        plan, at = [], self.started
        for name in phases:
            plan.append(Phase(name, at))
            at += self.seconds * WEIGHTS.get(name, 1.0) / total
        return plan

    def airtime_instant(self) -> float | None:
        """T: whole seconds, a little into the airtime phase."""
        phase = next((p for p in self.plan if p.name == "airtime"), None)
        if phase is None:
            return None
        return float(math.ceil(max(phase.scheduled + AIRTIME_LEAD_S, self.started + AIRTIME_EARLIEST_S)))

    def phase_at(self, moment: float) -> str:
        """The phase running at `moment` ("startup" before the first, "settle" after the last)."""
        name = "startup"
        for phase in self.plan:
            if phase.started and phase.started <= moment:
                name = phase.name
        last = self.plan[-1]
        return "settle" if last.ended and moment > max(last.ended, self.started + self.seconds) else name

    def run(self) -> None:
        """Every phase in turn, at its slot; but each on a healed stack: once every earlier save is visible (waiting
        `heal_wait_s` at most), so that what a phase measures is its own fault's doing."""
        self.monitor.start()
        for phase in self.plan:
            self._sleep_until(phase.scheduled)
            if not self._wait(self.saves_visible, self.heal_wait_s):
                self.event(f"earlier saves still not visible after {self.heal_wait_s:g} s: starting anyway")
            self.current, phase.started = phase, now()
            getattr(self, "phase_" + phase.name.replace("-", "_"))()
            phase.ended = now()
        self._sleep_until(self.started + self.seconds)

    def saves_visible(self) -> bool:
        """Whether every save that returned success so far is visible to the readers."""
        return all(self.visible(save) for save in self.saves if save.returned)

    def stop(self) -> None:
        self.monitor.stop()

    def event(self, what: str) -> None:
        if self.current is not None:
            self.current.events.append((now(), what))

    @staticmethod
    def _sleep_until(moment: float) -> None:
        while (left := moment - now()) > 0:
            time.sleep(min(left, 0.5))

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while not condition():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    # -- editors --

    def save(self, phase: str | None = None) -> Save:
        """An editor retitles one live episode (a different one each time) with a value of its own."""
        from cms import services
        from cms.store import episodes

        episode_id = next(self.episodes)
        number = len(self.saves) + 1
        title = f"rehearsal {number:02d} {secrets.token_hex(3)}"
        record = Save(number, phase or (self.current.name if self.current else "startup"), episode_id, title, now())
        self.saves.append(record)
        try:
            episode = episodes.episode_get(episode_id)
            services.episode_update(episode_id=episode_id, version=episode.version, user=EDITOR, title=title)
        except Exception as exc:  # an editor sees any failure as an error page
            record.error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            record.returned = now()
        self.event(f"save {number} " + ("returned" if record.returned else f"failed: {record.error}"))
        return record

    def airtime_save(self) -> None:
        """Save the airtime's episode ahead: published, with publish_at = T."""
        from cms import selectors, services

        at = self.airtime_instant()
        if at is None:
            return
        program_id, season_id = self.airtime_season
        _seasons, numbers = selectors.episode_numbers_next(program_id)
        episode = services.episode_create(
            user=EDITOR,
            program_id=program_id,
            season_id=season_id,
            number=numbers[season_id],
            title=f"rehearsal airtime {secrets.token_hex(3)}",
            duration_s=1440,
            status="published",
            publish_at=datetime.fromtimestamp(at, UTC),
        )
        self.airtime = Airtime(episode.id, program_id, at)
        self.event(f"airtime episode saved for T = {datetime.fromtimestamp(at, UTC):%H:%M:%S} UTC")

    # -- ops --

    def console_press(self, action: str) -> None:
        """Press a task button of the catalog's console page, as ops do (a second press joins the running task)."""
        from cacheops.console import actions

        started = actions.start("catalog", actions.ACTIONS[action], f"{OPS}-{action}")
        self.console_tasks.append(started.task.id)
        self.event(f"console {action}: task {started.task.id}" + (" (joined)" if started.joined else ""))

    # -- the phases --

    def phase_saves(self) -> None:
        self.airtime_save()
        self.save()

    def phase_airtime(self) -> None:
        if self.airtime is not None:
            self._sleep_until(self.airtime.at + AIRTIME_LEAD_S)
        self.save()

    def phase_invalidate(self) -> None:
        self.console_press("invalidate")
        time.sleep(1)
        self.save()

    def phase_prewarm(self) -> None:
        self.console_press("prewarm")
        time.sleep(1)
        self.save()

    def phase_rollback(self) -> None:
        from cacheops.release import release_actions

        op = release_actions.rollback(family="catalog", requested_by=OPS, reason="rehearsal: rolled back")
        self.pin = Pin(op.version_after, op.started_at.timestamp())
        self.event(f"rollback: pinned {op.version_after} (was {op.version_before})")
        time.sleep(PIN_S)
        self.pin.resuming = now()
        op = release_actions.resume(family="catalog", requested_by=OPS)
        self.pin.resumed = now()
        self.event(f"resume: {op.version_after} current")
        self.save()

    def phase_dynamodb_pause(self) -> None:
        from cms.store.local import paused

        attempt = threading.Thread(target=self._save_later, args=("dynamodb-pause", 1.0), daemon=True)
        with paused(self.stack.dynamodb):
            at = now()
            self.event("DynamoDB paused (SIGSTOP)")
            attempt.start()
            time.sleep(PAUSE_S)
        self.faults.append(Fault("dynamodb-pause", "DynamoDB Local paused", at, now()))
        self.event("DynamoDB resumed (SIGCONT)")
        attempt.join(timeout=60)
        self.save()

    def _save_later(self, phase: str, delay_s: float) -> None:
        from django.db import connections

        time.sleep(delay_s)
        try:
            self.save(phase)
        finally:
            connections.close_all()

    def phase_cache_restart(self) -> None:
        down, up = self.stack.redis_restart("cache")
        self.faults.append(Fault("cache-restart", "shared cache's Redis restarted empty", down, up))
        self.event("shared cache's Redis restarted empty")
        self.save()

    def phase_broker_restart(self) -> None:
        self.save()
        down, up = self.stack.redis_restart("broker")
        self.faults.append(Fault("broker-restart", "broker's Redis restarted (queue and results lost)", down, up))
        self.event("broker's Redis restarted")
        time.sleep(1)
        self.save()

    def phase_broker_restart_queued(self) -> None:
        # A rebuild still waiting in the queue when the broker restarts. Idle workers take a task within a millisecond
        # (and give back to the restarted broker what they had taken but not run), so the workers are being
        # restarted meanwhile, as in a deploy.
        with self.stack.workers_stopped():
            self.event("workers stopped (SIGTERM)")
            self.save()
            down, up = self.stack.redis_restart("broker")
        self.event("broker's Redis restarted with the save's rebuild in its queue; workers started again")
        what = "broker's Redis restarted with a save's rebuild waiting in its queue"
        self.faults.append(Fault("broker-restart-queued", what, down, up))
        time.sleep(1)
        self.save()

    def phase_worker_kill(self) -> None:
        self.console_press("rebuild")
        found = self._build_holder(time.monotonic() + KILL_WAIT_S)
        if found is None:
            self.faults.append(
                Fault("worker-kill", "worker killed mid-build", now(), now(), False, "no build held the lock to kill")
            )
            self.event("no running build found to kill")
            return
        node, operation = found
        killed, at = self.stack.worker_kill(node)
        self.kills.append((node, at, operation))
        self.event(
            f"SIGKILL worker {node} (process group {killed.proc.pid}) running operation {operation}; started again"
        )
        self.faults.append(Fault("worker-kill", f"worker {node} killed mid-build (operation {operation})", at, at))
        self.save()

    def _build_holder(self, deadline: float) -> tuple[str, int] | None:
        """The node and operation of a catalog build holding its lock and running, once there is one."""
        from cacheops import keys
        from cacheops.backends import backend_get
        from cacheops.build.lock import Holder
        from cacheops.models import Operation

        while time.monotonic() < deadline:
            raw = backend_get().get(keys.lock_key("catalog"))
            holder = Holder.parse(raw) if raw else None
            node = holder.host.split("@")[0] if holder else ""
            if holder and holder.operation and node in self.stack.workers:
                if Operation.objects.filter(pk=holder.operation, kind="rebuild", result="").exists():
                    return node, holder.operation
            time.sleep(0.02)
        return None
