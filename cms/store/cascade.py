"""Removing a deleted program: its seasons and episodes first, then its own item."""

from __future__ import annotations

from collections import Counter

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from .client import batches
from .content import program_children_listed
from .counters import counter_empty, counts_add, program_key, season_key
from .episodes import number_key
from .errors import NotEmpty, NotFound, StaleVersion
from .models import CounterItem, EpisodeItem, ProgramItem, SeasonItem, UniqueItem
from .writes import item_delete, transaction

# Two deletes per episode plus one counter per season and the program's stay under DynamoDB's 100.
EPISODES_PER_TRANSACTION = 30


def children_listed(program_id: str) -> tuple[list[str], list[str]]:
    """Ids of a program's seasons and episodes as its indexes list them (on AWS they may lag)."""
    seasons, episodes = program_children_listed(program_id)
    return [season.id for season in seasons], [episode.id for episode in episodes]


def program_children_purge(program_id: str) -> int:
    """Delete the seasons and episodes of a deleted program; return how many went.

    Each delete lowers the counters in its own transaction. A child the indexes did not list yet
    keeps the counters above zero, so the program stays marked and a later sweep finds the child.
    """
    if _live(program_id):
        return 0
    season_ids, episode_ids = children_listed(program_id)
    episodes = [item for item in _read(EpisodeItem, episode_ids) if item.program_id == program_id]
    removed = sum(_episodes_remove(group) for group in batches(episodes, EPISODES_PER_TRANSACTION))
    seasons = [item for item in _read(SeasonItem, season_ids) if item.program_id == program_id]
    return removed + sum(_season_remove(item) for item in seasons)


def program_remove_if_empty(program_id: str) -> bool:
    """Remove a deleted program's own item if no season or episode of it is counted; True once gone."""
    try:
        item_delete(
            ProgramItem(program_id),
            condition=ProgramItem.deleted_at.exists(),
            versioned=False,
            empty=program_key(program_id),
        )
    except NotFound:
        return True
    except (NotEmpty, StaleVersion):
        return False  # children remain (or it is not marked deleted): the sweep comes back
    return True


def _live(program_id: str) -> bool:
    try:
        return not ProgramItem.get(program_id, consistent_read=True).deleted_at
    except DoesNotExist:
        return False


def _read(model, ids: list[str]) -> list:
    """Read listed items by key, strongly consistently: the index may show an older state."""
    return list(model.batch_get(ids, consistent_read=True)) if ids else []


def _episodes_remove(items: list[EpisodeItem]) -> int:
    """Delete episodes, unchanged since read, with their numbers and counts; return how many went."""
    counts: Counter[str] = Counter()
    try:
        with transaction() as tx:
            for item in items:
                tx.delete(item)
                claim = UniqueItem(number_key(item.season_id, int(item.number)))
                tx.delete(claim, condition=UniqueItem.key.does_not_exist() | (UniqueItem.owner_id == item.id))
                counts.subtract((season_key(item.season_id), program_key(item.program_id)))
            counts_add(tx, counts)
    except TransactWriteError:
        if len(items) == 1:
            return 0  # changed or removed meanwhile (another purge, say): the next sweep reads it again
        return sum(_episodes_remove([item]) for item in items)
    return len(items)


def _season_remove(item: SeasonItem) -> int:
    """Delete a season, unchanged since read, if no episode of it is counted; return 1 if it went."""
    try:
        with transaction() as tx:
            tx.delete(item)
            tx.delete(CounterItem(season_key(item.id)), condition=counter_empty())
            counts_add(tx, {program_key(item.program_id): -1})
    except TransactWriteError:
        return 0
    return 1
