"""Reads for the admin: paged, filtered, searchable lists and lookups."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing

from . import domain, program_index, validation
from .store import episodes as episode_store
from .store import programs as program_store
from .store import seasons as season_store
from .store.errors import NotFound
from .store.paging import BadPosition, Slice

CURSOR_SALT = "cms.changelist.cursor"
# Titles are searched by prefix in a DynamoDB sort-key condition, which AWS refuses beyond 1024 bytes.
SEARCH_MAX_CHARS = 100
PAGES_MAX = 1_000_000
# A list filter, not a stored status: published, but its start (an episode's airtime) is still to come.
SCHEDULED = "scheduled"


class BadCursor(Exception):
    """A paging cursor was tampered with or belongs to another list."""


def _query_id(query: dict) -> str:
    return hashlib.sha256(repr(sorted(query.items())).encode()).hexdigest()[:12]


def _cursor_load(cursor: str | None, query: dict) -> tuple[dict | None, bool, int]:
    """Decode a cursor into (position, read backward?, page number); the first page has no position."""
    if not cursor:
        return None, False, 1
    try:
        payload = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise BadCursor from None
    if not isinstance(payload, dict) or payload.get("q") != _query_id(query):
        raise BadCursor
    position, backward, number = payload.get("at"), payload.get("back"), payload.get("n")
    if not isinstance(position, dict | None) or not isinstance(backward, bool) or not isinstance(number, int):
        raise BadCursor
    if not 2 <= number <= PAGES_MAX:
        raise BadCursor
    return position, backward, number


def _cursor_dump(query: dict, position, *, backward: bool, number: int) -> str:
    """A link to page `number`: the items after `position`, or before it when reading `backward`."""
    if number < 2:
        return ""
    return signing.dumps({"q": _query_id(query), "at": position, "back": backward, "n": number}, salt=CURSOR_SALT)


def _status_split(status: str) -> tuple[str, str | None]:
    """The stored status a list filter reads, and the instant after which its items start (scheduled only)."""
    if status == SCHEDULED:
        return domain.PUBLISHED, domain.time_text(datetime.now(UTC))
    return status, None


def _count_limit() -> int:
    return settings.ADMIN_LIST_COUNT_MAX


def _page(read: Callable[..., Slice], query: dict, cursor: str | None, size: int) -> domain.Page:
    """One page of a list that `read(start=, backward=, size=)` reads from its index, with its neighbours' links.

    A link holds where its page begins (or ends, for a previous page), never the pages before it.
    """
    start, backward, number = _cursor_load(cursor, query)
    if number > 1 and start is None:
        raise BadCursor
    try:
        got = read(start=start, backward=backward, size=size)
    except BadPosition:
        # Made when the list read another index (before an upgrade, say).
        raise BadCursor from None
    if backward:
        # Read back from the first item of the page the link was on: a page follows this one.
        items, first, last, more_before, more_after = got.items[::-1], got.last, got.first, got.more, True
    else:
        items, first, last, more_before, more_after = got.items, got.first, got.last, number > 1, got.more
    if not items:
        more_before, more_after = number > 1, False
    return domain.Page(
        items=items,
        next_cursor=_cursor_dump(query, last, backward=False, number=number + 1) if more_after and items else None,
        prev_cursor=(
            (_cursor_dump(query, first, backward=True, number=number - 1) if items else "") if more_before else None
        ),
    )


def _prefix(q: str) -> str:
    """The normalised search prefix, cut after normalising (NFKC may lengthen text)."""
    return domain.title_normalize(q)[:SEARCH_MAX_CHARS]


def _filters(**values) -> dict:
    return {name: value for name, value in values.items() if value}


def programs_page(
    *, q: str = "", status: str = "", genre: str = "", order: str = "sort", cursor: str | None = None, size: int = 50
) -> domain.Page:
    """One page of live programs, searched by title or reading, filtered, by sort order or reading ("title").

    The SQL program list picks the page; one BatchGet reads its programs from the content store.
    """
    query = {"q": q[:SEARCH_MAX_CHARS], "status": status, "genre": genre, "order": order}
    _position, _backward, number = _cursor_load(cursor, query)
    stored_status, after = _status_split(status)
    listed = {"q": query["q"], "status": stored_status, "genre": genre, "after": domain.time_parse(after)}
    ids, more = program_index.entries_page(**listed, order=order, offset=(number - 1) * size, size=size)
    found = program_store.programs_many(ids)
    # A row the sweep has not repaired yet must not put a program under a filter it no longer matches.
    wanted = _filters(status=stored_status, genre=genre)
    items = [
        found[pid]
        for pid in ids
        if pid in found
        and all(getattr(found[pid], name) == value for name, value in wanted.items())
        and (after is None or _starts_after(found[pid], after))
    ]
    return domain.Page(
        items=items,
        next_cursor=_cursor_dump(query, None, backward=False, number=number + 1) if more else None,
        prev_cursor=_cursor_dump(query, None, backward=False, number=number - 1) if number > 1 else None,
        # The SQL list counts exactly what it pages through, without a request to the content store.
        total=domain.Tally(program_index.entries_count(**listed)),
    )


def _starts_after(item, after: str) -> bool:
    return (domain.time_text(item.publish_at) or "") > after


def seasons_page(
    *, q: str = "", status: str = "", program_id: str = "", cursor: str | None = None, size: int = 50
) -> domain.Page:
    """One page of seasons of one or all programs."""
    prefix = _prefix(q)
    query = {"q": prefix, "status": status, "program": program_id}
    stored_status, after = _status_split(status)
    listed = {"program_id": program_id or None, "prefix": prefix, "filters": _filters(status=stored_status)}

    def read(**where) -> Slice:
        return season_store.seasons_slice(**listed, after=after, **where)

    page = _page(read, query, cursor, size)
    page.total = season_store.seasons_count(**listed, after=after, limit=_count_limit())
    return page


def episodes_page(
    *,
    q: str = "",
    status: str = "",
    program_id: str = "",
    order: str = "program",
    cursor: str | None = None,
    size: int = 50,
) -> domain.Page:
    """One page of episodes by program/season/number or airtime, searched by title prefix; scheduled ones by
    airtime, soonest first."""
    prefix = _prefix(q)
    query = {"q": prefix, "status": status, "program": program_id, "order": order}
    stored_status, after = _status_split(status)
    listed = {"program_id": program_id or None, "prefix": prefix, "status": stored_status, "after": after}

    def read(**where) -> Slice:
        return episode_store.episodes_slice(order=order, **listed, **where)

    page = _page(read, query, cursor, size)
    page.total = episode_store.episodes_count(**listed, limit=_count_limit())
    return page


def program_get(program_id: str) -> domain.Program:
    """The live program `program_id` (NotFound otherwise)."""
    return program_store.program_get(program_id)


def season_get(season_id: str) -> domain.Season:
    """Season `season_id` (NotFound otherwise)."""
    return season_store.season_get(season_id)


def episode_get(episode_id: str) -> domain.Episode:
    """Episode `episode_id` (NotFound otherwise)."""
    return episode_store.episode_get(episode_id)


def program_titles(ids: list[str]) -> dict[str, str]:
    """Titles of the given programs, for labelling lists: from the SQL program list, and in one batch
    from the content store for those it lacks."""
    titles = program_index.titles(ids)
    missing = [pid for pid in dict.fromkeys(ids) if pid not in titles]
    if missing:
        titles |= {pid: p.title for pid, p in program_store.programs_many(missing).items()}
    return titles


def program_contents(program_id: str) -> tuple[list[domain.Season], dict[str, list[domain.Episode]]]:
    """A program's seasons and, per season id, its episodes."""
    seasons = season_store.seasons_of_program(program_id)
    episodes: dict[str, list[domain.Episode]] = {s.id: [] for s in seasons}
    for episode in episode_store.episodes_of_program(program_id):
        episodes.setdefault(episode.season_id, []).append(episode)
    return seasons, episodes


# Numbers past the highest one an index lists that are read by key: enough for a few saves it has not caught up on.
NUMBER_LOOKAHEAD = 5


def episode_numbers_next(program_id: str) -> tuple[list[domain.Season], dict[str, int | None]]:
    """A program's seasons, and per season id the number a new episode takes: one past its highest episode's,
    None past the highest allowed.

    The index may not list an episode saved a moment ago ("save and add another"), so the numbers that follow
    what it lists are read by key."""
    seasons, episodes = program_contents(program_id)
    listed = {s.id: max((e.number for e in episodes.get(s.id, [])), default=0) + 1 for s in seasons}
    claimed = episode_store.episode_numbers_claimed(
        {season_id: range(first, first + NUMBER_LOOKAHEAD) for season_id, first in listed.items()}
    )
    numbers = {}
    for season_id, first in listed.items():
        free = (n for n in range(first, first + NUMBER_LOOKAHEAD) if n not in claimed[season_id])
        number = next(free, first + NUMBER_LOOKAHEAD)
        numbers[season_id] = None if validation.EPISODE_NUMBER.error(number) else number
    return seasons, numbers


def content_chain(item: domain.Program | domain.Season | domain.Episode) -> list:
    """`item` after the program (and season) it belongs to, as stored now: together they decide what the apps show."""
    if isinstance(item, domain.Program):
        return [item]
    program = program_store.program_get(item.program_id)
    if isinstance(item, domain.Season):
        return [program, item]
    return [program, season_store.season_get(item.season_id), item]


def program_children_count(program_id: str) -> tuple[int, int]:
    """How many seasons and episodes go with a program."""
    return program_store.program_children_count(program_id)


__all__ = ["BadCursor", "NotFound"]
