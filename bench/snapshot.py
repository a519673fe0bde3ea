"""Catalog snapshot: assembly and compression without I/O, full rebuild, incremental rebuild after an edit.

.venv/bin/python bench/snapshot.py [--programs 360] [--profile]
"""

from __future__ import annotations

import gzip
import json
import re
import time
from datetime import UTC, datetime

from environment import arguments, bench_environment, header, median, percentile, profile, timed

PIPELINE_RUNS = 5
FULL_RUNS = 3
EDITS = 10
GOAL_PIPELINE_S = 0.3
GOAL_EDIT_P50_S = 2.0
ITEMS_READ = re.compile(r"(\d+) items read")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def items_read(op) -> int:
    match = ITEMS_READ.search(op.detail)
    if match is None:
        raise SystemExit(f"no item count in the operation detail {op.detail!r}")
    return int(match.group(1))


def main() -> None:
    args = arguments("Time catalog assembly, full rebuilds and rebuilds after one edit.").parse_args()
    with bench_environment(args.programs) as bench:
        header("catalog snapshot", bench)
        run(args)


def run(args) -> None:
    from cacheops import chunks
    from cacheops.build import fragments
    from cacheops.build.snapshot import catalog_body

    pipeline(args, chunks, fragments, catalog_body)
    full = full_rebuild(args)
    incremental(args, full)


def pipeline(args, chunks, fragments, catalog_body) -> None:
    import orjson
    from django.conf import settings

    sources, _read = fragments.sources_refresh_all()
    as_of = datetime.now(UTC).replace(microsecond=0)
    codec, chunk_bytes = settings.CACHEOPS_CODEC, settings.CACHEOPS_CHUNK_BYTES
    stages: dict[str, list[float]] = {"serialize": [], "compress": [], "split": []}
    result = {}

    def build():
        t0 = time.perf_counter()
        body = catalog_body(sources.values(), as_of)
        t1 = time.perf_counter()
        compressed = chunks.compress(body, codec)
        t2 = time.perf_counter()
        pieces = chunks.split(compressed, chunk_bytes)
        t3 = time.perf_counter()
        stages["serialize"].append(t1 - t0)
        stages["compress"].append(t2 - t1)
        stages["split"].append(t3 - t2)
        result.update(body=body, compressed=compressed, pieces=pieces)

    totals = timed(build, runs=PIPELINE_RUNS)
    body, compressed, pieces = result["body"], result["compressed"], result["pieces"]
    data = orjson.loads(body)
    naive_out = {}

    def naive():
        raw = json.dumps(data, sort_keys=True).encode()
        naive_out.update(raw=len(raw), compressed=len(gzip.compress(raw, compresslevel=9)))

    naive_totals = timed(naive, runs=PIPELINE_RUNS)
    ours, theirs = median(totals), median(naive_totals)
    print(f"\n(a) catalog without I/O: {len(sources)} program sources, median of {PIPELINE_RUNS}")
    print(
        f"    catalog_body + compress({codec}) + split: {ours:.3f} s  "
        f"(serialize {median(stages['serialize']):.3f}, compress {median(stages['compress']):.3f}, "
        f"split {median(stages['split']):.4f})  goal <= {GOAL_PIPELINE_S} s: {verdict(ours <= GOAL_PIPELINE_S)}"
    )
    print(f"    runs: {', '.join(f'{s:.3f}' for s in totals)}")
    print(f"    raw {len(body):,} B -> compressed {len(compressed):,} B")
    print(
        f"    compression ratio (raw / compressed): {len(body) / len(compressed):.2f}; "
        f"chunks: {len(pieces)} of <= {chunk_bytes:,} B"
    )
    print(
        f"    naive json.dumps(sort_keys) + gzip-9 of the same data: {theirs:.3f} s "
        f"(raw {naive_out['raw']:,} B -> {naive_out['compressed']:,} B)"
    )
    print(f"    ratio pipeline / naive: {ours / theirs:.2f}  (naive is {theirs / ours:.1f}x the time)")
    if args.profile:
        profile(build, label="catalog_body + compress + split")


def full_rebuild(args) -> int:
    import boto3
    from django.conf import settings

    from cacheops.backends import backend_get
    from cacheops.build import operations
    from cacheops.models import Family
    from cacheops.release import versions
    from cms.store.models import EpisodeItem, ProgramItem, SeasonItem

    ops = []

    def rebuild():
        op = operations.catalog_rebuild(full=True, requested_by="bench")
        if op.result != "published":
            raise SystemExit(f"full rebuild ended {op.result!r}: {op.detail}")
        ops.append(op)

    def evict():
        # A chunk of the current version evicted: the same content is written again, so every run writes chunks.
        current = Family.objects.filter(name=operations.CATALOG).values_list("current_version", flat=True).first()
        if (release := versions.release_get(operations.CATALOG, current or "")) is not None:
            backend_get().delete(release.facts["chunks"][0]["key"])

    samples = []
    for _ in range(FULL_RUNS):
        evict()
        samples.extend(timed(rebuild, runs=1))
    read = items_read(ops[-1])

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )
    naive_items = {}

    def naive():
        everything = {}
        for model in (ProgramItem, SeasonItem, EpisodeItem):
            pages = dynamodb.get_paginator("scan").paginate(TableName=model.Meta.table_name)
            everything[model.Meta.table_name] = [item for page in pages for item in page["Items"]]
        raw = json.dumps(everything, sort_keys=True).encode()
        gzip.compress(raw, compresslevel=9)
        naive_items["count"] = sum(len(items) for items in everything.values())

    naive_samples = timed(naive, runs=FULL_RUNS)
    ours, theirs = median(samples), median(naive_samples)
    print(f"\n(b) full rebuild against DynamoDB Local (catalog_rebuild(full=True)), median of {FULL_RUNS}")
    print(f"    full rebuild: {ours:.2f} s  (runs: {', '.join(f'{s:.2f}' for s in samples)}); {read:,} items read")
    print(f"    detail: {ops[-1].detail}")
    print(f"    naive boto3 Scan paginator + json.dumps + gzip-9: {theirs:.2f} s; {naive_items['count']:,} items read")
    print(f"    ratio full rebuild / naive: {ours / theirs:.2f}")
    if args.profile:
        evict()
        profile(rebuild, label="full rebuild")
    return read


def incremental(args, full_read: int) -> None:
    from cacheops.build import fragments, operations, pending
    from cacheops.build.snapshot import program_entry
    from cacheops.manifest import manifest_read
    from cacheops.models import Operation
    from cms import services
    from cms.store.programs import program_get

    sources = fragments.sources_load()
    as_of = datetime.now(UTC)
    live = sorted(
        (source for source in sources.values() if program_entry(source, as_of) is not None),
        key=lambda s: (s["sort_order"], s["id"]),
    )
    if not live:
        raise SystemExit("no live program to edit")
    program_id = live[len(live) // 2]["id"]
    base_title = program_get(program_id).title

    def edit_and_rebuild(i: int):
        current = program_get(program_id)
        before = manifest_read(operations.CATALOG)["version"]
        started = time.perf_counter()
        services.program_update(
            program_id=program_id, version=current.version, user="bench", title=f"{base_title} ({i})"
        )
        pending.change_record(operations.CATALOG, program_id)
        op = operations.catalog_rebuild(requested_by="bench")
        manifest = manifest_read(operations.CATALOG)
        elapsed = time.perf_counter() - started
        if op.result != "published" or manifest["version"] != op.version_after or manifest["version"] == before:
            raise SystemExit(f"edit {i} did not publish a new catalog: {op.result} {op.detail}")
        if not op.detail.startswith("incremental"):
            raise SystemExit(f"edit {i} was not rebuilt incrementally: {op.detail}")
        program_op = Operation.objects.filter(family=operations.program_family(program_id)).first()
        return elapsed, op, program_op

    latencies, catalog_ms, program_ms, reads = [], [], [], []
    for i in range(1, EDITS + 1):
        elapsed, op, program_op = edit_and_rebuild(i)
        latencies.append(elapsed)
        catalog_ms.append(op.duration_ms)
        program_ms.append(program_op.duration_ms if program_op else 0)
        reads.append(items_read(op))
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    read = median(reads)
    print(f"\n(c) one program edit -> new catalog manifest ({EDITS} edits of one live program)")
    print(
        f"    edit -> manifest: p50 {p50:.2f} s, p95 {p95:.2f} s  goal p50 <= {GOAL_EDIT_P50_S} s: "
        f"{verdict(p50 <= GOAL_EDIT_P50_S)}"
    )
    print(
        f"    of which catalog rebuild operation p50 {percentile(catalog_ms, 0.5):.0f} ms, "
        f"program family rebuild p50 {percentile(program_ms, 0.5):.0f} ms (runs after the catalog swap)"
    )
    print(
        f"    items read per incremental rebuild: {read:,.0f} vs {full_read:,} per full rebuild "
        f"(ratio {read / full_read:.4f})"
    )
    if args.profile:
        profile(lambda: edit_and_rebuild(EDITS + 1), label="edit + incremental rebuild")


if __name__ == "__main__":
    main()
