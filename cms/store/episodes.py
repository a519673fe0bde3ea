"""Episodes in DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

from cms import domain
from cms.domain import time_text

from .convert import NO_AIRTIME, episode_from_item, item_values
from .counters import episode_counts
from .models import EpisodeItem, ProgramItem, SeasonItem
from .paging import Position, query_stream
from .writes import item_delete, item_get, item_write

KIND = "episode"


def number_key(season_id: str, number: int) -> str:
    """Unique key claimed by an episode number within its season."""
    return f"episode-number#{season_id}#{number}"


def _item(episode: domain.Episode) -> EpisodeItem:
    item = EpisodeItem(**item_values(episode))
    item.kind = KIND
    item.title_norm = domain.title_normalize(episode.title)
    item.season_key = f"{episode.season_id}#{episode.number:06d}"
    item.order_key = f"{episode.program_id}#{item.season_key}"
    item.publish_sort = time_text(episode.publish_at) or NO_AIRTIME
    return item


def episode_get(episode_id: str) -> domain.Episode:
    """Return episode `episode_id` or raise NotFound."""
    return episode_from_item(item_get(EpisodeItem, episode_id))


def episode_save(episode: domain.Episode, *, old: domain.Episode | None) -> domain.Episode:
    """Insert (`old` is None) or version-checked update, keeping numbers unique per season."""
    item = _item(episode)
    new_key = number_key(episode.season_id, episode.number)
    old_key = number_key(old.season_id, old.number) if old else None
    moved = new_key != old_key
    item_write(
        item,
        create=old is None,
        # The counters change by what `old` says, so the stored item must still be `old`.
        condition=None if old is None else _placed(old),
        claims=[(new_key, "number")] if moved else [],
        releases=[old_key] if moved and old_key else [],
        checks=[
            (ProgramItem, episode.program_id, ProgramItem.id.exists() & ProgramItem.deleted_at.does_not_exist()),
            (SeasonItem, episode.season_id, SeasonItem.program_id == episode.program_id),
        ],
        counts=episode_counts(old, episode),
    )
    episode.version = item.version
    return episode


def episode_delete(episode: domain.Episode) -> None:
    """Delete an episode if its version is still the one read."""
    item_delete(
        _item(episode),
        condition=_placed(episode),
        releases=[number_key(episode.season_id, episode.number)],
        counts=episode_counts(episode, None),
    )


def _placed(episode: domain.Episode):
    """Condition: the stored episode is in `episode`'s season and program."""
    return (EpisodeItem.season_id == episode.season_id) & (EpisodeItem.program_id == episode.program_id)


def episodes_of_season(season_id: str) -> list[domain.Episode]:
    """Every episode of a season, by number."""
    return [e for e, _ in query_stream(EpisodeItem, EpisodeItem.by_season, season_id, convert=episode_from_item)]


def episodes_of_program(program_id: str) -> list[domain.Episode]:
    """Every episode of a program, by season then number."""
    return [e for e, _ in query_stream(EpisodeItem, EpisodeItem.by_program, program_id, convert=episode_from_item)]


def episodes_stream(
    *,
    order: str = "program",
    program_id: str | None = None,
    prefix: str = "",
    filters: dict | None = None,
    start: Position = None,
) -> Iterator[tuple[domain.Episode, Position]]:
    """Episodes of one program, or of all by program/season/number, airtime or title prefix."""
    title_filter = EpisodeItem.title_norm.startswith(prefix) if prefix else None
    if program_id:
        return query_stream(
            EpisodeItem,
            EpisodeItem.by_program,
            program_id,
            convert=episode_from_item,
            filters=filters,
            condition=title_filter,
            start=start,
        )
    if prefix:
        return query_stream(
            EpisodeItem,
            EpisodeItem.by_title,
            KIND,
            convert=episode_from_item,
            range_condition=title_filter,
            filters=filters,
            start=start,
        )
    index = EpisodeItem.by_airtime if order == "airtime" else EpisodeItem.by_order
    return query_stream(
        EpisodeItem,
        index,
        KIND,
        convert=episode_from_item,
        filters=filters,
        start=start,
        forward=order != "airtime",
    )
