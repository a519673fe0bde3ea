"""The airtime-night drill: the production stack under readers while editors save, ops act and faults strike.

.venv/bin/python bench/rehearsal.py [--seconds 120] [--readers 16] [--programs 60] [--skip PHASE,...] [--json]

It starts the web server of cms/serve.py (2 web workers), two Celery workers and beat with bin/run's command lines,
its own DynamoDB Local, one Redis for the broker and one for the shared cache, and a SQLite file; publishes the
seeded demo catalog; then, while readers read the catalog and programs, runs one phase after another (editors'
saves, an airtime, the console's invalidate and prewarm, a rollback and resume, a paused DynamoDB, the shared cache
and the broker restarted, a worker killed mid-build). Afterwards it checks every answer, the order of versions,
the airtime, each save's time to visibility and what the console, /healthz, /metrics and catalog_status say; it
prints a report (or JSON) and exits 1 when a check failed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass

from environment import bench_environment
from rehearsal_checks import (
    Check,
    airtime_result,
    answer_problems,
    driver_checks,
    healing,
    order_problems,
    save_results,
    visible_at,
)
from rehearsal_driver import FAULTS, PHASES, Driver
from rehearsal_readers import Readers, Sightings
from rehearsal_report import report_build, report_print
from rehearsal_stack import Stack, now, stack_start
from rehearsal_statements import statements_collect
from rehearsal_versions import Versions
from stack import metric_sums, processes, redis_start, redis_url, worker_pids

DEFAULT_SECONDS = 120.0
DEFAULT_READERS = 16
# Builds in a few seconds here (a full build publishes every program's family too, paced as in production).
DEFAULT_PROGRAMS = 60
# A phase starts on a healed stack: once every earlier save is visible, this long at most after its slot (the stalled
# changes sweep that rescues a lost rebuild runs every minute, on changes a minute old).
DEFAULT_HEAL_WAIT_S = 180.0
# After the run, readers go on until every save is visible and every statement can be judged, this long at most.
DEFAULT_SETTLE_S = 300.0
# The driver is an editor's web process and ops' console: tasks go to the workers, saves queue their rebuilds.
DRIVER_SETTINGS = {"CELERY_TASK_ALWAYS_EAGER": "false", "CACHEOPS_REBUILD_ON_SAVE": "true", "AIRTIME_STACK_ENV": ""}
METRICS = ("airtime_shared_cache_ops_total", "airtime_shared_cache_read_bytes_total", "airtime_requests_total")


@dataclass
class Startup:
    seed_seconds: float
    seed_summary: str
    build_seconds: float
    stack_seconds: float


@dataclass
class Catalog:
    """What the first published catalog offers the drill: programs to read, episodes to edit, a season to air in."""

    version: str
    program_ids: list[str]
    episodes: list[str]
    airtime_season: tuple[str, str]


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Rehearse an airtime night on the production stack, with faults.")
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help=f"length of the run ({DEFAULT_SECONDS:g})"
    )
    parser.add_argument("--readers", type=int, default=DEFAULT_READERS, help=f"concurrent readers ({DEFAULT_READERS})")
    parser.add_argument(
        "--programs", type=int, default=DEFAULT_PROGRAMS, help=f"demo programs seeded ({DEFAULT_PROGRAMS})"
    )
    parser.add_argument(
        "--skip",
        default="",
        help=f"phases left out, comma-separated, of: {', '.join(PHASES[1:])} (faults: {', '.join(FAULTS)})",
    )
    parser.add_argument(
        "--settle", type=float, default=DEFAULT_SETTLE_S, help=f"longest wait after the run ({DEFAULT_SETTLE_S:g} s)"
    )
    parser.add_argument(
        "--heal-wait",
        type=float,
        default=DEFAULT_HEAL_WAIT_S,
        help=f"longest wait, before a phase, for the saves of earlier ones to be visible ({DEFAULT_HEAL_WAIT_S:g} s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the report")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite) and print where")
    args = parser.parse_args(argv)
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    if unknown := skipped - set(PHASES[1:]):
        parser.error(f"unknown phase(s) to skip: {', '.join(sorted(unknown))}")
    args.phases = [name for name in PHASES if name not in skipped]
    return args


def catalog_publish() -> tuple[Catalog, float]:
    """Publish the seeded catalog in full here, before any worker runs (as bin/run does), and read it back."""
    import orjson
    from django.test.utils import override_settings

    from cacheops.build import operations
    from cacheops.manifest import snapshot_read

    started = time.perf_counter()
    # Not part of the drill: the program families are published at once, not at the shared cache's pace.
    with override_settings(CACHEOPS_OPS_PER_SECOND=1_000_000):
        op = operations.catalog_rebuild(full=True, requested_by="rehearsal")
    if op.result != "published":
        raise SystemExit(f"the first catalog build ended {op.result!r}: {op.detail}")
    manifest, body = snapshot_read("catalog")
    programs = [p for p in orjson.loads(body)["programs"] if any(s["episodes"] for s in p["seasons"])]
    if not programs:
        raise SystemExit("the demo catalog has no live episode to edit: seed more programs")
    per_program = [[e["id"] for s in p["seasons"] for e in s["episodes"]] for p in programs]
    # Round robin over programs: each save rebuilds another program's source.
    episodes = [ids[i] for i in range(max(map(len, per_program))) for ids in per_program if i < len(ids)]
    first = next(p for p in programs if p["seasons"])
    season = (first["id"], first["seasons"][0]["id"])
    return Catalog(manifest["version"], [p["id"] for p in programs], episodes, season), time.perf_counter() - started


def settled(driver: Driver, readers: Readers, versions: Versions, bound_until: float) -> bool:
    """Whether every save is visible and the release state, the cache and every client agree."""
    from cacheops.manifest import manifest_read
    from cacheops.models import Family

    if now() < bound_until or not versions.drained() or not driver.saves_visible():
        return False
    current = Family.objects.get(name="catalog").current_version
    try:
        manifest = manifest_read("catalog")
    except Exception:
        return False
    return manifest is not None and manifest["version"] == current and set(readers.latest().values()) == {current}


def sweep_seconds() -> float:
    """How often beat sends the sweep of dead workers' operations (CACHEOPS_SWEEP_SECONDS)."""
    from django.conf import settings

    return next(e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "cacheops.tasks.sweep")


def settle(driver: Driver, readers: Readers, versions: Versions, seconds: float) -> tuple[bool, float]:
    """Keep reading until settled (or `seconds` pass); whether it settled, and how long it took."""
    from django.conf import settings

    # A killed worker's work must be shown as not running once the beat's sweep has run and its build has missed
    # three heartbeats (the console's own rule).
    bound = sweep_seconds() + 3 * settings.CACHEOPS_HEARTBEAT_SECONDS
    bound_until = max([at + bound for _node, at, _op in driver.kills], default=0.0)
    if driver.airtime is not None:
        bound_until = max(bound_until, driver.airtime.at + 2)
    started = now()
    while not (done := settled(driver, readers, versions, bound_until)) and now() - started < seconds:
        time.sleep(0.5)
    return done, now() - started


def metrics_read(stack: Stack) -> dict[str, float]:
    """The web server's counters the report compares (summed over its processes), and the shared cache's errors."""
    shared_cache_ops = METRICS[0]
    errors = metric_sums(stack.web, shared_cache_ops, result="error")[shared_cache_ops]
    return metric_sums(stack.web, *METRICS) | {"errors": errors}


def operations_since(moment: float) -> tuple[list[dict], list[dict]]:
    """Operations started since `moment`, counted by kind, family (catalog or a program's) and result; and those that
    failed, with why."""
    from datetime import UTC, datetime

    from cacheops.models import Operation

    rows = list(Operation.objects.filter(started_at__gte=datetime.fromtimestamp(moment, UTC)).order_by("id"))
    tally = Counter(
        (op.kind, "catalog" if op.family == "catalog" else "program", op.result or "(no result)") for op in rows
    )
    table = [{"kind": k, "family": f, "result": r, "count": n} for (k, f, r), n in sorted(tally.items())]
    failed = [
        {"id": op.pk, "kind": op.kind, "family": op.family, "at": op.started_at.timestamp(), "detail": op.detail[:300]}
        for op in rows
        if op.result in ("failed", "abandoned")
    ]
    return table, failed


def rehearse(args: argparse.Namespace) -> dict:
    """Start everything, run the drill, judge it; the report as a dict."""
    with processes("airtime-rehearsal-", keep_workdir=args.keep) as procs:
        # Two Redis of the drill's own: the broker's queue takes no key prefix, and each is restarted in its turn.
        broker, cache = redis_start(procs, "broker redis"), redis_start(procs, "cache redis")
        os.environ.update(
            {
                "REDIS_URL": redis_url(broker),
                "CELERY_BROKER_URL": redis_url(broker),
                "CELERY_RESULT_BACKEND": redis_url(broker),
                "CACHEOPS_REDIS_URL": redis_url(cache),
            }
        )
        with bench_environment(args.programs, DRIVER_SETTINGS) as bench:
            stack = None
            try:
                started = time.perf_counter()
                catalog, build_s = catalog_publish()
                stack = stack_start(procs, bench.dynamodb, broker, cache)
                startup = Startup(bench.seed_seconds, bench.seed_summary, build_s, time.perf_counter() - started)
                report = drill(args, stack, catalog, startup)
                report["workdir"] = str(procs.workdir) if args.keep else None
                return report
            finally:
                # Everything but the Redis servers goes before the environment's own cleanup, which uses the cache.
                procs.stop_all(keep=(stack.broker, stack.cache) if stack else (broker, cache))


def drill(args: argparse.Namespace, stack: Stack, catalog: Catalog, startup: Startup) -> dict:
    """Readers on, the phases, the settling; then every check."""
    from django.conf import settings

    from cms.store.models import models_configure

    # From here on this process is an editor's web process and ops' console: DynamoDB gets the web budget, as
    # cms/wsgi.py gives it (an editor waits about 10 s at most on a stalled store).
    models_configure(web=True)

    versions = Versions()
    versions.start()
    sightings = Sightings(versions.new)
    readers = Readers(args.readers, stack.web.port, sightings, catalog.program_ids)
    before = metrics_read(stack)
    readers.start()
    started = now() + 1.0  # the readers have a second to connect before the first phase
    driver = Driver(
        stack,
        started=started,
        seconds=args.seconds,
        phases=args.phases,
        episodes=catalog.episodes,
        airtime_season=catalog.airtime_season,
        visible=lambda save: visible_at(save, versions.all()) is not None,
        heal_wait_s=args.heal_wait,
    )
    try:
        driver.run()
        ran_until = now()
        settled, settle_s = settle(driver, readers, versions, args.settle)
        after = metrics_read(stack)
    finally:
        readers.stop()
        driver.stop()
    ended = now()
    versions.stop()

    statements, views = statements_collect(stack, driver)
    responses = readers.responses()
    known = versions.all()
    results = save_results(driver.saves, known)
    table, failed_ops = operations_since(started - 1)
    # What the web processes serve at the end: every save must be in it.
    finals = [versions.get(view.served) for view in views] or [None]
    problems = answer_problems(responses, versions, sightings, driver.phase_at).problems
    order = order_problems(responses, versions, driver.pin, driver.phase_at).problems
    airtime = airtime_result(responses, versions, sightings, driver.airtime, driver.pin) if driver.airtime else None
    checks = judge(
        driver=driver,
        problems=problems,
        order=order,
        airtime=airtime,
        results=results,
        unseen=[
            r.save.number
            for r in results
            if any(final is None or final.titles.get(r.save.episode_id) != r.save.title for final in finals)
        ],
        settled=(settled, settle_s, args.settle),
        statements=statements,
        health=readers.health(),
    )
    return report_build(
        args=args,
        startup=startup,
        driver=driver,
        times=(started, ran_until, ended, settle_s),
        responses=responses,
        versions=known,
        results=results,
        healing=healing(driver.faults, driver.monitor.publications, results),
        builds=table,
        failed_operations=failed_ops,
        metrics=(before, after),
        statements=statements,
        health=readers.health(),
        processes=(len(views), len(worker_pids(stack.web))),
        checks=checks,
        problems=problems,
        order=order,
        airtime=airtime,
        settings={
            "lock_s": settings.CACHEOPS_LOCK_SECONDS,
            "sweep_s": sweep_seconds(),
            "build_time_limit_s": settings.CACHEOPS_BUILD_TIME_LIMIT,
            "visibility_timeout_s": settings.BROKER_VISIBILITY_TIMEOUT,
        },
    )


def judge(*, driver, problems, order, airtime, results, unseen, settled, statements, health) -> list[Check]:
    """The drill's goals, each a check."""
    from rehearsal_checks import SAVE_VISIBLE_S

    late = [r for r in results if r.delay is None or r.delay > SAVE_VISIBLE_S]
    untrue = [s for s in statements if not s.true] + [h for h in health if not h.true]
    checks = [
        Check("every answer 200/304 with a recorded version's bytes", not problems, f"{len(problems)} error(s)"),
        Check("no client went back to an older version (but across the rollback)", not order, f"{len(order)}"),
    ]
    if airtime is not None:
        detail = f"first at T{airtime.first_with - airtime.at:+.3f} s" if airtime.first_with else "never served"
        checks.append(Check("the airtime episode: never before T, in every answer from T + 1 s", airtime.ok, detail))
    done, took, limit = settled
    checks += [
        Check(
            "settled after the run: every save visible, release state, cache and clients agreeing",
            done,
            f"in {took:.1f} s" if done else f"not within {limit:g} s",
        ),
        Check("every successful save visible in the end", not unseen, f"not visible: {unseen}" if unseen else "all"),
        Check(f"every save visible within {SAVE_VISIBLE_S:g} s", not late, f"{len(late)} late"),
        Check("no untrue statement (console, /healthz, /metrics, catalog_status)", not untrue, f"{len(untrue)} untrue"),
        *driver_checks(driver),
    ]
    return checks


def main() -> None:
    args = options()
    report = rehearse(args)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        report_print(report)
    sys.exit(0 if report["verdict"]["ok"] else 1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit("interrupted: everything the rehearsal started has been stopped") from None
