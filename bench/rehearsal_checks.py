"""What the rehearsal's records show: errors, versions served out of order, the airtime, the saves' time to
visibility, healing after each fault. Pure functions over what the readers, the driver and SQL recorded.

A version's place in time is its as-of (the instant its content shows), as the release state recorded it when
readers first received it: that is the order the design promises ("a process never serves an older-as-of version
again"), and builds of one second may share it. A client must never receive a version older than one it already
received, except across the rollback: from the rollback to the resume, the pinned version is what it must get.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from environment import percentile
from rehearsal_driver import Airtime, Driver, Fault, Pin, Save
from rehearsal_readers import Response, Sightings
from rehearsal_stack import Publication
from rehearsal_versions import Version, Versions

# The design's promise: a save reaches the apps in about build + poll + max-age (9 s by default); the drill's goal.
SAVE_VISIBLE_S = 10.0
# An airtime episode shows from T, in every answer to a request sent a second later.
AIRTIME_WITHIN_S = 1.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Problem:
    """One wrong answer or wrong order, with when and where it was seen."""

    kind: str
    phase: str
    at: float
    detail: str


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, phase: str, at: float, detail: str) -> None:
        self.problems.append(Problem(kind, phase, at, detail))


def answer_problems(
    responses: Iterable[Response], versions: Versions, sightings: Sightings, phase_at: Callable[[float], str]
) -> Findings:
    """Every answer that is not 200/304, or whose body is not the recorded bytes of a version."""
    found = Findings()
    bodies = program_bodies(versions.all())
    for r in responses:
        phase = phase_at(r.sent)
        if r.error:
            found.add(r.error, phase, r.sent, f"{r.endpoint} client {r.client}")
            continue
        if r.endpoint in ("catalog", "revalidate"):
            known = versions.get(r.version)
            if known is None or not known.recorded:
                found.add("version not recorded", phase, r.sent, f"{r.version} ({known.problem if known else '?'})")
            elif r.status == 200 and r.digest != known.sha256:
                found.add("body not its version's bytes", phase, r.sent, f"{r.version} client {r.client}")
    for (program_id, digest), first in sightings.programs.items():
        if digest not in bodies.get(program_id, ()):
            found.add("program body in no version", phase_at(first), first, program_id)
    return found


def program_bodies(known: list[Version]) -> dict[str, set[str]]:
    """The sha256 of each program's /api/programs body in any version received."""
    bodies: dict[str, set[str]] = defaultdict(set)
    for version in known:
        for program_id, digest in version.programs.items():
            bodies[program_id].add(digest)
    return bodies


def order_problems(responses: list[Response], versions: Versions, pin: Pin | None, phase_at) -> Findings:
    """Clients that went back to an older version, or left a rollback's pinned version before the resume."""
    found = Findings()
    by_client: dict[int, list[Response]] = defaultdict(list)
    for r in responses:
        if not r.error and r.version:
            by_client[r.client].append(r)
    for client, answers in by_client.items():
        newest: Version | None = None
        for r in answers:
            known = versions.get(r.version)
            if known is None or known.as_of is None:
                continue
            if pin is not None and r.version == pin.version and pin.held(r.received):
                newest = known  # the rollback: back to the pinned version is what ops asked for
                continue
            if pin is not None and pin.only(r.sent, r.received):
                found.add("not the pinned version", phase_at(r.sent), r.sent, f"client {client} got {r.version}")
            if newest is not None and known.as_of < newest.as_of:
                detail = f"client {client}: {r.version} (as of {known.as_of:%H:%M:%S}) after {newest.version}"
                found.add(
                    "went back to an older version", phase_at(r.sent), r.sent, detail + f" ({newest.as_of:%H:%M:%S})"
                )
            elif newest is None or known.as_of >= newest.as_of:
                newest = known
    return found


@dataclass
class AirtimeResult:
    at: float
    first_with: float | None
    early: list[str]
    late: list[str]
    # Answers to requests sent a second or more after T: without any, `late` would prove nothing.
    after: int

    @property
    def ok(self) -> bool:
        # When the first answer holding it arrived depends on when a reader happened to ask and how busy the
        # machine was: a figure, not the goal. The goal is every request sent a second after T (`late`).
        return not self.early and not self.late and self.first_with is not None and self.after > 0


def airtime_result(
    responses: list[Response], versions: Versions, sightings: Sightings, airtime: Airtime, pin
) -> AirtimeResult:
    """Never before T; in the first answers after T; in every answer to a request sent a second after T (but
    while a rollback pins an older version)."""

    def has(version: Version | None) -> bool:
        return version is not None and airtime.episode_id in version.titles

    at, early, late, first_with, after = airtime.at, [], [], None, 0
    for r in responses:
        if r.error or not r.version:
            continue
        after += r.sent >= at + AIRTIME_WITHIN_S
        with_it = has(versions.get(r.version))
        if with_it:
            first_with = r.received if first_with is None else min(first_with, r.received)
            if r.received < at:
                early.append(f"client {r.client} at T{r.received - at:+.3f} s")
        elif r.sent >= at + AIRTIME_WITHIN_S and not (pin and pin.held(r.received)):
            late.append(f"client {r.client} at T{r.sent - at:+.3f} s ({r.version})")
    with_episode = {v.programs.get(airtime.program_id) for v in versions.all() if has(v)} - {None}
    for (program_id, digest), first in sightings.programs.items():
        if program_id == airtime.program_id and digest in with_episode and first < at:
            early.append(f"/api/programs/{program_id} at T{first - at:+.3f} s")
    return AirtimeResult(at, first_with, early, late, after)


def visible_at(save: Save, known: list[Version]) -> float | None:
    """When a reader first received a version holding what `save` wrote."""
    seen = [v.first_seen for v in known if v.titles.get(save.episode_id) == save.title]
    return min(seen) if seen else None


@dataclass
class SaveResult:
    save: Save
    visible: float | None

    @property
    def delay(self) -> float | None:
        if self.visible is None or self.save.returned is None:
            return None
        return max(0.0, self.visible - self.save.returned)


def save_results(saves: list[Save], known: list[Version]) -> list[SaveResult]:
    return [SaveResult(save, visible_at(save, known)) for save in saves if save.returned is not None]


@dataclass
class Healing:
    fault: Fault
    build_after_s: float | None  # a build made after the fault was in the shared cache's manifest this long after it
    fresh_after_s: float | None  # readers received the first save made after the fault this long after it


def healing(faults: list[Fault], publications: list[Publication], results: list[SaveResult]) -> list[Healing]:
    """For each fault: the next build published (a manifest built after it), the first later save reaching readers."""
    healed = []
    for fault in faults:
        # built_at has whole seconds: a build of the fault's own second counts as after it.
        built = [p.at for p in publications if p.at >= fault.at and p.built_at >= math.floor(fault.at)]
        after = [r for r in results if r.save.phase == fault.phase and r.save.started >= fault.at and r.visible]
        healed.append(
            Healing(
                fault,
                min(built) - fault.at if built else None,
                min(r.visible for r in after) - fault.at if after else None,
            )
        )
    return healed


def latency_ms(responses: list[Response]) -> dict[str, dict[str, float]]:
    """p50 and p99 of the time to answer, per endpoint (answers only, not failed connections)."""
    times: dict[str, list[float]] = defaultdict(list)
    for r in responses:
        if r.status:
            times[r.endpoint].append((r.received - r.sent) * 1000)
    return {
        endpoint: {"n": len(ms), "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99)}
        for endpoint, ms in sorted(times.items())
    }


def counted(problems: list[Problem]) -> tuple[Counter, Counter]:
    """Problems by kind, and by (kind, phase)."""
    return Counter(p.kind for p in problems), Counter((p.kind, p.phase) for p in problems)


def driver_checks(driver: Driver) -> list[Check]:
    """Whether each fault was done, whether the stack's processes stayed up, whether saves failed outside a pause."""
    checks = []
    missed = [f"{f.phase}: {f.detail}" for f in driver.faults if not f.injected]
    checks.append(Check("every fault injected", not missed, "; ".join(missed) or f"{len(driver.faults)} done"))
    died = [
        f"{d.role} exited ({d.code}) in {d.phase}" + (", started again" if d.restarted else "")
        for d in driver.monitor.deaths
    ]
    checks.append(Check("no process of the stack died by itself", not died, "; ".join(died) or "none"))
    failed = [
        f"save {s.number} ({s.phase}): {s.error}" for s in driver.saves if s.error and s.phase != "dynamodb-pause"
    ]
    checks.append(Check("saves succeed (but while DynamoDB is paused)", not failed, "; ".join(failed) or "all"))
    return checks
