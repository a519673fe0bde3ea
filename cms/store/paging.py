"""Index queries as streams of (item, resume position), and as pages of a known size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pynamodb.constants import COUNT

from cms.domain import Tally

Position = dict | None


class BadPosition(ValueError):
    """A resume position that does not place an item in the index asked (one made for another index)."""


def both(first, second):
    """Both conditions, either one when the other is None, or None."""
    if first is None or second is None:
        return first if second is None else second
    return first & second


def _condition(model, filters: dict | None, condition):
    """`condition` and an equality test of every attribute in `filters`."""
    for name, value in (filters or {}).items():
        condition = both(condition, getattr(model, name) == value)
    return condition


def _query(
    model,
    index,
    hash_key: str,
    *,
    range_condition=None,
    filters: dict | None = None,
    condition=None,
    start: Position = None,
    forward: bool = True,
    page_size: int = 100,
):
    """An index Query (never a Scan) of `hash_key`, from `start`, as PynamoDB's result iterator."""
    condition = _condition(model, filters, condition)
    query = index.query if index is not None else model.query
    # Without a filter, DynamoDB stops at `page_size` items; with one it reads up to 1 MB per request,
    # so that a page of matches rarely takes a second request.
    return query(
        hash_key,
        range_key_condition=range_condition,
        filter_condition=condition,
        last_evaluated_key=start,
        scan_index_forward=forward,
        page_size=page_size if condition is None else None,
    )


def query_stream(model, index, hash_key: str, *, convert, **where) -> Iterator[tuple[object, Position]]:
    """Yield (domain object, position after it) from an index Query; `where` as _query takes it."""
    results = _query(model, index, hash_key, **where)
    for item in results:
        yield convert(item), results.last_evaluated_key


def _key_names(model, index) -> tuple[str, ...]:
    """The attributes that place an item in `index` (or in the table): a query's resume position."""
    keys = [model._hash_key_attribute(), model._range_key_attribute()]
    if index is not None:
        keys += [a for a in index.Meta.attributes.values() if a.is_hash_key or a.is_range_key]
    return tuple(dict.fromkeys(a.attr_name for a in keys if a is not None))


def _position(item, names: tuple[str, ...]) -> Position:
    values = item.serialize()
    return {name: values[name] for name in names}


@dataclass
class Slice:
    """Items read in one direction, where the first and last of them stand, and whether more follow."""

    items: list
    first: Position = None
    last: Position = None
    more: bool = False


def query_slice(model, index, hash_key: str, *, convert, size: int, **where) -> Slice:
    """Up to `size` items after `where["start"]` in the direction read, and whether more follow.

    Without a filter this is one request for `size` + 1 items: the extra one only tells that more follow.
    """
    names = _key_names(model, index)
    start = where.get("start")
    if start is not None and (not isinstance(start, dict) or set(start) != set(names)):
        raise BadPosition(start)
    results = _query(model, index, hash_key, page_size=size + 1, **where)
    taken = []
    more = False
    for item in results:
        if len(taken) == size:
            more = True
            break
        taken.append(item)
    if not taken:
        return Slice([])
    return Slice([convert(item) for item in taken], _position(taken[0], names), _position(taken[-1], names), more)


def query_count(
    model, index, hash_key: str, *, limit: int, range_condition=None, filters: dict | None = None, condition=None
) -> Tally:
    """Count what an index Query of `hash_key` matches in one request that looks at no more than `limit` items.

    NOTE: a COUNT reads (and is billed for) every item it looks at, up to 1 MB a request: past `limit` items, or
    1 MB, the count stops and says so rather than paying for more requests.
    """
    answer = model._get_connection().query(
        hash_key,
        range_key_condition=range_condition,
        filter_condition=_condition(model, filters, condition),
        index_name=index.Meta.index_name if index is not None else None,
        limit=limit,
        select=COUNT,
    )
    return Tally(int(answer.get("Count", 0)), at_least="LastEvaluatedKey" in answer)
