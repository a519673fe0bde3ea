"""Values an editor posts back (row selections, the version read), bounded before they reach the store."""

from __future__ import annotations

from cms import domain, validation

BULK_MAX_ITEMS = 100
VERSION_MAX_DIGITS = 10


def version_parse(text: str) -> int | None:
    """A posted version as a number, or None unless it is one the store could hold."""
    if not (text.isascii() and text.isdigit() and len(text) <= VERSION_MAX_DIGITS):
        return None
    version = int(text)
    return None if validation.VERSION.error(version) else version


def selection_parse(values: list[str]) -> tuple[list[tuple[str, int]], int]:
    """Checked rows ("id:version" as listed) as (id, version) pairs, and how many values were unusable.

    Malformed values, repeated ids and anything past BULK_MAX_ITEMS are unusable.
    """
    items, seen, unusable = [], set(), 0
    for value in values:
        item_id, _colon, text = value.partition(":")
        version = version_parse(text)
        usable = len(items) < BULK_MAX_ITEMS and domain.id_valid(item_id) and item_id not in seen
        if usable and version is not None:
            seen.add(item_id)
            items.append((item_id, version))
        else:
            unusable += 1
    return items, unusable


def posted_version(request) -> int:
    """The version the editor read, as posted; ValueError unless it is one the store could hold."""
    text = request.POST.get("version", "")
    version = version_parse(text)
    if version is None:
        raise ValueError(text)
    return version


def posted_choices(request, name: str) -> list[tuple[str, str]]:
    """The one choice the editor posted for `name`, labelled by its value: the store cannot name it now."""
    value = request.POST.get(name, "")
    return [(value, value)]
