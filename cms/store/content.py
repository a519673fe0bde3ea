"""Bulk reads of published-content sources: one program by Query, or everything by parallel Scan."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from cms import domain

from .convert import episode_from_item, program_from_item, season_from_item
from .episodes import episodes_of_program
from .errors import NotFound
from .models import EpisodeItem, ProgramItem, SeasonItem
from .programs import program_get
from .seasons import seasons_of_program

Content = tuple[list[domain.Program], list[domain.Season], list[domain.Episode]]

# Index answers lag writes by well under a second on AWS; five tries wait 3.75 s in all before the
# items read by key are trusted over the index.
INDEX_TRIES = 5
INDEX_BACKOFF_S = 0.25
INDEX_BACKOFF_MAX_S = 2.0
# A full read scans each table in this many parallel segments, this many items a page (the capacity plan counts
# read units by the same pages).
SCAN_SEGMENTS = 4
SCAN_PAGE_ITEMS = 500

logger = logging.getLogger(__name__)


class Written(NamedTuple):
    """An item a change wrote: its kind, id and version (for a delete, the version read)."""

    kind: str
    id: str
    version: int | None
    deleted: bool = False


class ProgramRead(NamedTuple):
    """One program's content, and whether its indexes were still behind the recorded writes."""

    content: Content
    index_behind: bool


def program_children_listed(program_id: str) -> tuple[list[domain.Season], list[domain.Episode]]:
    """List a program's seasons and episodes with its by_program indexes (on AWS they may lag)."""
    return seasons_of_program(program_id), episodes_of_program(program_id)


def written_read(written: Iterable[Written]) -> dict[tuple[str, str], domain.Season | domain.Episode | None]:
    """Read the seasons and episodes among `written` by key, strongly consistently (None: gone)."""
    current: dict[tuple[str, str], domain.Season | domain.Episode | None] = {}
    for kind, model, convert in (("season", SeasonItem, season_from_item), ("episode", EpisodeItem, episode_from_item)):
        ids = sorted({w.id for w in written if w.kind == kind and domain.id_valid(w.id)})
        # A delete needs no read: ids are never reused, so a deleted item stays gone.
        gone = {w.id for w in written if w.kind == kind and w.deleted}
        current |= {(kind, item_id): None for item_id in ids}
        live = [item_id for item_id in ids if item_id not in gone]
        if live:
            current |= {(kind, item.id): convert(item) for item in model.batch_get(live, consistent_read=True)}
    return current


def _behind(program_id: str, listed, current) -> bool:
    """Tell whether the index listing is older than the items read by key."""
    versions = {("season", s.id): s.version for s in listed[0]} | {("episode", e.id): e.version for e in listed[1]}
    for key, item in current.items():
        listed_version = versions.get(key)
        if item is None or item.program_id != program_id:
            if listed_version is not None:
                return True  # deleted, still listed
        elif listed_version is None or listed_version < item.version:
            return True
    return False


def _merged(program_id: str, listed, current) -> tuple[list[domain.Season], list[domain.Episode]]:
    """Lay the items read by key over the listing (read after it, they are newer)."""
    seasons, episodes = {s.id: s for s in listed[0]}, {e.id: e for e in listed[1]}
    for (kind, item_id), item in current.items():
        target = seasons if kind == "season" else episodes
        if item is None or item.program_id != program_id:
            target.pop(item_id, None)
        elif item_id not in target or target[item_id].version < item.version:
            target[item_id] = item
    return list(seasons.values()), list(episodes.values())


def program_content_checked(program_id: str, written: Sequence[Written] = ()) -> ProgramRead:
    """Read one live program with its seasons and episodes, `written` included even when the indexes lag."""
    try:
        program = program_get(program_id)
    except NotFound:
        return ProgramRead(([], [], []), False)  # a deleted program never comes back: nothing to wait for
    children = [w for w in written if w.kind in ("season", "episode")]
    # The indexes first, the written items by key afterwards: the key reads are the newer answer, so a
    # listing older than them is queried again (bounded), then corrected by them.
    for attempt in range(INDEX_TRIES):
        listed = program_children_listed(program_id)
        current = written_read(children)
        behind = _behind(program_id, listed, current)
        if not behind:
            break
        if attempt + 1 < INDEX_TRIES:
            time.sleep(min(INDEX_BACKOFF_S * 2**attempt, INDEX_BACKOFF_MAX_S))
    else:
        logger.warning("The indexes of program %s still lag its recorded writes; using reads by key", program_id)
    seasons, episodes = _merged(program_id, listed, current)
    return ProgramRead(([program], seasons, episodes), behind)


def program_content(program_id: str) -> Content:
    """One live program with all its seasons and episodes (Queries only); empty if gone."""
    return program_content_checked(program_id).content


def _scan(model, convert, segment: int, total: int) -> list:
    # Consistent: a full rebuild right after a save must see it, as a read by key would.
    items = model.scan(segment=segment, total_segments=total, page_size=SCAN_PAGE_ITEMS, consistent_read=True)
    return [convert(item) for item in items]


def content_scan(segments: int = SCAN_SEGMENTS) -> Content:
    """Every live program, season and episode, scanning each table in parallel segments."""
    jobs = [
        (model, convert, segment)
        for model, convert in (
            (ProgramItem, program_from_item),
            (SeasonItem, season_from_item),
            (EpisodeItem, episode_from_item),
        )
        for segment in range(segments)
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        parts = list(pool.map(lambda job: (job[0], _scan(job[0], job[1], job[2], segments)), jobs))
    by_model = {model: [] for model in (ProgramItem, SeasonItem, EpisodeItem)}
    for model, items in parts:
        by_model[model].extend(items)
    programs = [p for p in by_model[ProgramItem] if not p.deleted]
    return programs, by_model[SeasonItem], by_model[EpisodeItem]
