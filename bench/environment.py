"""Shared benchmark setup: a private DynamoDB Local, SQLite database and cache key prefix, seeded demo content.

Import this module before anything from Django or the project: `bench_environment()` sets the
environment, then calls `django.setup()`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PROGRAMS = 360


@dataclass
class Bench:
    programs: int
    dynamodb_url: str
    key_prefix: str
    seed_seconds: float
    seed_summary: str
    dynamodb: subprocess.Popen


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--programs", type=int, default=DEFAULT_PROGRAMS, help=f"demo programs to seed (default {DEFAULT_PROGRAMS})"
    )
    parser.add_argument("--profile", action="store_true", help="also print a short cProfile of the main cases")
    return parser


def _environment_set(dynamodb_url: str, workdir: Path, key_prefix: str, overrides: dict[str, str]) -> None:
    # Tasks run inline and saves queue nothing, unless the benchmark says otherwise.
    behaviour = {"CELERY_TASK_ALWAYS_EAGER": "true", "CACHEOPS_REBUILD_ON_SAVE": "false", "LOG_LEVEL": "WARNING"}
    # Set, not defaulted, and never overridden: a benchmark must never reach a real table, bucket or shared cache
    # prefix.
    os.environ.update(
        {
            **behaviour,
            **overrides,
            "DJANGO_SETTINGS_MODULE": "cms.settings",
            "DYNAMODB_ENDPOINT_URL": dynamodb_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "ap-northeast-1",
            "AWS_STORAGE_BUCKET_NAME": "",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DJANGO_MEDIA_ROOT": str(workdir / "media"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DJANGO_DEBUG": "false",
            "CACHEOPS_KEY_PREFIX": key_prefix,
            "CACHEOPS_BACKEND": "redis",
        }
    )


def _redis_keys_delete(prefix: str) -> int:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CACHEOPS_REDIS_URL)
    removed = 0
    try:
        batch = []
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += client.delete(*batch)
                batch = []
        if batch:
            removed += client.delete(*batch)
    finally:
        client.close()
    return removed


@contextlib.contextmanager
def bench_environment(programs: int, overrides: dict[str, str] | None = None) -> Iterator[Bench]:
    """Start DynamoDB Local, configure and migrate Django, create the tables, seed; clean up afterwards.

    `overrides` are settings of the benchmark's own (e.g. queueing tasks to real workers instead of running them
    inline); the endpoint, credentials, database and key prefix stay the benchmark's.
    """
    from cms.store.local import dynamodb_local_start

    workdir = Path(tempfile.mkdtemp(prefix="airtime-bench-"))
    key_prefix = f"bench{os.getpid()}"
    proc, url = dynamodb_local_start()
    django_ready = False
    try:
        _environment_set(url, workdir, key_prefix, overrides or {})
        import django
        from django.core.management import call_command

        # Static files are not collected for benchmarks; nothing here serves them.
        warnings.filterwarnings("ignore", message="No directory at")
        django.setup()
        django_ready = True
        call_command("migrate", verbosity=0, interactive=False)
        call_command("dynamodb_init", stdout=io.StringIO())
        out = io.StringIO()
        started = time.perf_counter()
        # Conditional transactions into empty tables, as a first seed writes.
        call_command("seed_demo", programs=programs, seed=1, stdout=out)
        seed_seconds = time.perf_counter() - started
        summary = next((line for line in out.getvalue().splitlines() if line.strip()), "")
        yield Bench(programs, url, key_prefix, seed_seconds, summary, proc)
    finally:
        if django_ready:
            with contextlib.suppress(Exception):
                _redis_keys_delete(key_prefix)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def header(title: str, bench: Bench) -> None:
    """Say what runs where, and how long seeding took."""
    print(f"== {title}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, DynamoDB Local at {bench.dynamodb_url}")
    print(f"seed_demo --programs {bench.programs}: {bench.seed_seconds:.1f} s  ({bench.seed_summary})")


def percentile(values: list[float], share: float) -> float:
    """Linear-interpolated percentile (share in 0..1)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed(fn: Callable[[], object], *, runs: int, warmups: int = 0) -> list[float]:
    """Call `fn` warmups + runs times; return the timed runs in seconds.

    Garbage left by the previous run is collected before each timed run, untimed, so that one
    run does not pay for another's.
    """
    for _ in range(warmups):
        fn()
    samples = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def profile(fn: Callable[[], object], *, label: str, lines: int = 14) -> None:
    """Run `fn` once under cProfile; print its DynamoDB calls and the heaviest project functions."""
    import cProfile
    import pstats

    from botocore.client import BaseClient

    calls: dict[str, list[float]] = {}
    original = BaseClient._make_api_call

    def counted(client, operation, params):
        started = time.perf_counter()
        try:
            return original(client, operation, params)
        finally:
            name = f"{operation} {params.get('TableName', '')}/{params.get('IndexName', '-')}"
            calls.setdefault(name, []).append(time.perf_counter() - started)

    BaseClient._make_api_call = counted
    profiler = cProfile.Profile()
    try:
        started = time.perf_counter()
        profiler.runcall(fn)
        total = time.perf_counter() - started
    finally:
        BaseClient._make_api_call = original
    print(f"-- profile: {label}: {total * 1000:.0f} ms in all (profiler overhead included)")
    for name, durations in sorted(calls.items(), key=lambda kv: -sum(kv[1])):
        print(f"   DynamoDB {name}: {len(durations)} call(s), {sum(durations) * 1000:.0f} ms")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/(cms|cacheops)/", lines)
    text = out.getvalue()
    start = text.find("   ncalls")
    print(text[start:].rstrip() if start >= 0 else text.rstrip())
