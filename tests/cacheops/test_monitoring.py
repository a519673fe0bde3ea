"""Dashboards and alerts, generated from one definition: up to date, valid for Grafana, unit-tested by promtool, and
every query answered with data by a real Prometheus scraping a running stack."""

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from cacheops.monitoring import render
from cacheops.monitoring.definition import ALERTS, PANELS
from cms.store.local import free_port
from tests.cacheops.conftest import get, process_stop, show_create, stack_env, wait_for, web_start, worker_start

MONITORING = Path(settings.BASE_DIR) / "monitoring"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
EXPRESSIONS = [q.expr for panel in PANELS for q in panel.queries] + [a.expr for a in ALERTS]


def test_the_committed_files_are_what_the_definition_generates():
    call_command("monitoring_export", "--check", "--dir", str(MONITORING))


def test_the_grafana_dashboard_reads_back_through_grafanas_own_model():
    data = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    model = Dashboard.from_json(data)
    assert json.loads(JSONEncoder(sort_keys=True).encode(model)) == data
    titles = [panel["title"] for panel in data["panels"]]
    assert titles == [panel.title for panel in PANELS]
    assert all(target["datasource"]["uid"] == "${datasource}" for p in data["panels"] for target in p["targets"])
    assert [v["name"] for v in data["templating"]["list"]] == ["datasource"]


def test_the_cloudwatch_dashboard_names_only_series_the_agent_publishes():
    body = json.loads((MONITORING / "cloudwatch-dashboard.json").read_text())
    agent = json.loads((MONITORING / "cloudwatch-agent.json").read_text())
    declared = agent["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"]
    published = {selector.strip("^$") for d in declared for selector in d["metric_selectors"]}
    named = {
        row[1]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
        if isinstance(row[0], str)
    }
    assert named and named <= published
    assert all(not name.endswith(("_bucket", "_info")) for name in named)  # the agent drops histograms


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules_and_each_alert_fires_only_on_its_own_series(tmp_path):
    checked = _promtool("check", "rules", "alerts.yml", cwd=MONITORING)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout
    tested = _promtool("test", "rules", "alerts.test.yml", cwd=MONITORING)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert {alert.name for alert in ALERTS} == {test["name"].split()[0] for test in render.promtool_tests()["tests"]}
    assert all({c.fires for c in alert.cases} == {True, False} for alert in ALERTS)

    # The unit tests can fail: an alert made twice as touchy fires on the series meant to keep it quiet.
    (tmp_path / "alerts.yml").write_text((MONITORING / "alerts.yml").read_text().replace("> 0.01", "> 0.001"))
    shutil.copy(MONITORING / "alerts.test.yml", tmp_path)
    touchy = _promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert touchy.returncode != 0 and "ReadApiServerErrors" in touchy.stdout + touchy.stderr


def _query(prometheus: str, expr: str) -> list:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.fixture
def stack(private_redis, redis_engine, dynamodb, tmp_path):
    """The production web server (2 workers), a Celery worker and beat over a private broker, with one program."""
    env = stack_env(tmp_path, private_redis[1])
    show_create("ダンジョン飯", f"dungeon-{uuid.uuid4().hex[:8]}", ["迷宮"])
    started = []
    try:
        started.append(worker_start(env, tmp_path / "worker.log"))
        with (tmp_path / "beat.log").open("w") as log:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "cms", "beat", "-l", "info"]
                    + ["--schedule", str(tmp_path / "beat-schedule")],
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        with (tmp_path / "web.log").open("w") as log:
            web, port = web_start(env, log, workers=2)
        started.append(web)
        yield port
    finally:
        for proc in reversed(started):
            process_stop(proc)


@pytest.fixture
def prometheus(stack, tmp_path):
    """Debian's Prometheus scraping the stack every second and evaluating the generated rules."""
    port = free_port()
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [alerts.yml]\n"
        f"scrape_configs: [{{job_name: airtime, static_configs: [{{targets: ['127.0.0.1:{stack}']}}]}}]\n"
    )
    with (tmp_path / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
            + [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process_stop(proc)


def test_every_panel_and_alert_reads_data_from_prometheus_scraping_the_stack(stack, prometheus, tmp_path):
    # Readers: the catalog, its manifest, a program, an unknown program, health; all the while.
    paths = ["/api/catalog", "/api/catalog/manifest", "/api/programs/01NOSUCHPROGRAM0000000000000", "/healthz"]
    assert wait_for(lambda: get(stack, "/api/catalog")[0] == 200, 60), (tmp_path / "worker.log").read_text()[-3000:]
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            for path in paths:
                get(stack, path)
            time.sleep(0.05)

    reader = threading.Thread(target=traffic, daemon=True)
    reader.start()
    try:
        # Enough scrapes for every rate window to hold two samples of each series, and beat's first sign of life.
        def scraped() -> bool:
            try:
                up = _query(prometheus, 'count_over_time(up{job="airtime"}[1m])')
                beat = _query(prometheus, "airtime_beat_last_tick_timestamp_seconds")
            except OSError:
                return False
            return bool(up) and float(up[0]["value"][1]) >= 5 and bool(beat)

        assert wait_for(scraped, 60), (tmp_path / "prometheus.log").read_text()[-2000:]
        empty = []
        for panel in PANELS:
            for query in panel.queries:
                if not _query(prometheus, query.expr):
                    empty.append(f"panel {panel.title!r}: {query.expr}")
        for alert in ALERTS:
            for signal in alert.signals:
                if not _query(prometheus, signal):
                    empty.append(f"alert {alert.name}: {signal}")
        # Each series any of them names exists: an `or vector(0)` cannot hide a misspelt name.
        named = {name for text in EXPRESSIONS for name in re.findall(r"\bairtime_[a-z0-9_]+", text)}
        missing = sorted(name for name in named if not _query(prometheus, f'count({{__name__="{name}"}})'))
        assert empty == [] and missing == [], "\n".join(empty + missing)
    finally:
        stop.set()
        reader.join(timeout=10)

    # The state read at each scrape is the stack's: the version served is the one released, nothing is staged,
    # the build the first reader asked for is counted, every source could be read, and no alert fires.
    served = _query(prometheus, "airtime_catalog_served_info")
    released = _query(prometheus, "airtime_catalog_release_info")
    assert {s["metric"]["version"] for s in served} == {released[0]["metric"]["current"]}
    assert "staged" not in released[0]["metric"]  # an empty label is no label
    builds = _query(prometheus, "sum by (kind, result) (airtime_operation_seconds_count)")
    assert {(b["metric"]["kind"], b["metric"]["result"]) for b in builds} == {("rebuild", "published")}
    assert all(float(s["value"][1]) == 1 for s in _query(prometheus, "airtime_scrape_source_up"))
    assert _query(prometheus, 'ALERTS{alertstate="firing"}') == []
