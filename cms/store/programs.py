"""Programs in DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from cms import domain
from cms.domain import time_text

from .convert import item_values, program_from_item
from .errors import NotFound
from .models import EpisodeItem, ProgramItem, SeasonItem
from .paging import Position, query_stream
from .writes import item_get, item_write

KIND = "program"


def slug_key(slug: str) -> str:
    """Unique key claimed by a program's slug."""
    return f"program-slug#{slug}"


def _item(program: domain.Program) -> ProgramItem:
    item = ProgramItem(**item_values(program))
    item.kind = KIND
    item.title_norm = f"{domain.title_normalize(program.title)}"
    item.kana_norm = domain.title_normalize(program.title_kana) or None
    return item


def program_get(program_id: str) -> domain.Program:
    """Return the live program `program_id` or raise NotFound."""
    item = item_get(ProgramItem, program_id)
    if item.deleted_at:
        raise NotFound(program_id)
    return program_from_item(item)


def program_create(program: domain.Program, *, token: str | None = None) -> domain.Program:
    """Insert a new program, claiming its slug."""
    item = _item(program)
    item_write(item, create=True, claims=[(slug_key(program.slug), "slug")], token=token)
    program.version = item.version
    return program


def program_update(program: domain.Program, *, old_slug: str, token: str | None = None) -> domain.Program:
    """Save `program` if nobody changed it since `program.version` was read."""
    item = _item(program)
    changed = old_slug != program.slug
    item_write(
        item,
        create=False,
        condition=ProgramItem.deleted_at.does_not_exist(),
        claims=[(slug_key(program.slug), "slug")] if changed else [],
        releases=[slug_key(old_slug)] if changed else [],
        token=token,
    )
    program.version = item.version
    return program


def program_mark_deleted(program: domain.Program, *, at: datetime | None = None) -> None:
    """Hide `program` from every list at once and queue it for purging; frees its slug."""
    item = _item(program)
    item.kind = None
    item.title_norm = item.kana_norm = None
    item.deleted_kind = KIND
    item.deleted_at = time_text(at or datetime.now(UTC))
    item_write(
        item,
        create=False,
        condition=ProgramItem.deleted_at.does_not_exist(),
        releases=[slug_key(program.slug)],
    )


def programs_deleted_ids() -> list[str]:
    """Ids of programs marked deleted whose purge has not finished."""
    return [item.id for item in ProgramItem.by_deleted.query(KIND)]


def program_children_count(program_id: str) -> tuple[int, int]:
    """Count (seasons, episodes) of a program with index queries."""
    seasons = SeasonItem.by_program.count(program_id)
    episodes = EpisodeItem.by_program.count(program_id)
    return seasons, episodes


def programs_stream(*, order: str = "sort", start: Position = None) -> Iterator[tuple[domain.Program, Position]]:
    """Live programs by sort order or normalised title, from `start`."""
    index = ProgramItem.by_title if order == "title" else ProgramItem.by_sort
    return query_stream(ProgramItem, index, KIND, convert=program_from_item, start=start)


def programs_live_ids(ids: list[str]) -> set[str]:
    """Those of `ids` that name a live program, read by key (strongly consistent, unlike the indexes)."""
    items = ProgramItem.batch_get(
        list(dict.fromkeys(ids)), consistent_read=True, attributes_to_get=["id", "deleted_at"]
    )
    return {item.id for item in items if not item.deleted_at}


def programs_many(ids: list[str]) -> dict[str, domain.Program]:
    """Fetch live programs by id in batches."""
    return {
        item.id: program_from_item(item)
        for item in ProgramItem.batch_get(list(dict.fromkeys(ids)))
        if not item.deleted_at
    }
