"""Seasons in DynamoDB."""

from __future__ import annotations

from cms import domain

from .convert import item_values, season_from_item
from .counters import children_count, program_key, season_key
from .errors import NotEmpty
from .models import ProgramItem, SeasonItem
from .paging import Position, Slice, Tally, both, query_count, query_slice, query_stream
from .writes import item_delete, item_get, item_write

KIND = "season"


class SeasonNotEmpty(NotEmpty):
    """A season that still has episodes cannot be deleted."""


def _item(season: domain.Season) -> SeasonItem:
    item = SeasonItem(**item_values(season))
    item.kind = KIND
    item.title_norm = domain.title_normalize(season.title)
    return item


def _program_live():
    return ProgramItem.id.exists() & ProgramItem.deleted_at.does_not_exist()


def season_get(season_id: str) -> domain.Season:
    """Return season `season_id` or raise NotFound."""
    return season_from_item(item_get(SeasonItem, season_id))


def season_save(season: domain.Season, *, create: bool, token: str | None = None) -> domain.Season:
    """Insert or version-checked update of a season whose program must be live and never changes."""
    item = _item(season)
    item_write(
        item,
        create=create,
        # Its episodes carry the program id too, so a season never moves to another program.
        condition=None if create else SeasonItem.program_id == season.program_id,
        checks=[(ProgramItem, season.program_id, _program_live())],
        counts={program_key(season.program_id): 1} if create else None,
        token=token,
    )
    season.version = item.version
    return season


def season_delete_checked(season: domain.Season) -> None:
    """Run after season_delete found the season empty and before it writes (a seam to pause in)."""


def season_delete(season: domain.Season) -> None:
    """Delete an empty season if its version is still the one read."""
    if children_count(season_key(season.id)):
        raise SeasonNotEmpty(season.id)
    season_delete_checked(season)
    # The check above only saves a write: the counter condition decides, whatever was added since.
    try:
        item_delete(_item(season), empty=season_key(season.id), counts={program_key(season.program_id): -1})
    except NotEmpty as exc:
        raise SeasonNotEmpty(season.id) from exc


def seasons_of_program(program_id: str) -> list[domain.Season]:
    """Every season of a program, in sort order (ties in id order, as the index leaves them in none)."""
    seasons = [s for s, _ in query_stream(SeasonItem, SeasonItem.by_program, program_id, convert=season_from_item)]
    return sorted(seasons, key=lambda season: (season.sort_order, season.id))


def _list_query(*, program_id: str | None, prefix: str, after: str | None) -> tuple:
    """(index, hash key, key condition, filter) of the one index Query that lists seasons as asked."""
    title_filter = SeasonItem.title_norm.startswith(prefix) if prefix else None
    # A season without a start date lacks the attribute, and so fails the comparison: it is live, not scheduled.
    airing = SeasonItem.publish_at > after if after else None
    if program_id:
        return SeasonItem.by_program, program_id, None, both(title_filter, airing)
    return SeasonItem.by_title, KIND, title_filter, airing


def seasons_slice(
    *,
    program_id: str | None = None,
    prefix: str = "",
    filters: dict | None = None,
    after: str | None = None,
    start: Position = None,
    backward: bool = False,
    size: int = 50,
) -> Slice:
    """Up to `size` seasons after `start`: of one program (sort order) or of all (title order), by title prefix,
    starting after `after` if given."""
    index, hash_key, key_condition, condition = _list_query(program_id=program_id, prefix=prefix, after=after)
    return query_slice(
        SeasonItem,
        index,
        hash_key,
        convert=season_from_item,
        size=size,
        range_condition=key_condition,
        filters=filters,
        condition=condition,
        start=start,
        forward=not backward,
    )


def seasons_count(
    *,
    program_id: str | None = None,
    prefix: str = "",
    filters: dict | None = None,
    after: str | None = None,
    limit: int,
) -> Tally:
    """How many seasons the list seasons_slice reads holds, counted in one request of at most `limit` items."""
    index, hash_key, key_condition, condition = _list_query(program_id=program_id, prefix=prefix, after=after)
    return query_count(
        SeasonItem,
        index,
        hash_key,
        limit=limit,
        range_condition=key_condition,
        filters=filters,
        condition=condition,
    )
