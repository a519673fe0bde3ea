"""Ops' release actions on the demo catalog: rollback (a pin), resume and purge, each against a baseline.

.venv/bin/python bench/releases.py [--programs 360]

A rollback writes the earlier version's chunks again (a whole TTL) and the projected manifest; its baseline is
the same chunks written with plain redis-py SETs. Resume and purge only change SQL and the manifest (purge also
reads the fallback's chunks back); their baseline is one plain SET of the manifest's bytes.
"""

from __future__ import annotations

import time

from environment import arguments, bench_environment, header, median, timed

RUNS = 7


def main() -> None:
    args = arguments("Time rollback, resume and purge against plain Redis writes of the same bytes.").parse_args()
    with bench_environment(args.programs) as bench:
        header("release actions", bench)
        run()


def run() -> None:
    import redis
    from django.conf import settings

    from cacheops.backends import backend_get
    from cacheops.build import operations
    from cacheops.manifest import chunks_fetch
    from cacheops.models import Family
    from cacheops.release import release_actions, versions
    from cms import services
    from cms.store.programs import programs_stream

    first = operations.catalog_rebuild(full=True, requested_by="bench").version_after
    program = next(programs_stream())[0]
    services.program_update(program_id=program.id, version=program.version, user="bench", title=program.title + "!")
    second = operations.catalog_rebuild(full=True, requested_by="bench").version_after
    facts = versions.release_get("catalog", first).facts
    datas = chunks_fetch(facts)
    pieces = [(entry["key"], datas[sum(e["bytes"] for e in facts["chunks"][: entry["index"]]) :][: entry["bytes"]])
              for entry in facts["chunks"]]  # fmt: skip
    plain = redis.Redis.from_url(settings.CACHEOPS_REDIS_URL)
    manifest_raw = backend_get().get(f"{settings.CACHEOPS_KEY_PREFIX}:catalog:manifest")

    def rollback():
        release_actions.rollback(family="catalog", version=first, requested_by="bench")
        release_actions.resume(family="catalog", requested_by="bench")

    def rewrite():
        for key, data in pieces:
            plain.set(f"{key}:baseline", data, ex=settings.CACHEOPS_TTL_SECONDS)
        plain.set("bench:manifest:baseline", manifest_raw)
        plain.set("bench:manifest:baseline", manifest_raw)

    ours, theirs = median(timed(rollback, runs=RUNS, warmups=1)), median(timed(rewrite, runs=RUNS, warmups=1))
    size = sum(len(data) for _, data in pieces)
    print(f"\nrollback + resume of {len(pieces)} chunks ({size:,} compressed bytes), median of {RUNS}")
    print(f"    ours: {ours * 1000:.1f} ms; the same bytes SET with redis-py: {theirs * 1000:.1f} ms")
    print(f"    ratio: {ours / theirs:.2f}")

    started = time.perf_counter()
    release_actions.purge(family="catalog", requested_by="bench")
    purged = time.perf_counter() - started
    row = Family.objects.get(name="catalog")
    print(f"\npurge of {second} (with the full rebuild it queues, run inline here): {purged:.2f} s")
    print(f"    current afterwards: {row.current_version}; held back: {row.held_back}")
    plain.delete(*[f"{key}:baseline" for key, _ in pieces], "bench:manifest:baseline")


if __name__ == "__main__":
    main()
