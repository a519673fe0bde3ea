"""The console's workers page and its JSON, served by the production server beside real Celery workers and beat on
a broker of the test's own, which the tests stop."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from celery import Celery
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.urls import reverse

from cms.store.local import free_port
from tests.cacheops.conftest import process_env, process_stop, server_start, session_script, wait_for
from tests.conftest import paused

# The broker's reads in a process of the stack's own, timed there: what they answer and how long they took.
GLANCE = """
import time

import django

django.setup()
from cms.enqueue import broker_glance

started = time.monotonic()
glance = broker_glance(0.5, 0.25, workers=1)
print(glance.depth, glance.active, time.monotonic() - started)
"""

# The page gives the broker one second in all (cacheops/console/workers_panel.py); this leaves room for a loaded
# machine while still far below the socket timeouts (2 s each, several calls) it would wait on unbounded.
ANSWER_WITHIN_S = 3
BROKER_DOWN_JA = "ブローカーが応答しません"


@dataclass
class Site:
    url: str
    env: dict
    db: Path
    session: requests.Session
    tmp_path: Path

    def page(self) -> str:
        answer = self.session.get(f"{self.url}/admin/cacheops/workers/", timeout=30)
        assert answer.status_code == 200, answer.text[:2000]
        return answer.text

    def json(self) -> dict:
        answer = self.session.get(f"{self.url}/admin/cacheops/workers.json", timeout=30)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json", answer.text[:2000]
        return answer.json()

    def sql(self, query: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db) as db:
            return db.execute(query, params).fetchall()


def celery_start(site: Site, log: str, *args: str) -> subprocess.Popen:
    with (site.tmp_path / log).open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cms", *args],
            cwd=django_settings.BASE_DIR,
            env=site.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def worker_start(site: Site, pool: str) -> subprocess.Popen:
    """A worker with one pool process; prefork answers Celery's remote control while its process runs a task."""
    worker = celery_start(site, "worker.log", "worker", f"--pool={pool}", "--concurrency=1", "-l", "info")
    log = site.tmp_path / "worker.log"
    assert wait_for(lambda: "ready." in log.read_text() or worker.poll() is not None), log.read_text()
    assert worker.poll() is None, log.read_text()
    return worker


def first(read, accept, timeout_s: float = 30):
    """The first answer of `read()` that `accept` takes, reading again until one is; None if none was in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if accept(answer := read()):
            return answer
        time.sleep(0.1)
    return None


def task_send(broker: str, name: str, **kwargs) -> str:
    """Queue a task by name on `broker`, as a web process would; return its id."""
    sender = Celery("sender", broker=broker, backend=broker, set_as_current=False)  # not the tests' app
    try:
        return sender.send_task(name, kwargs=kwargs).id
    finally:
        sender.close()


@pytest.fixture
def site(tmp_path, private_dynamodb, private_redis, redis_engine):
    """The admin served by the production server on its own SQLite file, the store and the broker the test's own;
    an Ops session."""
    _proc, broker = private_redis
    env = process_env(
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        CACHEOPS_REBUILD_ON_SAVE="0",
        # A stalled store is waited for: a build keeps running while the test looks at it.
        DYNAMODB_READ_TIMEOUT="120",
        DYNAMODB_MAX_RETRIES="0",
    )
    run = {"cwd": django_settings.BASE_DIR, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)
    session_key = subprocess.run([sys.executable, "-c", session_script("oki", "Ops")], **run).stdout.strip()
    url = f"http://127.0.0.1:{free_port()}"
    web = server_start(env, url, tmp_path / "web.log")
    session = requests.Session()
    session.cookies.set("sessionid", session_key)

    def answers() -> bool:
        try:
            return requests.get(f"{url}/admin/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        assert wait_for(lambda: answers() or web.poll() is not None) and web.poll() is None, (
            tmp_path / "web.log"
        ).read_text()
        yield Site(url, env, tmp_path / "db.sqlite3", session, tmp_path)
    finally:
        session.close()
        process_stop(web)


def _alive_workers(site: Site) -> list[dict]:
    return [row for row in site.json()["workers"] if row["alive"]]


@pytest.mark.parametrize(
    ("pool", "listed_by"),
    [
        # The worker's main process answers while its pool process runs the build: the task's name and runtime.
        ("prefork", "inspect"),
        # A solo worker runs the build in the process that would answer: the ids its heartbeat holds stand in.
        ("solo", "heartbeat"),
    ],
)
def test_a_worker_running_a_build_is_listed_alive_with_that_task(
    site, private_dynamodb, private_redis, pool, listed_by
):
    _proc, broker = private_redis
    worker = worker_start(site, pool)
    try:
        assert wait_for(lambda: len(_alive_workers(site)) == 1), site.json()
        idle = _alive_workers(site)[0]
        assert idle["tasks"] == [] and idle["pid"] == worker.pid and idle["node"].startswith("celery@")

        with paused(private_dynamodb):  # the store stalls: the build waits on it, running
            task_id = task_send(broker, "cacheops.tasks.rebuild", requested_by="oki", full=True)

            def running(rows: list[dict]) -> bool:
                return [[t["id"] for t in row["tasks"]] + [row["tasks_from"]] for row in rows] == [[task_id, listed_by]]

            # Each read asks the worker again; the first that shows the task as this pool lists it is kept.
            busy = first(lambda: _alive_workers(site), running)
            assert busy, (site.json(), (site.tmp_path / "worker.log").read_text())
            busy = busy[0]

            def row(page: str) -> str:
                """The worker's row on the page (shown alive), or ""."""
                before, _, after = page.partition(f'data-worker="{busy["name"]}"')
                return after.split("</tr>", 1)[0] if "worker-alive" in before.rsplit("<tr", 1)[-1] else ""

            def shows(page: str) -> bool:
                shown = row(page)
                return f'data-task-id="{task_id}"' in shown and ("cacheops.tasks.rebuild" in shown) == (
                    pool == "prefork"
                )

            page = first(site.page, shows)
            assert page, site.page()
            shown = row(page)
    finally:
        process_stop(worker)

    task = busy["tasks"][0]
    if listed_by == "inspect":
        assert task["name"] == "cacheops.tasks.rebuild" and task["runtime_s"] >= 0 and task["started_at"]
    else:
        # Named after the operation the build recorded with its task id, once it has started one.
        assert task["name"] is None and task["operation"] in (None, "rebuild catalog")
    # The page shows the same: the worker alive, by node name and pid, with the task.
    assert busy["node"] in shown and str(worker.pid) in shown and f'data-task-id="{task_id}"' in shown
    assert BROKER_DOWN_JA not in page and 'id="queue-depth"' in page


def test_with_the_broker_stopped_the_page_answers_at_once_and_says_the_broker_does_not_answer(site, private_redis):
    proc, _broker = private_redis
    worker = worker_start(site, "prefork")
    try:
        assert wait_for(lambda: len(_alive_workers(site)) == 1)
        assert site.json()["broker"]["answers"] is True

        with paused(proc):  # SIGSTOP: connections are accepted, nothing is ever answered
            started = time.monotonic()
            page = site.page()
            took = time.monotonic() - started
            stalled = site.json()
            run = {"cwd": django_settings.BASE_DIR, "env": site.env, "capture_output": True, "text": True}
            glanced = subprocess.run([sys.executable, "-c", GLANCE], check=True, timeout=60, **run).stdout.split()
            started = time.monotonic()
            metrics = site.session.get(f"{site.url}/metrics", timeout=30)
            metrics_took = time.monotonic() - started
        # A scrape leaves the broker out, said so, within the same bound.
        assert metrics.status_code == 200 and 'airtime_scrape_source_up{source="broker"} 0.0' in metrics.text
        assert "airtime_queue_depth " not in metrics.text and metrics_took < ANSWER_WITHIN_S, metrics_took
        # The bound is the page's own timeouts (one second for every broker call together), not the sockets'.
        assert took < ANSWER_WITHIN_S, took
        # Given half a second, the reads answer by then: a read waiting on its socket would take its 2 s timeout.
        assert glanced[:2] == ["None", "None"] and float(glanced[2]) < 1.5, glanced
        assert BROKER_DOWN_JA in page and 'id="queue-depth"' not in page
        assert stalled["broker"] == {"answers": False, "queue_depth": None}
        # The workers still show, from their heartbeat rows in SQL.
        assert [row["tasks_from"] for row in stalled["workers"] if row["alive"]] == ["heartbeat"]

        os.kill(proc.pid, signal.SIGKILL)  # the broker gone for good: connections refused
        proc.wait()
        started = time.monotonic()
        page = site.page()
        assert time.monotonic() - started < ANSWER_WITHIN_S
        assert BROKER_DOWN_JA in page and site.json()["broker"]["answers"] is False
    finally:
        process_stop(worker)


def test_the_json_gives_the_queue_what_waits_longest_and_beats_schedule(site, private_redis):
    queued_at = "2026-01-02 03:04:05"
    site.sql("INSERT INTO cacheops_buildrequest (family, queued, queued_at) VALUES ('catalog', 1, ?)", queued_at)
    beat = celery_start(site, "beat.log", "beat", "-l", "info", "-s", str(site.tmp_path / "beat-schedule"))
    try:
        # No worker takes them: beat's tasks (stalled builds every 2 s) pile up in the queue, and beat records
        # when it sent each entry.
        def sent(found: dict) -> bool:
            stalled = [e for e in found["beat"]["schedule"] if e["name"] == "rebuild-stalled-changes"]
            return bool(stalled and stalled[0]["last_run_at"] and found["broker"]["queue_depth"])

        found = first(site.json, sent)
        assert found, (site.json(), (site.tmp_path / "beat.log").read_text())
        page = site.page()
    finally:
        process_stop(beat)

    assert set(found) == {"now", "broker", "workers_alive", "workers_answered_inspect", "workers", "waiting", "beat"}
    assert found["broker"]["answers"] is True and found["broker"]["queue_depth"] >= 1
    assert found["workers_alive"] == 0 and found["workers"] == [] and found["workers_answered_inspect"] is False
    oldest = found["waiting"]["oldest_build_request"]
    assert oldest["family"] == "catalog" and oldest["queued_at"] == "2026-01-02T03:04:05Z" and oldest["waited_s"] > 0
    assert found["waiting"]["edits_not_taken"] == 0 and found["waiting"]["oldest_edit_not_taken"] is None
    assert found["beat"]["alive"] is True and found["beat"]["last_tick_at"].endswith("Z")
    entries = {e["name"]: e for e in found["beat"]["schedule"]}
    assert set(entries) == set(django_settings.CELERY_BEAT_SCHEDULE)
    stalled = entries["rebuild-stalled-changes"]
    assert stalled["task"] == "cacheops.tasks.rebuild_stalled" and stalled["every_s"] == 2.0
    last, following = (datetime.fromisoformat(stalled[k]) for k in ("last_run_at", "next_run_at"))
    assert stalled["next_run_estimated"] is False and following - last == timedelta(seconds=2)
    # An hourly entry beat has not sent yet: its next run is estimated from beat's last sign of life.
    hourly = entries["refresh-cache-ttls"]
    assert hourly["last_run_at"] is None and hourly["next_run_estimated"] is True and hourly["every_s"] == 3600.0
    # The page: times to the second in JST with UTC beside them, in Japanese.
    assert "2026-01-02 12:04:05 JST" in page and "2026-01-02 03:04:05 UTC" in page
    assert "ワーカー" in page and "見積もり" in page


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["workers", "workers_json"])
def test_only_staff_with_the_console_permission_see_the_workers(client, name):
    url = reverse(f"cacheops_console:{name}")
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(User.objects.create_user("guest", is_staff=False))
    refused = client.get(url)
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("admin:login"))
    client.force_login(User.objects.create_user("temp", is_staff=True))  # staff, in no group
    assert client.get(url).status_code == 403
    assert client.post(url).status_code in (403, 405)
