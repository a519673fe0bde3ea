"""Translate between domain objects and stored items; measure item size."""

from __future__ import annotations

from dataclasses import asdict

from cms import domain
from cms.domain import time_parse, time_text

from .errors import ItemTooLarge

DYNAMODB_ITEM_LIMIT = 400 * 1024
NO_AIRTIME = "0000-00-00T00:00:00Z"


_TIME_FIELDS = ("publish_at", "expire_at", "updated_at")


def item_values(obj) -> dict:
    """Domain object -> stored attribute values (times as strings, empties dropped)."""
    values = asdict(obj)
    values.pop("deleted", None)
    for name in _TIME_FIELDS:
        values[name] = time_text(values[name])
    return {k: v for k, v in values.items() if v not in ("", None, [])}


def domain_values(item, cls) -> dict:
    """Stored item -> keyword arguments for the domain class `cls`."""
    names = cls.__dataclass_fields__.keys()
    values = {}
    for name in names:
        if name == "deleted":
            continue
        value = getattr(item, name, None)
        if name in _TIME_FIELDS:
            value = time_parse(value)
        elif name in ("sort_order", "number", "duration_s", "version") and value is not None:
            value = int(value)
        if value is not None:
            values[name] = value
    return values


def program_from_item(item) -> domain.Program:
    """Build a Program from its stored item."""
    return domain.Program(**domain_values(item, domain.Program), deleted=bool(item.deleted_at))


def season_from_item(item) -> domain.Season:
    """Build a Season from its stored item."""
    return domain.Season(**domain_values(item, domain.Season))


def episode_from_item(item) -> domain.Episode:
    """Build an Episode from its stored item."""
    values = domain_values(item, domain.Episode)
    values["tags"] = list(values.get("tags") or [])
    values["cast"] = list(values.get("cast") or [])
    return domain.Episode(**values)


def _value_bytes(value: dict) -> int:
    ((kind, raw),) = value.items()
    if kind in ("S", "B"):
        return len(raw.encode() if isinstance(raw, str) else raw)
    if kind == "N":
        return len(raw) // 2 + 2
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_bytes(v) for k, v in raw.items())
    return 1


def item_size_check(item) -> None:
    """Raise ItemTooLarge, naming the largest attribute, if `item` exceeds DynamoDB's limit."""
    raw = item.serialize()
    sizes = {name: len(name.encode()) + _value_bytes(value) for name, value in raw.items()}
    total = sum(sizes.values())
    if total > DYNAMODB_ITEM_LIMIT:
        raise ItemTooLarge(max(sizes, key=sizes.get), total)
