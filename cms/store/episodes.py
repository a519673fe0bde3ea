"""Episodes in DynamoDB."""

from __future__ import annotations

from cms import domain
from cms.domain import time_text

from .convert import NO_AIRTIME, episode_from_item, item_values
from .counters import episode_counts
from .models import EpisodeItem, ProgramItem, SeasonItem
from .paging import Position, Slice, query_slice, query_stream
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


def episodes_slice(
    *,
    order: str = "program",
    program_id: str | None = None,
    prefix: str = "",
    filters: dict | None = None,
    start: Position = None,
    backward: bool = False,
    size: int = 50,
) -> Slice:
    """Up to `size` episodes after `start`: of one program, or of all by program/season/number, airtime
    (newest first) or title prefix; `backward` reads towards the beginning of that order."""
    title_filter = EpisodeItem.title_norm.startswith(prefix) if prefix else None
    key_condition = condition = None
    forward = True
    if program_id:
        # One program's episodes by season and number; a title prefix is not a key of that index.
        index, hash_key, condition = EpisodeItem.by_program, program_id, title_filter
    elif prefix:
        index, hash_key, key_condition = EpisodeItem.by_title, KIND, title_filter
    elif order == "airtime":
        index, hash_key, forward = EpisodeItem.by_airtime, KIND, False
    else:
        index, hash_key = EpisodeItem.by_order, KIND
    return query_slice(
        EpisodeItem,
        index,
        hash_key,
        convert=episode_from_item,
        size=size,
        range_condition=key_condition,
        filters=filters,
        condition=condition,
        start=start,
        forward=forward != backward,
    )
