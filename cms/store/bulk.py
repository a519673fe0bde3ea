"""Bulk inserts of new content (demo data, imports) with batch writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cms import domain

from . import episodes as episode_store
from . import programs as program_store
from . import seasons as season_store
from .convert import item_size_check
from .errors import NotUnique
from .models import EpisodeItem, ProgramItem, SeasonItem, UniqueItem

Progress = Callable[[int, int], None]
Group = tuple[list, list[tuple[str, str, str]]]
FIRST_VERSION = 1
PROGRESS_ITEMS = 500


def content_put_many(
    programs: list[domain.Program],
    seasons: list[domain.Season],
    episodes: list[domain.Episode],
    progress: Progress | None = None,
) -> int:
    """Insert new programs with their seasons and episodes; return the number of items written."""
    # Batch writes skip version checks: this is for content nobody edits yet (seeding, imports).
    # Parents, unique slugs and numbers and item sizes are all checked before the first write,
    # and every season and episode must belong to a program of the same call.
    groups = list(_groups(programs, seasons, episodes))
    claims = {key: (owner, field) for _items, group_claims in groups for key, owner, field in group_claims}
    _claims_check(claims)
    total = sum(len(items) + len(group_claims) for items, group_claims in groups)
    done = reported = 0
    # NOTE: one writer on purpose: PynamoDB resends unprocessed items without backoff, so
    # parallel writers would turn DynamoDB throttling into failed seeds.
    with (
        ProgramItem.batch_write() as program_batch,
        SeasonItem.batch_write() as season_batch,
        EpisodeItem.batch_write() as episode_batch,
        UniqueItem.batch_write() as claim_batch,
    ):
        batches = {ProgramItem: program_batch, SeasonItem: season_batch, EpisodeItem: episode_batch}
        for items, group_claims in groups:
            for item in items:
                batches[type(item)].save(item)
            for key, owner, _field in group_claims:
                claim_batch.save(UniqueItem(key, owner_id=owner))
            done += len(items) + len(group_claims)
            if progress and PROGRESS_ITEMS <= done - reported and done < total:
                progress(done, total)
                reported = done
    for obj in (*programs, *seasons, *episodes):
        obj.version = FIRST_VERSION
    if progress:
        progress(total, total)
    return total


def _groups(programs, seasons, episodes) -> Iterator[Group]:
    """Yield, per program, its items and its (unique key, owner id, field) claims, all checked."""
    seasons_of, episodes_of = {}, {}
    program_ids = {program.id for program in programs}
    season_programs = {season.id: season.program_id for season in seasons}
    for season in seasons:
        if season.program_id not in program_ids:
            raise ValueError(f"season {season.id}: program {season.program_id} is not in this batch")
        seasons_of.setdefault(season.program_id, []).append(season)
    for episode in episodes:
        if season_programs.get(episode.season_id) != episode.program_id:
            raise ValueError(f"episode {episode.id}: season {episode.season_id} is not its program's")
        episodes_of.setdefault(episode.program_id, []).append(episode)
    ids, keys = set(), set()
    for program in programs:
        items = [program_store._item(program)]
        items += [season_store._item(season) for season in seasons_of.get(program.id, [])]
        items += [episode_store._item(episode) for episode in episodes_of.get(program.id, [])]
        claims = [(program_store.slug_key(program.slug), program.id, "slug")]
        claims += [
            (episode_store.number_key(e.season_id, e.number), e.id, "number") for e in episodes_of.get(program.id, [])
        ]
        for item in items:
            item.version = FIRST_VERSION
            item_size_check(item)
            if (type(item), item.id) in ids:
                raise ValueError(f"{item.id} appears twice")
            ids.add((type(item), item.id))
        for key, _owner, field in claims:
            if key in keys:
                raise NotUnique(field)
            keys.add(key)
        yield items, claims


def _claims_check(claims: dict[str, tuple[str, str]]) -> None:
    """Refuse unique values already claimed by other items; re-inserting the same items is fine."""
    for claim in UniqueItem.batch_get(list(claims)):
        owner, field = claims[claim.key]
        if claim.owner_id != owner:
            raise NotUnique(field)
