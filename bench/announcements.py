"""Announcements: how soon an edit is on /api/catalog, and what web processes cost the shared cache at rest.

.venv/bin/python bench/announcements.py [--programs 60] [--workers 2] [--edits 30] [--rest-seconds 60]

The production stack (the web server of cms/serve.py, a Celery worker with bin/run's command line, Redis as broker
and shared cache, DynamoDB Local). At rest, the shared-cache operations every web process sends in a minute (goal:
at most 3, where a poll each second cost 60). Then editors' saves, one at a time: from the save's answer to the first
/api/catalog answer with the new version, and from the build's end (its operation's finish) to that answer, the
announcement's share (goal: p50 of the first at most 0.5 s).
"""

from __future__ import annotations

import http.client
import time

from environment import arguments, percentile
from stack import (
    Announcements,
    Processes,
    bench_main,
    bench_stack,
    celery_start,
    metric_sum,
    wait_answering,
    wait_log,
    web_start,
)

GOAL_VISIBLE_P50_S = 0.5
GOAL_OPS_PER_PROCESS_MINUTE = 3.0
VISIBLE_TIMEOUT_S = 30.0
EDITOR = "bench-editor"


def etag_now(port: int, known: str) -> str:
    """The catalog's ETag as a fresh connection (any web process) gets it, asking with the one known."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/catalog", headers={"Accept-Encoding": "gzip", "If-None-Match": known})
        response = conn.getresponse()
        response.read()
        return response.getheader("ETag") or ""
    finally:
        conn.close()


def at_rest(web, workers: int, seconds: float) -> float:
    """Shared-cache operations per web process per minute while nothing changes."""
    before = metric_sum(web, "airtime_shared_cache_ops_total")
    time.sleep(seconds)
    # Each process hands its counts over every second: wait one more before reading.
    time.sleep(1.5)
    spent = metric_sum(web, "airtime_shared_cache_ops_total") - before
    return spent / workers / (seconds / 60)


def edits(web, count: int) -> tuple[list[float], list[float]]:
    """Save an episode `count` times; for each, seconds from the save's answer (and from its build's end) to the
    first /api/catalog answer with the new version."""
    from cms import services

    program = services.program_create(user=EDITOR, title="速報", slug="sokuho", genre="news", status="published")
    season = services.season_create(user=EDITOR, program_id=program.id, title="速報 第1期", status="published")
    episode = services.episode_create(
        user=EDITOR, program_id=program.id, season_id=season.id, number=1, title="第0版",
        duration_s=600, status="published",
    )  # fmt: skip
    time.sleep(3)  # its own builds, out of the way
    from_save, from_build = [], []
    announced = Announcements()
    for n in range(1, count + 1):
        known = etag_now(web.port, "")
        episode = services.episode_update(episode_id=episode.id, version=episode.version, user=EDITOR, title=f"第{n}版")
        saved = time.monotonic()
        while etag_now(web.port, known) in ("", known):
            if time.monotonic() - saved > VISIBLE_TIMEOUT_S:
                raise SystemExit(f"edit {n} was not on /api/catalog after {VISIBLE_TIMEOUT_S:g} s")
            time.sleep(0.002)
        seen = time.monotonic()
        from_save.append(seen - saved)
        version = etag_now(web.port, known).strip('"')
        if version in announced.at:
            from_build.append(max(0.0, seen - announced.at[version]))
        time.sleep(0.5)
    announced.close()
    return from_save, from_build


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def figures(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: no figures"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"{label}: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(values) * 1000:.0f} ms ({len(values)})"


def run(procs: Processes, args) -> None:
    from cacheops.build import operations

    operations.catalog_rebuild(requested_by="bench", full=True)
    env = {"CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_SETTINGS_MODULE": "cms.settings"}
    web = web_start(procs, "Airtime", args.workers, env=env)
    worker = celery_start(procs, "worker", "celery worker", env={**env, "PROMETHEUS_MULTIPROC_DIR": str(web.metrics)})
    wait_log(worker, " ready.")
    wait_answering(web, "/api/catalog")
    time.sleep(2)  # every web process started, subscribed and holding the catalog
    for _ in range(4 * args.workers):
        etag_now(web.port, "")
    print(f"\n(a) at rest, {args.rest_seconds:g} s, {args.workers} web processes")
    per_minute = at_rest(web, args.workers, args.rest_seconds)
    ok = per_minute <= GOAL_OPS_PER_PROCESS_MINUTE
    print(
        f"    shared-cache operations per process per minute: {per_minute:.2f}  "
        f"goal <= {GOAL_OPS_PER_PROCESS_MINUTE:g}: {verdict(ok)}"
    )
    print(f"\n(b) {args.edits} saves, each queued to the worker as an editor's is; time to /api/catalog")
    from_save, from_build = edits(web, args.edits)
    print("    " + figures("from the save's answer", from_save))
    print("    " + figures("from the announcement (the readers told, their fetch, the answer)", from_build))
    p50 = percentile(from_save, 0.5)
    print(
        f"    p50 from the save {p50 * 1000:.0f} ms  goal <= {GOAL_VISIBLE_P50_S * 1000:.0f} ms: "
        f"{verdict(p50 <= GOAL_VISIBLE_P50_S)}"
    )


def options():
    parser = arguments("Edit-to-visible latency and shared-cache operations at rest, with announcements.")
    parser.add_argument("--workers", type=int, default=2, help="web worker processes (2)")
    parser.add_argument("--edits", type=int, default=30, help="saves to time (30)")
    parser.add_argument("--rest-seconds", type=float, default=60, help="seconds at rest to count operations (60)")
    parser.set_defaults(programs=60)
    return parser.parse_args()


def main() -> None:
    args = options()
    overrides = {"CELERY_TASK_ALWAYS_EAGER": "false", "CACHEOPS_REBUILD_ON_SAVE": "true"}
    title = "announcements: edits to the apps, and the cost at rest"
    with bench_stack("airtime-announce-", args.programs, title, overrides) as procs:
        run(procs, args)


if __name__ == "__main__":
    bench_main(main)
