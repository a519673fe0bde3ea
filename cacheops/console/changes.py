"""What differs between two versions of a family, as ops read it: program titles, episode titles and numbers.

The bodies of both versions are read from the shared cache (their chunks, verified); when either is gone the
page says so instead of guessing. Each item links to its page in the admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cacheops import chunks, manifest
from cacheops.release import diff, versions
from cacheops.release.families import CATALOG
from cms.domain import id_valid

from ..backends import CacheError

KINDS = {"programs": gettext_lazy("Programs"), "episodes": gettext_lazy("Episodes")}
CHANGES = {
    "added": gettext_lazy("added"),
    "removed": gettext_lazy("removed"),
    "changed": gettext_lazy("changed"),
}

logger = logging.getLogger(__name__)


class Unreadable(Exception):
    """A version's body cannot be read from the cache; the text says why, for ops."""


@dataclass(frozen=True)
class ChangedItem:
    title: str
    number: int | None = None
    program_title: str = ""
    url: str = ""


@dataclass(frozen=True)
class ChangeGroup:
    """One line of a comparison: e.g. episodes removed, how many, and the first of them by name."""

    kind: str
    change: str
    label: Promise
    change_label: Promise
    count: int
    items: list[ChangedItem]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))


@dataclass(frozen=True)
class Changes:
    """What goes from version `before` to version `after`; `unavailable` says why it could not be told."""

    before: str
    after: str
    groups: list[ChangeGroup] = field(default_factory=list)
    unavailable: str = ""

    @property
    def nothing(self) -> bool:
        return not self.unavailable and not self.groups


def _url(view: str, item_id: str) -> str:
    return reverse(f"admin:cms_{view}_change", args=[item_id]) if id_valid(str(item_id)) else ""


def _item(kind: str, found: dict) -> ChangedItem:
    if kind == "programs":
        return ChangedItem(found.get("title", ""), url=_url("program", found.get("id", "")))
    return ChangedItem(
        found.get("title", ""),
        number=found.get("number"),
        program_title=found.get("program_title", ""),
        url=_url("episode", found.get("id", "")),
    )


def groups_shown(found: dict | None) -> list[ChangeGroup]:
    """A comparison as `diff.catalog_diff` makes it (and rows store it), in a fixed order, empty parts left out."""
    groups = []
    for kind, label in KINDS.items():
        for change, change_label in CHANGES.items():
            part = ((found or {}).get(kind) or {}).get(change) or {}
            if part.get("count"):
                items = [_item(kind, item) for item in part.get("items", [])]
                groups.append(ChangeGroup(kind, change, label, change_label, part["count"], items))
    return groups


def _programs_body(family: str, body: bytes) -> bytes:
    """A body in the catalog's shape: a program family's one program (or none) as a list of programs."""
    if family == CATALOG:
        return body
    program = orjson.loads(body).get("program")
    return orjson.dumps({"programs": [program] if program else []})


def body_read(family: str, version: str) -> bytes:
    """The decompressed body of one version of `family`, verified; Unreadable if the cache no longer has it whole."""
    release = versions.release_get(family, version)
    if release is None:
        raise Unreadable(_("Version %(version)s is not recorded.") % {"version": version})
    facts = release.facts
    try:
        stream = manifest.chunks_fetch(facts)
        return _programs_body(family, chunks.decompress(stream, facts["codec"]))
    except chunks.ChunkError as exc:
        raise Unreadable(
            _("Version %(version)s is gone from the cache (%(reason)s).") % {"version": version, "reason": exc}
        ) from exc
    except (CacheError, ImproperlyConfigured) as exc:
        logger.warning("The console could not read version %s of %s: %s", version, family, exc)
        reason = exc.reason if isinstance(exc, CacheError) else str(exc)
        raise Unreadable(_("The shared cache could not be read (%(reason)s).") % {"reason": reason}) from exc


def versions_compared(family: str, before: str, after: str) -> Changes:
    """What changes when `after` replaces `before` (both read from the cache)."""
    if not before or not after:
        return Changes(before, after, unavailable=_("There is no version to compare with."))
    if before == after:
        return Changes(before, after)
    try:
        found = diff.catalog_diff(body_read(family, before), body_read(family, after), before)
    except Unreadable as exc:
        return Changes(before, after, unavailable=str(exc))
    return Changes(before, after, groups_shown(found))


def changes_stored_or_compared(family: str, stored: dict | None, before: str, after: str) -> Changes:
    """The changes a row recorded when it has them, else the comparison of the two versions in the cache."""
    if stored and stored.get("changes"):
        return Changes(before, after, groups_shown(stored["changes"]))
    return versions_compared(family, before, after)
