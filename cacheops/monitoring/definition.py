"""The panels and alerts ops watch, defined once: the Grafana dashboard, the Prometheus rules, their unit tests and the
CloudWatch dashboard are all generated from this file (`manage.py monitoring_export`), never drawn by hand.

Every query reads what /metrics exposes: the read API's counters summed over a server's processes
(cacheops/metrics.py) and the state read at each scrape (cacheops/monitoring/state.py). Queries meant to show zero
when nothing happened say `or vector(0)`, since a counter of errors has no series before its first error.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel, with its legend (Grafana's `{{label}}` templates)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Watch:
    """One CloudWatch metric a panel maps to, as the CloudWatch agent publishes the Prometheus series.

    `stat` is CloudWatch's statistic over each period: counters arrive as deltas per scrape, so Sum / period is the
    rate; gauges arrive as they are. `dimensions` are the Prometheus labels kept as CloudWatch dimensions.
    """

    metric: str
    stat: str
    dimensions: dict[str, str] = field(default_factory=dict)
    label: str = ""
    per_second: bool = False  # divide each period's Sum by its length: a rate, as in PromQL


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    unit: str  # Grafana's unit id: reqps, s, percentunit, Bps, short, dateTimeFromNow...
    queries: tuple[Query, ...]
    # What CloudWatch shows for it; empty when the agent cannot carry it (it drops Prometheus histograms).
    watches: tuple[Watch, ...] = ()
    kind: str = "timeseries"  # or "stat"


@dataclass(frozen=True)
class Case:
    """Input series for `promtool test rules` and whether the alert fires at `at` (minutes after the start)."""

    series: dict[str, str]  # series selector -> promtool's expanding notation, one sample a minute
    fires: bool
    at: int = 10


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    # Parts of `expr` that must return data from a running stack whether or not the alert fires.
    signals: tuple[str, ...]
    for_: str
    severity: str  # page: someone acts now; ticket: someone looks today
    summary: str
    description: str
    cases: tuple[Case, ...]


P = Panel
Q = Query

PANELS: tuple[Panel, ...] = (
    P(
        "Catalog age",
        "Seconds since the instant the served catalog was built as of (the oldest any process serves).",
        "s",
        (Q("time() - min(airtime_catalog_as_of_timestamp_seconds)", "age"),),
        (Watch("airtime_catalog_as_of_timestamp_seconds", "Minimum", label="as of (epoch seconds)"),),
        kind="stat",
    ),
    P(
        "Versions: released, staged, served",
        "The release state's current and staged version (SQL), and how many scrapes' processes serve each version.",
        "short",
        (
            Q("max by (current, staged) (airtime_catalog_release_info)", "current {{current}} / staged {{staged}}"),
            Q("count by (version) (airtime_catalog_served_info)", "served {{version}}"),
        ),
    ),
    P(
        "Airtime readiness",
        "1 while an airtime is near with nothing staged for it (unstaged), or falls inside a rollback's pin (pinned).",
        "short",
        (Q("max by (reason) (airtime_airtime_unready)", "{{reason}}"),),
        (
            Watch("airtime_airtime_unready", "Maximum", {"reason": "unstaged"}, "unstaged"),
            Watch("airtime_airtime_unready", "Maximum", {"reason": "pinned"}, "pinned"),
        ),
    ),
    P(
        "Requests per second by endpoint",
        "Read API requests answered, per endpoint, summed over every web process.",
        "reqps",
        (Q("sum by (endpoint) (rate(airtime_request_seconds_count[1m]))", "{{endpoint}}"),),
        (Watch("airtime_requests_total", "Sum", label="requests/s", per_second=True),),
    ),
    P(
        "Latency by endpoint (p50, p99)",
        "Time to answer, from the read API's histogram (the CDN's and the network's time not included).",
        "s",
        (
            Q(
                "histogram_quantile(0.5, sum by (le, endpoint) (rate(airtime_request_seconds_bucket[5m])))",
                "p50 {{endpoint}}",
            ),
            Q(
                "histogram_quantile(0.99, sum by (le, endpoint) (rate(airtime_request_seconds_bucket[5m])))",
                "p99 {{endpoint}}",
            ),
        ),
    ),
    P(
        "Responses by status",
        "Answers per second by HTTP status; 503 means a process had no catalog yet, 5xx otherwise a fault.",
        "reqps",
        (Q("sum by (status) (rate(airtime_requests_total[1m]))", "{{status}}"),),
    ),
    P(
        "Server errors (share of requests)",
        "The share of read API answers that were 5xx, over 5 minutes.",
        "percentunit",
        (
            Q(
                '(sum(rate(airtime_requests_total{status=~"5.."}[5m])) or vector(0))'
                " / clamp_min(sum(rate(airtime_requests_total[5m])), 1e-9)",
                "5xx share",
            ),
        ),
    ),
    P(
        "Answered from memory",
        "The share of requests answered from a process's own copy without waiting on the shared cache.",
        "percentunit",
        (
            Q(
                "sum(rate(airtime_l1_hits_total[5m])) / clamp_min(sum(rate(airtime_requests_total[5m])), 1e-9)",
                "from memory",
            ),
        ),
    ),
    P(
        "Shared cache operations per second, against the quota",
        "Operations the readers send to the shared cache (polls and chunk fetches), and the cache's limit.",
        "ops",
        (
            Q("sum(rate(airtime_shared_cache_ops_total[1m]))", "operations/s"),
            Q('max(airtime_shared_cache_limit{limit="ops_per_second"})', "limit"),
        ),
        (Watch("airtime_shared_cache_ops_total", "Sum", label="operations/s", per_second=True),),
    ),
    P(
        "Shared cache bytes read per second, against the quota",
        "Bytes the readers read from the shared cache (each version change: every process reads the whole catalog).",
        "Bps",
        (
            Q("sum(rate(airtime_shared_cache_read_bytes_total[1m]))", "bytes/s"),
            Q('max(airtime_shared_cache_limit{limit="bytes_per_second"})', "limit"),
        ),
        (Watch("airtime_shared_cache_read_bytes_total", "Sum", label="bytes/s", per_second=True),),
    ),
    P(
        "Shared cache errors",
        "Operations the shared cache failed (unreachable, timed out), per second.",
        "ops",
        (Q('sum(rate(airtime_shared_cache_ops_total{result="error"}[5m])) or vector(0)', "errors/s"),),
        (Watch("airtime_shared_cache_ops_total", "Sum", {"result": "error"}, "errors/s", per_second=True),),
    ),
    P(
        "Build duration (p50, p95)",
        "How long cache operations took, from every worker's operations log.",
        "s",
        (
            Q(
                "histogram_quantile(0.5, sum by (le, kind) (rate(airtime_operation_seconds_bucket[1h])))",
                "p50 {{kind}}",
            ),
            Q(
                "histogram_quantile(0.95, sum by (le, kind) (rate(airtime_operation_seconds_bucket[1h])))",
                "p95 {{kind}}",
            ),
        ),
    ),
    P(
        "Operations by result (last hour)",
        "Builds, invalidations and prewarms by result; failed and abandoned ones need a look.",
        "short",
        (Q("sum by (kind, result) (increase(airtime_operation_seconds_count[1h]))", "{{kind}} {{result}}"),),
    ),
    P(
        "Edits waiting for a build",
        "Edits saved and not yet in a published catalog, and how long the oldest has waited.",
        "short",
        (
            Q("max(airtime_edits_waiting)", "edits waiting"),
            Q("max(airtime_edits_oldest_waiting_seconds)", "oldest waits (s)"),
        ),
        (
            Watch("airtime_edits_waiting", "Maximum", label="edits waiting"),
            Watch("airtime_edits_oldest_waiting_seconds", "Maximum", label="oldest waits (s)"),
        ),
    ),
    P(
        "Queue depth",
        "Tasks waiting in the broker for a worker.",
        "short",
        (Q("max(airtime_queue_depth)", "waiting tasks"),),
        (Watch("airtime_queue_depth", "Maximum", label="waiting tasks"),),
    ),
    P(
        "Workers alive",
        "Celery workers that wrote a sign of life within their last three heartbeats; saves wait while none is.",
        "short",
        (Q("max(airtime_workers_alive)", "workers alive"),),
        (Watch("airtime_workers_alive", "Minimum", label="workers alive"),),
    ),
    P(
        "Beat: seconds since its last sign of life",
        "Celery beat records that it runs every few seconds; airtimes and sweeps stop when it is silent.",
        "s",
        (Q("time() - max(airtime_beat_last_tick_timestamp_seconds)", "beat silent for"),),
        (Watch("airtime_beat_last_tick_timestamp_seconds", "Maximum", label="last tick (epoch seconds)"),),
    ),
    P(
        "What /metrics could read",
        "1 when the scrape read the source (reader, SQL, broker); 0 means that part of the state is missing.",
        "short",
        (Q("min by (source) (airtime_scrape_source_up)", "{{source}}"),),
    ),
)

ALERTS: tuple[Alert, ...] = (
    Alert(
        "AirtimeNotStaged",
        'max(airtime_airtime_unready{reason="unstaged"}) == 1',
        ('max(airtime_airtime_unready{reason="unstaged"})',),
        "0m",
        "page",
        "An airtime is less than 5 minutes away and no verified catalog is staged for it",
        "Readers cannot all fetch the catalog in time. Open the console's airtime page: prepare the airtime or "
        "rebuild now; the airtime tick stages it once a build is verified.",
        (
            Case({'airtime_airtime_unready{reason="unstaged"}': "0x5 1x5"}, fires=True),
            Case({'airtime_airtime_unready{reason="unstaged"}': "0x10"}, fires=False),
        ),
    ),
    Alert(
        "PinAcrossAirtime",
        'max(airtime_airtime_unready{reason="pinned"}) == 1',
        ('max(airtime_airtime_unready{reason="pinned"})',),
        "0m",
        "page",
        "A rollback's pin holds the catalog across an airtime",
        "The pinned version stays current through the airtime: the new episode will not go live. Resume on the "
        "console's family page before T, or keep the pin on purpose.",
        (
            Case({'airtime_airtime_unready{reason="pinned"}': "0x5 1x5"}, fires=True),
            Case({'airtime_airtime_unready{reason="pinned"}': "0x10"}, fires=False),
        ),
    ),
    Alert(
        "ReadApiServerErrors",
        '(sum(rate(airtime_requests_total{status=~"5.."}[5m])) or vector(0))'
        " / clamp_min(sum(rate(airtime_requests_total[5m])), 1e-9) > 0.01",
        (
            '(sum(rate(airtime_requests_total{status=~"5.."}[5m])) or vector(0))',
            "sum(rate(airtime_requests_total[5m]))",
        ),
        "5m",
        "page",
        "More than 1% of read API answers are server errors",
        "503s mean processes hold no catalog (a cold or lost cache: see the console); other 5xx are faults: see the "
        "web servers' logs.",
        (
            Case(
                {
                    'airtime_requests_total{status="200"}': "0+1000x15",
                    'airtime_requests_total{status="503"}': "0+50x15",
                },
                fires=True,
            ),
            Case(
                {
                    'airtime_requests_total{status="200"}': "0+1000x15",
                    'airtime_requests_total{status="503"}': "0+5x15",
                },
                fires=False,
            ),
        ),
    ),
    Alert(
        "SharedCacheErrors",
        'sum(rate(airtime_shared_cache_ops_total{result="error"}[5m])) > 0',
        ('sum(rate(airtime_shared_cache_ops_total{result="error"}[5m])) or vector(0)',),
        "2m",
        "page",
        "The shared cache fails operations",
        "Readers keep serving what they hold, but no new version reaches them. Check the cache (Momento's status, "
        "the API key's expiry, the network).",
        (
            Case({'airtime_shared_cache_ops_total{op="get",result="error"}': "0+6x15"}, fires=True),
            Case(
                {
                    'airtime_shared_cache_ops_total{op="get",result="error"}': "0x15",
                    'airtime_shared_cache_ops_total{op="get",result="hit"}': "0+600x15",
                },
                fires=False,
            ),
        ),
    ),
    Alert(
        "SharedCacheOperationsNearQuota",
        'sum(rate(airtime_shared_cache_ops_total[1m])) > 0.8 * max(airtime_shared_cache_limit{limit="ops_per_second"})',
        (
            "sum(rate(airtime_shared_cache_ops_total[1m]))",
            'max(airtime_shared_cache_limit{limit="ops_per_second"})',
        ),
        "2m",
        "page",
        "Shared cache operations above 80% of the quota",
        "Past the quota the cache throttles: readers stop seeing new versions. Ask for a raise (see the capacity "
        "plan), lower the poll rate (CACHEOPS_READER_POLL_SECONDS) or run fewer, larger web processes.",
        (
            Case(
                {
                    'airtime_shared_cache_ops_total{op="get",result="hit"}': "0+5400x15",
                    'airtime_shared_cache_limit{limit="ops_per_second"}': "100x15",
                },
                fires=True,
            ),
            Case(
                {
                    'airtime_shared_cache_ops_total{op="get",result="hit"}': "0+2400x15",
                    'airtime_shared_cache_limit{limit="ops_per_second"}': "100x15",
                },
                fires=False,
            ),
        ),
    ),
    Alert(
        "SharedCacheBytesNearQuota",
        "sum(rate(airtime_shared_cache_read_bytes_total[1m]))"
        ' > 0.8 * max(airtime_shared_cache_limit{limit="bytes_per_second"})',
        (
            "sum(rate(airtime_shared_cache_read_bytes_total[1m]))",
            'max(airtime_shared_cache_limit{limit="bytes_per_second"})',
        ),
        "2m",
        "page",
        "Bytes read from the shared cache above 80% of its throughput quota",
        "Every version change makes every web process read the whole catalog. Ask for a throughput raise (see the "
        "capacity plan), publish less often, or run fewer web processes.",
        (
            Case(
                {
                    'airtime_shared_cache_read_bytes_total{family="catalog"}': "0+60000000x15",
                    'airtime_shared_cache_limit{limit="bytes_per_second"}': "1048576x15",
                },
                fires=True,
            ),
            Case(
                {
                    'airtime_shared_cache_read_bytes_total{family="catalog"}': "0+6000000x15",
                    'airtime_shared_cache_limit{limit="bytes_per_second"}': "1048576x15",
                },
                fires=False,
            ),
        ),
    ),
    Alert(
        "BuildsFailing",
        'sum(increase(airtime_operation_seconds_count{result=~"failed|abandoned|partial"}[15m])) > 0',
        ('sum(increase(airtime_operation_seconds_count{result=~"failed|abandoned|partial"}[15m])) or vector(0)',),
        "0m",
        "ticket",
        "Cache operations failed, were abandoned or published only in part in the last 15 minutes",
        "The console's operations log says which and why (a dead worker, the store or the cache unreachable). "
        "Edits wait until a build succeeds.",
        (
            Case(
                {
                    'airtime_operation_seconds_count{kind="rebuild",result="done"}': "0+1x15",
                    'airtime_operation_seconds_count{kind="rebuild",result="failed"}': "0x5 1x10",
                },
                fires=True,
            ),
            Case({'airtime_operation_seconds_count{kind="rebuild",result="done"}': "0+1x15"}, fires=False),
        ),
    ),
    Alert(
        "CatalogStaleWhileEditsWait",
        "(time() - min(airtime_catalog_as_of_timestamp_seconds)) > 600 and on() max(airtime_edits_waiting) > 0",
        ("time() - min(airtime_catalog_as_of_timestamp_seconds)", "max(airtime_edits_waiting)"),
        "5m",
        "page",
        "Edits are waiting and the served catalog is older than 10 minutes",
        "Saves are not reaching the apps: check that a worker is alive, the queue depth and the operations log; "
        "rebuild from the console.",
        (
            Case(
                {"airtime_catalog_as_of_timestamp_seconds": "0x20", "airtime_edits_waiting": "3x20"},
                fires=True,
                at=20,
            ),
            Case(
                {"airtime_catalog_as_of_timestamp_seconds": "0x20", "airtime_edits_waiting": "0x20"},
                fires=False,
                at=20,
            ),
        ),
    ),
    Alert(
        "NoWorkerAlive",
        "max(airtime_workers_alive) == 0",
        ("max(airtime_workers_alive)",),
        "30s",
        "page",
        "No Celery worker is alive",
        "Saves are stored but no build publishes them, and no airtime is staged. Start a worker (bin/run and the "
        "compose file restart one that dies); the console's overview says since when none has run.",
        (
            Case({"airtime_workers_alive": "2x5 0x10"}, fires=True),
            Case({"airtime_workers_alive": "2x5 1x10"}, fires=False),
        ),
    ),
    Alert(
        "BeatSilent",
        "(time() - max(airtime_beat_last_tick_timestamp_seconds)) > 120",
        ("time() - max(airtime_beat_last_tick_timestamp_seconds)",),
        "1m",
        "page",
        "Celery beat has not run for 2 minutes",
        "Without beat no airtime goes live, no lost build is retried and no TTL is refreshed. Restart beat (one "
        "instance only).",
        (
            Case({"airtime_beat_last_tick_timestamp_seconds": "0x15"}, fires=True),
            Case({"airtime_beat_last_tick_timestamp_seconds": "0+60x15"}, fires=False),
        ),
    ),
    Alert(
        "MetricsSourceDown",
        "min(airtime_scrape_source_up) == 0",
        ("min(airtime_scrape_source_up)",),
        "2m",
        "ticket",
        "/metrics cannot read part of the state (SQL, broker or the reader)",
        "Alerts built on the missing part are blind meanwhile. airtime_scrape_source_up names the source; the web "
        "servers' logs say why.",
        (
            Case({'airtime_scrape_source_up{source="broker"}': "1x5 0x10"}, fires=True),
            Case({'airtime_scrape_source_up{source="broker"}': "1x15"}, fires=False),
        ),
    ),
)
