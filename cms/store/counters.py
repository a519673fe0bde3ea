"""Child counters: a program's seasons and episodes, a season's episodes.

Every write that adds, moves or removes a child changes its parents' counters in the same
transaction, so a delete can be conditioned on a counter being zero. Indexes cannot serve that
purpose: on AWS they lag behind writes and cannot be read consistently. Counters live in a table
of their own so they never bump a parent's version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from pynamodb.exceptions import DoesNotExist

from cms import domain

from .models import CounterItem, EpisodeItem, SeasonItem


def season_key(season_id: str) -> str:
    """Counter of a season's episodes."""
    return f"season#{season_id}"


def program_key(program_id: str) -> str:
    """Counter of a program's seasons and episodes."""
    return f"program#{program_id}"


def episode_counts(old: domain.Episode | None, new: domain.Episode | None) -> dict[str, int]:
    """Counter changes for an episode created (old None), moved, or deleted (new None)."""
    counts: Counter[str] = Counter()
    if new is not None:
        counts.update((season_key(new.season_id), program_key(new.program_id)))
    if old is not None:
        counts.subtract((season_key(old.season_id), program_key(old.program_id)))
    return {key: delta for key, delta in counts.items() if delta}


def children_count(key: str) -> int:
    """The children counted under `key`, read strongly consistently (0 if none were ever counted)."""
    try:
        return int(CounterItem.get(key, consistent_read=True).children)
    except DoesNotExist:
        return 0


def counter_empty():
    """Condition: the counter is absent or zero."""
    return CounterItem.key.does_not_exist() | (CounterItem.children == 0)


def counts_add(tx, counts: Mapping[str, int]) -> None:
    """Add counter changes to the write transaction `tx`."""
    for key, delta in counts.items():
        tx.update(CounterItem(key), actions=[CounterItem.children.add(delta)])


def counters_recount() -> int:
    """Set every counter from strongly consistent scans of seasons and episodes; return how many are set.

    Concurrent writes can make the result wrong, so run this only while nobody edits (it is meant
    for content written before counters existed, or after a bulk write was killed midway).
    """
    counts: Counter[str] = Counter()
    for season in SeasonItem.scan(consistent_read=True):
        counts[program_key(season.program_id)] += 1
    for episode in EpisodeItem.scan(consistent_read=True):
        counts.update((season_key(episode.season_id), program_key(episode.program_id)))
    stale = [item for item in CounterItem.scan(consistent_read=True) if item.key not in counts]
    with CounterItem.batch_write() as batch:
        for item in stale:
            batch.delete(item)
        for key, children in counts.items():
            batch.save(CounterItem(key, children=children))
    return len(counts)
