"""The rehearsal's report: one dict (printed as JSON with --json), and its text form.

Times in the report are seconds since the phases started (t = 0); the wall-clock start is given once.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, datetime

from environment import percentile
from rehearsal_checks import SAVE_VISIBLE_S, AirtimeResult, Check, Healing, Problem, SaveResult, counted, latency_ms
from rehearsal_driver import Driver
from rehearsal_readers import HealthCheck, Response
from rehearsal_statements import Statement
from rehearsal_versions import Version


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def report_build(
    *,
    args,
    startup,
    driver: Driver,
    times: tuple[float, float, float, float],
    responses: list[Response],
    versions: list[Version],
    results: list[SaveResult],
    healing: list[Healing],
    builds: list[dict],
    failed_operations: list[dict],
    metrics: tuple[dict, dict],
    statements: list[Statement],
    health: list[HealthCheck],
    processes: tuple[int, int],
    checks: list[Check],
    settings: dict,
    problems: list[Problem],
    order: list[Problem],
    airtime: AirtimeResult | None,
) -> dict:
    """Everything the report says, as plain data."""
    t0, ran_until, ended, settle_s = times

    def t(moment: float | None) -> float | None:
        return None if moment is None else round(moment - t0, 3)

    return {
        "config": {
            "seconds": args.seconds,
            "readers": args.readers,
            "programs": args.programs,
            "phases": args.phases,
            "settle_limit_s": args.settle,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "product_settings": settings,
        },
        "started_at": datetime.fromtimestamp(t0, UTC).isoformat(timespec="milliseconds"),
        "startup": {
            "seed_s": _r(startup.seed_seconds, 1),
            "seed": startup.seed_summary,
            "first_build_s": _r(startup.build_seconds, 1),
            "stack_up_s": _r(startup.stack_seconds, 1),
        },
        "run_s": _r(ran_until - t0, 1),
        "settle_s": _r(settle_s, 1),
        "phases": [
            {
                "name": p.name,
                "scheduled": t(p.scheduled),
                "started": t(p.started),
                "ended": t(p.ended),
                "events": [[t(at), what] for at, what in p.events],
            }
            for p in driver.plan
        ],
        **_answers_data(responses, problems, ended - t0),
        "builds": builds,
        "failed_operations": [{**op, "at": t(op["at"])} for op in failed_operations],
        "shared_cache": _shared_cache_data(*metrics),
        "versions": [
            {"version": v.version, "first_seen": t(v.first_seen), "as_of": v.as_of.isoformat() if v.as_of else None}
            for v in sorted(versions, key=lambda v: v.first_seen)
        ],
        **_saves_data(driver, results, t),
        "order": {
            "went_back": [{"kind": p.kind, "phase": p.phase, "at": t(p.at), "detail": p.detail} for p in order[:50]],
            "count": len(order),
        },
        "airtime": _airtime_data(driver, airtime, t),
        "rollback": {"version": driver.pin.version, "at": t(driver.pin.rolled_back), "resumed": t(driver.pin.resumed)}
        if driver.pin
        else None,
        **_healing_data(driver, healing, t),
        "statements": _statements_data(statements, health, processes, t),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        "verdict": {"ok": all(c.ok for c in checks), "failed": [c.name for c in checks if not c.ok]},
    }


def _answers_data(responses: list[Response], problems: list[Problem], seconds: float) -> dict:
    statuses = Counter((r.endpoint, r.status) for r in responses)
    by_kind, by_phase = counted(problems)
    return {
        "requests": {
            "total": len(responses),
            "per_s": _r(len(responses) / max(seconds, 1e-9), 1),
            "by_endpoint": dict(Counter(r.endpoint for r in responses)),
            "by_status": {f"{e} {s or 'no answer'}": n for (e, s), n in sorted(statuses.items())},
            "clients": len({r.client for r in responses}),
        },
        "errors": {
            "total": sum(by_kind.values()),
            "by_kind": dict(by_kind),
            "by_kind_and_phase": [{"kind": k, "phase": p, "count": n} for (k, p), n in sorted(by_phase.items())],
        },
        "latency_ms": {e: {k: _r(v, 1) for k, v in d.items()} for e, d in latency_ms(responses).items()},
    }


def _shared_cache_data(before: dict, after: dict) -> dict:
    requests = after["airtime_requests_total"] - before["airtime_requests_total"]
    ops = after["airtime_shared_cache_ops_total"] - before["airtime_shared_cache_ops_total"]
    read_bytes = after["airtime_shared_cache_read_bytes_total"] - before["airtime_shared_cache_read_bytes_total"]
    return {
        "operations": ops,
        "operation_errors": after["errors"] - before["errors"],
        "read_bytes": read_bytes,
        "requests": requests,
        "operations_per_request": _r(ops / requests if requests else None, 5),
        "bytes_per_request": _r(read_bytes / requests if requests else None, 1),
    }


def _saves_data(driver: Driver, results: list[SaveResult], t) -> dict:
    delays = [r.delay for r in results if r.delay is not None]
    return {
        "saves": [
            {
                "number": r.save.number,
                "phase": r.save.phase,
                "returned": t(r.save.returned),
                "visible": t(r.visible),
                "visible_after_s": _r(r.delay),
            }
            for r in results
        ],
        "saves_failed": [
            {"number": s.number, "phase": s.phase, "at": t(s.started), "error": s.error}
            for s in driver.saves
            if s.returned is None
        ],
        "visibility": {
            "saves": len(results),
            "p50_s": _r(percentile(delays, 0.5) if delays else None),
            "max_s": _r(max(delays) if delays else None),
            "late": [
                {"number": r.save.number, "phase": r.save.phase, "after_s": _r(r.delay)}
                for r in results
                if r.delay is None or r.delay > SAVE_VISIBLE_S
            ],
        },
    }


def _healing_data(driver: Driver, healing: list[Healing], t) -> dict:
    return {
        "healing": [
            {
                "phase": h.fault.phase,
                "fault": h.fault.what,
                "at": t(h.fault.at),
                "lasted_s": _r(h.fault.until - h.fault.at),
                "injected": h.fault.injected,
                "detail": h.fault.detail,
                "next_build_published_after_s": _r(h.build_after_s),
                "readers_fresh_after_s": _r(h.fresh_after_s),
            }
            for h in healing
        ],
        "deaths": [
            {
                "process": d.role,
                "at": t(d.at),
                "phase": d.phase,
                "exit": d.code,
                "restarted": d.restarted,
                "log": d.log_tail,
            }
            for d in driver.monitor.deaths
        ],
    }


def _statements_data(statements: list[Statement], health: list[HealthCheck], processes: tuple[int, int], t) -> dict:
    during = [
        {
            "source": f"/healthz during the run (client {h.client})",
            "says": h.before.get("version"),
            "truth": h.served,
            "at": t(h.at),
        }
        for h in health
        if not h.true
    ]
    return {
        "checked": len(statements) + len(health),
        "web_processes_checked": processes[0],
        "web_processes": processes[1],
        "during_run": {"checked": len(health), "untrue": len(during)},
        "untrue": [{"source": s.source, "says": s.says, "truth": s.truth} for s in statements if not s.true] + during,
    }


def _airtime_data(driver: Driver, result: AirtimeResult | None, t) -> dict | None:
    if driver.airtime is None or result is None:
        return None
    return {
        "at": t(driver.airtime.at),
        "instant": datetime.fromtimestamp(driver.airtime.at, UTC).isoformat(),
        "first_served_after_s": _r(result.first_with - result.at) if result.first_with else None,
        "early": result.early[:20],
        "late": result.late[:20],
        "late_count": len(result.late),
    }


def report_print(report: dict) -> None:
    """The report as text."""
    for section in (_head, _phases, _requests, _builds, _saves, _airtime_order, _healing, _statements, _verdict):
        if lines := section(report):
            print("\n".join(lines))


def _head(report: dict) -> list[str]:
    c, s = report["config"], report["startup"]
    return [
        f"== rehearsal: {c['seconds']:g} s, {c['readers']} readers, {c['programs']} demo programs",
        f"python {c['python']}, {c['cpus']} CPUs; phases from {report['started_at']} (t = 0)",
        f"seed {s['seed_s']} s ({s['seed']})",
        f"first full build {s['first_build_s']} s; stack up in {s['stack_up_s']} s; "
        f"run {report['run_s']} s, then {report['settle_s']} s settling",
    ]


def _phases(report: dict) -> list[str]:
    lines = ["", "phases (t in seconds)"]
    for phase in report["phases"]:
        lines.append(
            f"  {phase['name']:<21} scheduled t={phase['scheduled']:.1f}, ran t={phase['started']:.1f}"
            f"..{phase['ended']:.1f}"
        )
        lines += [f"      t={at:7.2f}  {what}" for at, what in phase["events"]]
    return lines


def _requests(report: dict) -> list[str]:
    q, e = report["requests"], report["errors"]
    statuses = ", ".join(f"{k} {v:,}" for k, v in q["by_status"].items())
    lines = ["", f"requests: {q['total']:,} ({q['per_s']:,}/s) by {q['clients']} clients: {statuses}"]
    lines.append(f"catalog versions served: {len(report['versions'])}")
    lines.append(f"errors: {e['total']}")
    lines += [f"  {row['kind']} in {row['phase']}: {row['count']}" for row in e["by_kind_and_phase"]]
    lines += ["", f"{'latency (ms)':<14}{'n':>8}{'p50':>9}{'p99':>9}"]
    lines += [f"  {k:<12}{d['n']:>8.0f}{d['p50']:>9.1f}{d['p99']:>9.1f}" for k, d in report["latency_ms"].items()]
    return lines


def _builds(report: dict) -> list[str]:
    lines = ["", "operations log (started during the run, by kind, family and result)"]
    lines += [f"  {r['kind']:<14} {r['family']:<8} {r['result']:<12} {r['count']}" for r in report["builds"]]
    for op in report["failed_operations"]:
        lines.append(f"  failed: operation {op['id']} ({op['kind']} {op['family']}, t={op['at']:.1f}): {op['detail']}")
    sc = report["shared_cache"]
    lines += [
        "",
        f"shared cache (/metrics): {sc['operations']:.0f} operations ({sc['operation_errors']:.0f} errors), "
        f"{sc['read_bytes']:,.0f} bytes read, for {sc['requests']:,.0f} requests:",
        f"  {sc['operations_per_request']} operations and {sc['bytes_per_request']} bytes per request",
    ]
    return lines


def _saves(report: dict) -> list[str]:
    v = report["visibility"]
    lines = ["", f"saves: {v['saves']} succeeded; time to visibility p50 {v['p50_s']} s, max {v['max_s']} s"]
    for save in report["saves"]:
        after = f"visible after {save['visible_after_s']} s" if save["visible_after_s"] is not None else "never visible"
        lines.append(f"  save {save['number']:>2} {save['phase']:<21} returned t={save['returned']:.2f}, {after}")
    for late in v["late"]:
        after = f"{late['after_s']} s" if late["after_s"] is not None else "never visible"
        lines.append(f"  LATE save {late['number']} ({late['phase']}): {after}")
    for failed in report["saves_failed"]:
        lines.append(f"  failed save {failed['number']} ({failed['phase']}, t={failed['at']:.1f}): {failed['error']}")
    return lines


def _airtime_order(report: dict) -> list[str]:
    lines = []
    if a := report["airtime"]:
        lines += [
            "",
            f"airtime: T = {a['instant']} (t={a['at']:.0f}); first served T+{a['first_served_after_s']} s; "
            f"{len(a['early'])} answers before T held it, {a['late_count']} answers from T+1 s lacked it",
        ]
        lines += [f"  {line}" for line in a["early"] + a["late"]]
    if r := report["rollback"]:
        lines.append(f"rollback: pinned {r['version']} at t={r['at']:.2f}, resumed at t={r['resumed']:.2f}")
    order = report["order"]
    lines.append(f"order: {order['count']} answers out of order")
    lines += [f"  t={p['at']:.2f} {p['phase']}: {p['kind']}: {p['detail']}" for p in order["went_back"]]
    return lines


def _healing(report: dict) -> list[str]:
    lines = ["", "healing after each fault (seconds from when it took effect)"] if report["healing"] else []
    for h in report["healing"]:
        what = f"not injected: {h['detail']}" if not h["injected"] else f"lasted {h['lasted_s']} s"
        lines += [
            f"  {h['phase']:<21} {h['fault']} (t={h['at']:.1f}, {what})",
            f"  {'':<21} next build published after {_seconds(h['next_build_published_after_s'])}; "
            f"readers fresh after {_seconds(h['readers_fresh_after_s'])}",
        ]
    for death in report["deaths"]:
        lines += [
            "",
            f"DIED {death['process']} in {death['phase']} (t={death['at']:.1f}, exit {death['exit']}); "
            f"started again: {death['restarted']}",
            "    " + death["log"].replace("\n", "\n    "),
        ]
    return lines


def _seconds(value: float | None) -> str:
    return "never (within the run and its settling)" if value is None else f"{value} s"


def _statements(report: dict) -> list[str]:
    st = report["statements"]
    lines = [
        "",
        f"statements: {st['checked']} checked, {len(st['untrue'])} untrue ({st['during_run']['checked']} /healthz "
        f"checks during the run, the rest after it on {st['web_processes_checked']} of {st['web_processes']} web "
        "processes)",
    ]
    lines += [f"  UNTRUE {u['source']}: says {u['says']}, truth {u['truth']}" for u in st["untrue"]]
    return lines


def _verdict(report: dict) -> list[str]:
    lines = ["", "checks"]
    lines += [f"  {'PASS' if c['ok'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in report["checks"]]
    verdict, total = report["verdict"], len(report["checks"])
    passed = total - len(verdict["failed"])
    lines += ["", f"verdict: {'PASS' if verdict['ok'] else 'FAIL'} ({passed} of {total} checks passed)"]
    if report.get("workdir"):
        lines.append(f"logs kept in {report['workdir']}")
    return lines
