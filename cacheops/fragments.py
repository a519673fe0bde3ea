"""Per-program sources kept in SQL, so an edit re-reads one program, not the whole table."""

from __future__ import annotations

import orjson
from django.db import transaction

from cms.store.content import content_scan, program_content

from .models import ProgramSource
from .snapshot import sources_build


def sources_refresh_all() -> tuple[dict[str, dict], int]:
    """Re-read everything (parallel Scan) and replace every source; return them and items read."""
    content = content_scan()
    sources = sources_build(content)
    with transaction.atomic():
        ProgramSource.objects.all().delete()
        ProgramSource.objects.bulk_create(
            [ProgramSource(program_id=pid, data=orjson.dumps(source)) for pid, source in sources.items()],
            batch_size=200,
        )
    return sources, sum(len(part) for part in content)


def sources_refresh(program_ids: set[str]) -> int:
    """Re-read the given programs with Queries; return the number of items read."""
    if not sources_exist():
        # Stored sources stand for the whole catalog, so the first read must be a full one.
        return sources_refresh_all()[1]
    read = 0
    for program_id in sorted(program_ids):
        content = program_content(program_id)
        read += sum(len(part) for part in content)
        source = sources_build(content).get(program_id)
        if source is None:
            ProgramSource.objects.filter(program_id=program_id).delete()
        else:
            ProgramSource.objects.update_or_create(program_id=program_id, defaults={"data": orjson.dumps(source)})
    return read


def sources_load() -> dict[str, dict]:
    """Every stored source by program id."""
    return {row.program_id: orjson.loads(bytes(row.data)) for row in ProgramSource.objects.all()}


def sources_exist() -> bool:
    """Whether a full read has ever been stored."""
    return ProgramSource.objects.exists()
