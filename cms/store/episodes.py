"""Episodes in DynamoDB."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cms import domain
from cms.domain import time_text

from .convert import NO_AIRTIME, episode_from_item, item_values
from .counters import episode_counts
from .models import EpisodeItem, ProgramItem, SeasonItem, UniqueItem
from .paging import Position, Slice, Tally, both, query_count, query_slice, query_stream
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
    item.status_kind = status_kind(episode.status)
    return item


def status_kind(status: str) -> str:
    """The key of the episodes in `status` in the by_status_* indexes."""
    return f"{KIND}#{status}"


def episode_get(episode_id: str) -> domain.Episode:
    """Return episode `episode_id` or raise NotFound."""
    return episode_from_item(item_get(EpisodeItem, episode_id))


def episode_save(episode: domain.Episode, *, old: domain.Episode | None, token: str | None = None) -> domain.Episode:
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
        token=token,
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


def episode_numbers_claimed(wanted: dict[str, Iterable[int]]) -> dict[str, set[int]]:
    """Which of the numbers wanted per season id its episodes hold, read by key (indexes may lag a save)."""
    keys = {
        number_key(season_id, number): (season_id, number)
        for season_id, numbers in wanted.items()
        for number in numbers
    }
    claimed: dict[str, set[int]] = {season_id: set() for season_id in wanted}
    for item in UniqueItem.batch_get(list(keys), consistent_read=True) if keys else ():
        season_id, number = keys[item.key]
        claimed[season_id].add(number)
    return claimed


@dataclass
class _ListQuery:
    """Which index a list of episodes reads, under which key, and how."""

    index: object
    hash_key: str
    key_condition: object = None
    condition: object = None
    forward: bool = True


def _list_query(*, order: str, program_id: str | None, prefix: str, status: str, after: str | None) -> _ListQuery:
    """The one index Query that lists episodes as asked: status, program and title prefix are key conditions,
    except a prefix within one program's episodes; `after` (published ones airing after it) is a key condition
    over all programs and a filter within one program or a title prefix."""
    title_filter = EpisodeItem.title_norm.startswith(prefix) if prefix else None
    airing = EpisodeItem.publish_sort > after if after else None
    hash_key = status_kind(status) if status else KIND
    if program_id and status:
        # Ordered by program, season and number: one program's episodes are those whose key starts with its id.
        return _ListQuery(
            EpisodeItem.by_status_order,
            hash_key,
            EpisodeItem.order_key.startswith(f"{program_id}#"),
            both(title_filter, airing),
        )
    if program_id:
        return _ListQuery(EpisodeItem.by_program, program_id, condition=title_filter)
    if prefix:
        index = EpisodeItem.by_status_title if status else EpisodeItem.by_title
        return _ListQuery(index, hash_key, title_filter, airing)
    if after:
        # Soonest first: the next to go live heads the list.
        return _ListQuery(EpisodeItem.by_status_airtime, hash_key, airing)
    if order == "airtime":
        return _ListQuery(EpisodeItem.by_status_airtime if status else EpisodeItem.by_airtime, hash_key, forward=False)
    return _ListQuery(EpisodeItem.by_status_order if status else EpisodeItem.by_order, hash_key)


def episodes_slice(
    *,
    order: str = "program",
    program_id: str | None = None,
    prefix: str = "",
    status: str = "",
    after: str | None = None,
    start: Position = None,
    backward: bool = False,
    size: int = 50,
) -> Slice:
    """Up to `size` episodes after `start`: of one program, or of all by program/season/number, airtime
    (newest first) or title prefix, in any status or one, airing after `after` (soonest first) if given;
    `backward` reads towards the beginning of that order."""
    query = _list_query(order=order, program_id=program_id, prefix=prefix, status=status, after=after)
    return query_slice(
        EpisodeItem,
        query.index,
        query.hash_key,
        convert=episode_from_item,
        size=size,
        range_condition=query.key_condition,
        condition=query.condition,
        start=start,
        forward=query.forward != backward,
    )


def episodes_count(
    *, program_id: str | None = None, prefix: str = "", status: str = "", after: str | None = None, limit: int
) -> Tally:
    """How many episodes the list episodes_slice reads holds, counted in one request of at most `limit` items."""
    query = _list_query(order="program", program_id=program_id, prefix=prefix, status=status, after=after)
    return query_count(
        EpisodeItem,
        query.index,
        query.hash_key,
        limit=limit,
        range_condition=query.key_condition,
        condition=query.condition,
    )


def raw_status_keyed(raw: dict) -> dict:
    """A raw episode item (from a dump made before the status indexes) with its status key."""
    status = raw.get("status", {}).get("S")
    return raw | {"status_kind": {"S": status_kind(status)}} if status else raw


def episodes_status_keys_fill(client) -> int:
    """Give every episode stored before the status indexes its status key; return how many were updated.

    The version is left alone, so that no editor's open form turns stale; an episode whose status changed
    meanwhile was given its key by that save.
    """
    table, updated = EpisodeItem.Meta.table_name, 0
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="attribute_not_exists(status_kind)",
        ProjectionExpression="id, #s",
        ExpressionAttributeNames={"#s": "status"},
    )
    for page in pages:
        for item in page["Items"]:
            try:
                client.update_item(
                    TableName=table,
                    Key={"id": item["id"]},
                    UpdateExpression="SET status_kind = :k",
                    ConditionExpression="#s = :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":k": {"S": status_kind(item["status"]["S"])}, ":s": item["status"]},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue
            updated += 1
    return updated
