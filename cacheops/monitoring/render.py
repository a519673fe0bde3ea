"""The monitoring definition (definition.py) rendered for each tool: a Grafana dashboard built with Grafana's own SDK,
Prometheus alert rules and their `promtool test rules` file, and a CloudWatch dashboard body with the CloudWatch
agent's configuration that publishes the same series to CloudWatch (as embedded metric format log events)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from cacheops.monitoring.definition import ALERTS, PANELS, Alert, Panel

UID = "airtime-catalog"
TITLE = "Airtime: catalog and read path"
RULES_FILE = "alerts.yml"
CLOUDWATCH_NAMESPACE = "Airtime"
CLOUDWATCH_REGION = "ap-northeast-1"
PERIOD_S = 60
WIDTH, HEIGHT = 12, 8  # a Grafana grid is 24 wide; CloudWatch's too
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
FILES = {
    "grafana-dashboard.json": lambda: _json(grafana_dashboard()),
    RULES_FILE: lambda: _yaml(prometheus_rules()),
    "alerts.test.yml": lambda: _yaml(promtool_tests()),
    "cloudwatch-dashboard.json": lambda: _json(cloudwatch_dashboard()),
    "cloudwatch-agent.json": lambda: _json(cloudwatch_agent()),
}


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _yaml(value) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=120)


def _position(index: int) -> tuple[int, int]:
    return (index % 2) * WIDTH, (index // 2) * HEIGHT


def _grafana_panel(panel: Panel, index: int):
    x, y = _position(index)
    built = (stat.Panel() if panel.kind == "stat" else timeseries.Panel()).title(panel.title)
    built = built.description(panel.description).unit(panel.unit).datasource(DATASOURCE)
    built = built.grid_pos(GridPos(h=HEIGHT, w=WIDTH, x=x, y=y))
    for number, query in enumerate(panel.queries):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto")
        built = built.with_target(target.ref_id(chr(ord("A") + number)).datasource(DATASOURCE))
    return built


def grafana_dashboard() -> dict:
    """The dashboard as Grafana imports it (Dashboards > New > Import), asking which Prometheus to read."""
    board = (
        dashboard.Dashboard(TITLE)
        .uid(UID)
        .tags(["airtime"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for index, panel in enumerate(PANELS):
        board = board.with_panel(_grafana_panel(panel, index))
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def _rule(alert: Alert) -> dict:
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.for_,
        "labels": {"severity": alert.severity},
        "annotations": {"summary": alert.summary, "description": alert.description},
    }


def prometheus_rules() -> dict:
    """Prometheus alerting rules (rule_files in prometheus.yml)."""
    return {"groups": [{"name": "airtime", "rules": [_rule(alert) for alert in ALERTS]}]}


def promtool_tests() -> dict:
    """`promtool test rules` input: each alert with series that must make it fire and series that must not."""
    tests = []
    for alert in ALERTS:
        for case in alert.cases:
            expected = [{"exp_labels": {"severity": alert.severity}, "exp_annotations": _rule(alert)["annotations"]}]
            tests.append(
                {
                    "name": f"{alert.name} {'fires' if case.fires else 'stays quiet'}",
                    "interval": "1m",
                    "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                    "alert_rule_test": [
                        {
                            "eval_time": f"{case.at}m",
                            "alertname": alert.name,
                            "exp_alerts": expected if case.fires else [],
                        }
                    ],
                }
            )
    return {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": tests}


def _cloudwatch_metrics(panel: Panel) -> list[list]:
    rows: list[list] = []
    for number, watch in enumerate(panel.watches):
        dimensions = [part for pair in sorted(watch.dimensions.items()) for part in pair]
        if watch.per_second:
            # Each period's Sum of the agent's deltas, divided by the period's length: a rate per second.
            rows.append([CLOUDWATCH_NAMESPACE, watch.metric, *dimensions, {"id": f"m{number}", "visible": False}])
            rows.append([{"expression": f"m{number} / PERIOD(m{number})", "label": watch.label, "id": f"e{number}"}])
        else:
            rows.append([CLOUDWATCH_NAMESPACE, watch.metric, *dimensions, {"stat": watch.stat, "label": watch.label}])
    return rows


def cloudwatch_dashboard() -> dict:
    """A CloudWatch dashboard body (`aws cloudwatch put-dashboard --dashboard-body file://...`) of the panels the
    CloudWatch agent can carry; the others (histograms) are listed in a text widget."""
    carried = [panel for panel in PANELS if panel.watches]
    widgets = []
    for index, panel in enumerate(carried):
        x, y = _position(index)
        stat_of = next((w.stat for w in panel.watches), "Sum")
        widgets.append(
            {
                "type": "metric",
                "x": x,
                "y": y,
                "width": WIDTH,
                "height": HEIGHT // 2 + 2,
                "properties": {
                    "title": panel.title,
                    "region": CLOUDWATCH_REGION,
                    "view": "singleValue" if panel.kind == "stat" else "timeSeries",
                    "stat": stat_of,
                    "period": PERIOD_S,
                    "metrics": _cloudwatch_metrics(panel),
                },
            }
        )
    missing = ", ".join(panel.title for panel in PANELS if not panel.watches)
    widgets.append(
        {
            "type": "text",
            "x": 0,
            "y": _position(len(carried))[1] + HEIGHT,
            "width": 2 * WIDTH,
            "height": 3,
            "properties": {
                "markdown": "Only in Grafana (the CloudWatch agent drops Prometheus histograms and info series): "
                + missing
            },
        }
    )
    return {"widgets": widgets}


def cloudwatch_agent() -> dict:
    """The CloudWatch agent's `logs.metrics_collected.prometheus` section: it scrapes /metrics and publishes the
    series the dashboard reads as embedded metric format events, counters as deltas, in the Airtime namespace."""
    declarations: dict[tuple[str, ...], set[str]] = {}
    for panel in PANELS:
        for watch in panel.watches:
            declarations.setdefault(tuple(sorted(watch.dimensions)), set()).add(watch.metric)
    return {
        "logs": {
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": "/airtime/prometheus",
                    "prometheus_config_path": "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml",
                    "emf_processor": {
                        "metric_namespace": CLOUDWATCH_NAMESPACE,
                        "metric_declaration": [
                            {
                                "source_labels": ["job"],
                                "label_matcher": "^airtime$",
                                "dimensions": [list(dims)],
                                "metric_selectors": [f"^{name}$" for name in sorted(names)],
                            }
                            for dims, names in sorted(declarations.items())
                        ],
                    },
                }
            }
        }
    }


def export(directory: Path) -> list[Path]:
    """Write every rendering into `directory`; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in FILES.items():
        path = directory / name
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """The files in `directory` missing or differing from what the definition renders now."""
    return [
        name
        for name, render in FILES.items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != render()
    ]
