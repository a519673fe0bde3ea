"""The values a change form was loaded with, signed into the page: the base a stale save is merged from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core import signing

from cms import domain

FIELD = "_loaded"  # the posted name of the signed values
# An item is at most 400 KB; its compressed, signed text fits well under this.
MAX_CHARS = 600_000


class LoadedInvalid(Exception):
    """Posted values as loaded that this site did not sign for this item, or that are too large to be."""


@dataclass(frozen=True)
class Loaded:
    """The shown value of each comparable field at `version`, the fields still needing a choice, who saved it."""

    version: int
    values: dict[str, str]
    conflicts: tuple[str, ...] = ()
    saved_by: str = ""
    saved_at: datetime | None = field(default=None)


def _salt(model_name: str, object_id: str) -> str:
    # Per item, so values loaded for one item are never taken as another's.
    return f"cms.admin.loaded:{model_name}:{object_id}"


def loaded_sign(loaded: Loaded, *, model_name: str, object_id: str) -> str:
    """Sign `loaded` for the change form of one item."""
    payload = {
        "v": loaded.version,
        "f": loaded.values,
        "c": list(loaded.conflicts),
        "by": loaded.saved_by,
        "at": domain.time_text(loaded.saved_at),
    }
    return signing.dumps(payload, salt=_salt(model_name, object_id), compress=True)


def loaded_read(data, *, model_name: str, object_id: str) -> Loaded | None:
    """The values as loaded that `data` carries for this item; None if it carries none."""
    text = data.get(FIELD, "")
    if not text:
        return None
    if len(text) > MAX_CHARS:
        raise LoadedInvalid
    try:
        payload = signing.loads(text, salt=_salt(model_name, object_id))
        return _loaded_from(payload)
    except (signing.BadSignature, ValueError, TypeError, KeyError, AttributeError) as error:
        raise LoadedInvalid from error


def _loaded_from(payload: dict) -> Loaded:
    values, conflicts, version = payload["f"], payload["c"], payload["v"]
    texts = all(isinstance(key, str) and isinstance(value, str) for key, value in values.items())
    if not (texts and isinstance(version, int) and all(isinstance(name, str) for name in conflicts)):
        raise ValueError(payload)
    return Loaded(version, values, tuple(conflicts), str(payload["by"]), domain.time_parse(payload["at"]))


def posted_text(data) -> str:
    """The posted signed values, unchecked, to send back as they came (when they cannot be checked now)."""
    text = data.get(FIELD, "")
    return text if len(text) <= MAX_CHARS else ""
