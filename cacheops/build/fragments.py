"""Per-program sources kept in SQL, so an edit re-reads one program, not the whole table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from django.db import transaction

from cacheops.build.snapshot import sources_build
from cacheops.models import ProgramSource
from cms.store.content import Written, content_scan, program_content_checked


@dataclass
class Refresh:
    """What a refresh did: items read, programs kept at their last good source, programs whose index lagged."""

    read: int = 0
    skipped: list[str] = field(default_factory=list)
    index_behind: list[str] = field(default_factory=list)


def source_dump(source: dict) -> bytes | None:
    """The stored form of a source, or None when JSON cannot carry it (an integer past 53 bits, say)."""
    try:
        # Strict: a number a browser's JSON.parse would round must not reach the catalog either.
        return orjson.dumps(source, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:
        return None


def sources_refresh_all() -> tuple[dict[str, dict], Refresh]:
    """Re-read everything (parallel Scan) and replace every publishable source; return the sources kept."""
    content = content_scan()
    built = sources_build(content)
    dumped = {pid: source_dump(source) for pid, source in built.items()}
    skipped = sorted(pid for pid, data in dumped.items() if data is None)
    with transaction.atomic():
        # One unpublishable program must not hold back the others: it keeps its last good source, if any.
        ProgramSource.objects.exclude(program_id__in=skipped).delete()
        ProgramSource.objects.bulk_create(
            [ProgramSource(program_id=pid, data=data) for pid, data in dumped.items() if data is not None],
            batch_size=200,
        )
        kept = sources_load(skipped)
    sources = {pid: source for pid, source in built.items() if pid not in skipped} | kept
    return sources, Refresh(sum(len(part) for part in content), skipped)


def sources_read() -> dict[str, dict]:
    """Every publishable program's source, read from the store now (a strongly consistent Scan), stored nowhere."""
    built = sources_build(content_scan())
    return {pid: source for pid, source in built.items() if source_dump(source) is not None}


def sources_refresh(changes: Mapping[str, Sequence[Written]]) -> Refresh:
    """Re-read changed programs (Queries, written items by key); an unpublishable one keeps its last good source."""
    if not sources_exist():
        # Stored sources stand for the whole catalog, so the first read must be a full one.
        return sources_refresh_all()[1]
    refresh = Refresh()
    for program_id in sorted(changes):
        content, index_behind = program_content_checked(program_id, changes[program_id])
        if index_behind:
            refresh.index_behind.append(program_id)
        refresh.read += sum(len(part) for part in content)
        source = sources_build(content).get(program_id)
        if source is None:
            ProgramSource.objects.filter(program_id=program_id).delete()
        elif (data := source_dump(source)) is None:
            refresh.skipped.append(program_id)
        else:
            ProgramSource.objects.update_or_create(program_id=program_id, defaults={"data": data})
    return refresh


def sources_load(program_ids: list[str] | None = None) -> dict[str, dict]:
    """Every stored source (or those of `program_ids`) by program id."""
    rows = (
        ProgramSource.objects.all() if program_ids is None else ProgramSource.objects.filter(program_id__in=program_ids)
    )
    return {row.program_id: orjson.loads(bytes(row.data)) for row in rows}


def sources_exist() -> bool:
    """Whether a full read has ever been stored."""
    return ProgramSource.objects.exists()
