"""What /healthz, /metrics, catalog_status, the release state and the ops console say once the run has settled,
held against what is true: the version each web process serves (read on the same connection), the shared cache's
manifest, the services that answer, and the builds that really run (a killed worker runs nothing).
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass

import orjson
import redis
from prometheus_client.parser import text_string_to_metric_families
from rehearsal_driver import Driver
from rehearsal_readers import Connection, etag_version
from rehearsal_stack import Stack
from stack import connection_owners, redis_url, worker_pids

GZIP = {"Accept-Encoding": "gzip"}
# The statements are asked again while one is untrue, a poll and a half apart: a process may be a poll behind a change
# made a moment before.
ROUNDS = 3
ROUND_GAP_S = 1.5
# Connections opened to find every web process (the kernel hands each to whichever worker accepts first).
CONNECTIONS = 8
CONNECTIONS_MAX = 32
ATTEMPTS = 3


@dataclass
class Statement:
    source: str
    says: str
    truth: str
    true: bool


def _says(source: str, says: object, truth: object) -> Statement:
    return Statement(source, str(says), str(truth), says == truth)


@dataclass
class ProcessView:
    """One web process as seen on one connection: /healthz around a catalog read, and /metrics."""

    pid: int
    health: dict
    served: str
    metrics_served: str
    metrics_release: str


def _metric_labels(body: bytes, name: str) -> dict[str, str]:
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                return sample.labels
    return {}


def _view(connection: Connection, pid: int) -> ProcessView | None:
    """/healthz, /api/catalog, /healthz and /metrics on one connection; None if a switch came in between."""
    for _attempt in range(ATTEMPTS):
        _status, _headers, before = connection.get("/healthz", {})
        _status, headers, _body = connection.get("/api/catalog", GZIP)
        _status, _headers, after = connection.get("/healthz", {})
        _status, _headers, metrics = connection.get("/metrics", {})
        health, again = orjson.loads(before), orjson.loads(after)
        if health.get("version") == again.get("version"):
            served = _metric_labels(metrics, "airtime_catalog_served_info").get("version", "")
            release = _metric_labels(metrics, "airtime_catalog_release_info").get("current", "")
            return ProcessView(pid, health, etag_version(headers.get("etag")), served, release)
        time.sleep(0.5)
    return None


def process_views(stack: Stack) -> list[ProcessView]:
    """A view of every web process, found by opening connections until each process holds one."""
    pids, views, opened = set(worker_pids(stack.web)), {}, []
    try:
        while len(opened) < CONNECTIONS_MAX and (len(opened) < CONNECTIONS or set(views) < pids):
            connection = Connection(stack.web.port)
            connection.get("/healthz", {})
            opened.append(connection)
            port = connection.conn.sock.getsockname()[1] if connection.conn and connection.conn.sock else 0
            pid = connection_owners(stack.web).get(port, 0)
            if pid not in views and (view := _view(connection, pid)) is not None:
                views[pid] = view
    finally:
        for connection in opened:
            connection.close()
    return list(views.values())


def _answers(url: str) -> bool:
    with contextlib.suppress(redis.RedisError):
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    return False


def web_statements(stack: Stack, views: list[ProcessView], current: str) -> list[Statement]:
    """What each web process's /healthz and /metrics say, against what it serves and the services' state."""
    cache_state = "ok" if _answers(redis_url(stack.cache)) else "unreachable"
    broker_state = "ok" if _answers(redis_url(stack.broker)) else "error"
    found = []
    for view in views:
        where = f"process {view.pid}" if view.pid else "a process"
        found += [
            _says(f"/healthz version ({where})", view.health.get("version"), view.served),
            _says(f"/healthz shared_cache ({where})", view.health.get("shared_cache"), cache_state),
            _says(f"/healthz broker ({where})", view.health.get("broker"), broker_state),
            _says(f"/metrics airtime_catalog_served_info ({where})", view.metrics_served, view.served),
            _says(f"/metrics airtime_catalog_release_info current ({where})", view.metrics_release, current),
            _says(f"what readers get from {where} is the release state's current version", view.served, current),
        ]
    return found


def catalog_status_version() -> str:
    """The catalog's version as `manage.py catalog_status --json` prints it (run here, with the stack's settings)."""
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    try:
        call_command("catalog_status", as_json=True, stdout=out)
    except CommandError as exc:
        return f"error: {exc}"
    families = orjson.loads(out.getvalue())["families"]
    catalog = next((f for f in families if f["name"] == "catalog"), None)
    return ((catalog or {}).get("manifest") or {}).get("version", "")


def _running(op, killed: set[int]) -> bool:
    """Whether an operation without a result is really running: not a killed worker's, and still beating."""
    from django.utils import timezone

    from cacheops.console.queries import silent_since

    last = op.heartbeat_at or op.started_at
    return op.pk not in killed and last >= silent_since(timezone.now())


def console_statements(driver: Driver, readers_get: str) -> list[Statement]:
    """The console's overview of the catalog, its operations log and ops' tasks, against what really runs."""
    from django.utils import translation

    with translation.override("en"):
        return _console_statements(driver, readers_get)


def _console_statements(driver: Driver, readers_get: str) -> list[Statement]:
    from django.utils import timezone

    from cacheops.console import actions, summaries
    from cacheops.models import ConsoleTask, Operation

    killed = {operation for _node, _at, operation in driver.kills}
    unfinished = list(Operation.objects.filter(result=""))
    catalog_running = any(_running(op, killed) for op in unfinished if op.family == "catalog")
    overview = summaries.overview_read("", None, timezone.now()).catalog
    found = [
        _says("console: the catalog's version", overview.version if overview else None, readers_get),
        _says("console: the catalog's state is building", overview.state == summaries.BUILDING, catalog_running),
    ]
    if overview and overview.staged_at is not None:
        found.append(
            _says("console: a version is staged for an instant ahead", overview.staged_at > timezone.now(), True)
        )
    for row in summaries.operation_rows(unfinished, timezone.now()):
        if row.result_key == summaries.RUNNING:
            found.append(
                _says(f"console: operation {row.op.pk} ({row.op.kind}) is running", True, _running(row.op, killed))
            )
    for task in ConsoleTask.objects.filter(id__in=driver.console_tasks):
        status = actions.task_status(task)
        if status.finished:
            continue
        work = [op for op in unfinished if op.requested_by == task.requested_by and _running(op, killed)]
        found.append(_says(f"console: task {task.pk} ({task.kind}) is unfinished: {status.message}", True, bool(work)))
    return found


def release_statements(current: str, manifest_version: str | None, status_version: str) -> list[Statement]:
    return [
        _says("release state (SQL): current version is the cache manifest's", current, manifest_version),
        _says("catalog_status --json: the catalog's version", status_version, current),
    ]


def statements_collect(stack: Stack, driver: Driver) -> tuple[list[Statement], list[ProcessView]]:
    """Every statement and the view of each web process it was checked against (asked again while one is untrue)."""
    from cacheops.manifest import manifest_read
    from cacheops.models import Family

    for round_no in range(ROUNDS):
        current = Family.objects.get(name="catalog").current_version
        manifest = manifest_read("catalog")
        views = process_views(stack)
        statements = (
            web_statements(stack, views, current)
            + release_statements(current, manifest["version"] if manifest else None, catalog_status_version())
            + console_statements(driver, current)
        )
        if all(s.true for s in statements) or round_no == ROUNDS - 1:
            return statements, views
        time.sleep(ROUND_GAP_S)
    raise AssertionError("unreachable")
