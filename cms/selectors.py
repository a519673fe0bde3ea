"""Reads for the admin: paged, filtered, searchable lists and lookups."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from django.core import signing

from . import domain
from .kana import reading_key
from .store import episodes as episode_store
from .store import programs as program_store
from .store import seasons as season_store
from .store.errors import NotFound

CURSOR_SALT = "cms.changelist.cursor"
# Titles are searched by prefix in a DynamoDB sort-key condition, which AWS refuses beyond 1024 bytes.
SEARCH_MAX_CHARS = 100
Stream = Callable[[object], Iterator[tuple[object, object]]]


class BadCursor(Exception):
    """A paging cursor was tampered with or belongs to another list."""


def _query_id(query: dict) -> str:
    return hashlib.sha256(repr(sorted(query.items())).encode()).hexdigest()[:12]


def _cursor_load(cursor: str | None, query: dict, streams: int) -> list:
    """Decode a cursor into the stack of page starts; the first page has one empty start."""
    if not cursor:
        return [[(None, False)] * streams]
    try:
        payload = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature:
        raise BadCursor from None
    if payload.get("q") != _query_id(query):
        raise BadCursor
    return payload["stack"]


def _cursor_dump(stack: list, query: dict) -> str:
    return signing.dumps({"q": _query_id(query), "stack": stack}, salt=CURSOR_SALT, compress=True)


def _merge(streams: list[Stream], keys: list, keep: list, starts: list, size: int):
    """Take `size` items from sorted streams merged by key; return items, next starts, more?"""
    iters = [iter(()) if done else stream(pos) for stream, (pos, done) in zip(streams, starts, strict=True)]
    heads = [next(it, None) for it in iters]
    positions = [pos for pos, _done in starts]
    items = []
    while len(items) < size:
        live = [(keys[i](head[0]), i) for i, head in enumerate(heads) if head is not None]
        if not live:
            break
        _key, i = min(live)
        obj, positions[i] = heads[i]
        heads[i] = next(iters[i], None)
        if keep[i](obj):
            items.append(obj)
    # Step over items the next page would drop anyway, so a "next" link never leads to an empty page.
    for i, head in enumerate(heads):
        while head is not None and not keep[i](head[0]):
            positions[i] = head[1]
            head = heads[i] = next(iters[i], None)
    following = [(positions[i], heads[i] is None) for i in range(len(streams))]
    return items, following, any(head is not None for head in heads)


def _page(streams, query: dict, cursor: str | None, size: int, keys=None, keep=None) -> domain.Page:
    stack = _cursor_load(cursor, query, len(streams))
    keys = keys or [lambda obj: 0] * len(streams)
    keep = keep or [lambda obj: True] * len(streams)
    try:
        items, following, more = _merge(streams, keys, keep, [tuple(s) for s in stack[-1]], size)
    except (TypeError, ValueError, KeyError):
        raise BadCursor from None
    return domain.Page(
        items=items,
        next_cursor=_cursor_dump(stack + [following], query) if more else None,
        prev_cursor=(_cursor_dump(stack[:-1], query) if len(stack) > 2 else "") if len(stack) > 1 else None,
    )


def _prefix(q: str) -> str:
    """The normalised search prefix, cut after normalising (NFKC may lengthen text)."""
    return domain.title_normalize(q)[:SEARCH_MAX_CHARS]


def _filters(**values) -> dict:
    return {name: value for name, value in values.items() if value}


def programs_page(
    *, q: str = "", status: str = "", genre: str = "", order: str = "sort", cursor: str | None = None, size: int = 50
) -> domain.Page:
    """One page of live programs, searched by title or kana prefix, filtered and ordered."""
    prefix = _prefix(q)
    filters = _filters(status=status, genre=genre)
    query = {"q": prefix, "status": status, "genre": genre, "order": order}
    if not prefix and order == "reading":
        return _page([lambda start: _programs_by_reading(filters, start)], query, cursor, size)
    if not prefix:

        def listed(start):
            return program_store.programs_stream(order=order, filters=filters, start=start)

        return _page([listed], query, cursor, size)

    def by_title(start):
        return program_store.programs_prefix_streams(prefix, filters=filters, starts=(start, None))[0]

    def by_kana(start):
        return program_store.programs_prefix_streams(prefix, filters=filters, starts=(None, start))[1]

    return _page(
        [by_title, by_kana],
        query,
        cursor,
        size,
        keys=[
            lambda p: (domain.title_normalize(p.title), p.id),
            lambda p: (domain.title_normalize(p.title_kana), p.id),
        ],
        # A program matching by both title and kana is listed once, from the title stream.
        keep=[lambda p: True, lambda p: not domain.title_normalize(p.title).startswith(prefix)],
    )


def program_reading(program: domain.Program) -> tuple:
    """The sort key of a program in reading order: its kana reading, else its title."""
    return reading_key(program.title_kana or program.title), program.id


def _programs_by_reading(filters: dict, start) -> Iterator[tuple[domain.Program, int]]:
    """Live programs in reading order; positions count programs, which DynamoDB cannot sort by reading."""
    begin = int(start or 0)
    programs = sorted((p for p, _ in program_store.programs_stream(filters=filters)), key=program_reading)
    return ((p, index + 1) for index, p in enumerate(programs[begin:], begin))


def seasons_page(
    *, q: str = "", status: str = "", program_id: str = "", cursor: str | None = None, size: int = 50
) -> domain.Page:
    """One page of seasons of one or all programs."""
    prefix = _prefix(q)
    query = {"q": prefix, "status": status, "program": program_id}
    filters = _filters(status=status)

    def stream(start):
        return season_store.seasons_stream(program_id=program_id or None, prefix=prefix, filters=filters, start=start)

    return _page([stream], query, cursor, size)


def episodes_page(
    *,
    q: str = "",
    status: str = "",
    program_id: str = "",
    order: str = "program",
    cursor: str | None = None,
    size: int = 50,
) -> domain.Page:
    """One page of episodes by program/season/number or airtime, searched by title prefix."""
    prefix = _prefix(q)
    query = {"q": prefix, "status": status, "program": program_id, "order": order}
    filters = _filters(status=status)

    def stream(start):
        return episode_store.episodes_stream(
            order=order, program_id=program_id or None, prefix=prefix, filters=filters, start=start
        )

    return _page([stream], query, cursor, size)


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
    """Titles of the given programs, for labelling lists."""
    return {pid: p.title for pid, p in program_store.programs_many(ids).items()}


def program_choices() -> list[tuple[str, str]]:
    """Every live program as (id, title), in reading order, for pickers."""
    programs = [p for p, _ in program_store.programs_stream(order="title")]
    return [(p.id, p.title) for p in sorted(programs, key=program_reading)]


def program_contents(program_id: str) -> tuple[list[domain.Season], dict[str, list[domain.Episode]]]:
    """A program's seasons and, per season id, its episodes."""
    seasons = season_store.seasons_of_program(program_id)
    episodes: dict[str, list[domain.Episode]] = {s.id: [] for s in seasons}
    for episode in episode_store.episodes_of_program(program_id):
        episodes.setdefault(episode.season_id, []).append(episode)
    return seasons, episodes


def program_children_count(program_id: str) -> tuple[int, int]:
    """How many seasons and episodes go with a program."""
    return program_store.program_children_count(program_id)


__all__ = ["BadCursor", "NotFound"]
