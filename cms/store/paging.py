"""Index queries as streams of (item, resume position)."""

from __future__ import annotations

from collections.abc import Iterator

Position = dict | None


def query_stream(
    model,
    index,
    hash_key: str,
    *,
    convert,
    range_condition=None,
    filters: dict | None = None,
    condition=None,
    start: Position = None,
    forward: bool = True,
    page_size: int = 100,
) -> Iterator[tuple[object, Position]]:
    """Yield (domain object, position after it) from an index Query; never a Scan."""
    for name, value in (filters or {}).items():
        clause = getattr(model, name) == value
        condition = clause if condition is None else condition & clause
    query = index.query if index is not None else model.query
    results = query(
        hash_key,
        range_key_condition=range_condition,
        filter_condition=condition,
        last_evaluated_key=start,
        scan_index_forward=forward,
        page_size=page_size,
    )
    for item in results:
        yield convert(item), results.last_evaluated_key
