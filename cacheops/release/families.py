"""The SQL row of each family: where the order of publication is decided (the cache has no compare-and-set)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cacheops.keys import CATALOG
from cacheops.models import Family
from cms.domain import id_valid
from cms.store import programs as program_store

PROGRAM_PREFIX = "program:"


def generation_take(family: str) -> int:
    """Take the next generation of `family`; call it before reading the content a build will publish."""
    Family.objects.get_or_create(name=family)
    with transaction.atomic():
        # The UPDATE comes first: it takes PostgreSQL's row lock and SQLite's write lock, so no two builds
        # can read back the same number.
        Family.objects.filter(name=family).update(generation=F("generation") + 1, updated_at=timezone.now())
        return Family.objects.values_list("generation", flat=True).get(name=family)


@contextlib.contextmanager
def family_locked(family: str) -> Iterator[Family]:
    """Hold the row of `family` until the block ends: every change of its release state happens inside one."""
    Family.objects.get_or_create(name=family)
    with transaction.atomic():
        # select_for_update is a no-op on SQLite, which takes its write lock at a transaction's first write:
        # writing the row first serializes both databases the same way.
        Family.objects.filter(name=family).update(updated_at=timezone.now())
        yield Family.objects.select_for_update().get(name=family)


def families_read() -> list[str]:
    """Every family ever published, catalog first."""
    names = Family.objects.filter(published_generation__gt=0).values_list("name", flat=True)
    return sorted(names, key=lambda name: (name != CATALOG, name))


def family_known(name: str) -> bool:
    """Whether `name` names a family there is: the catalog, or program:<id> of a program the content store holds
    live or whose family was published (a deleted program's family stays until a build publishes it empty).

    A name of another shape is refused without reading anything; raises the store's errors if it cannot be read.
    """
    if name == CATALOG:
        return True
    program_id = name.removeprefix(PROGRAM_PREFIX)
    if program_id == name or not id_valid(program_id):
        return False
    if Family.objects.filter(name=name, published_generation__gt=0).exists():
        return True
    return bool(program_store.programs_live_ids([program_id]))


@dataclass(frozen=True)
class ReleaseState:
    """What a family's release holds beyond its current version: a staged one, a pin, the next boundary."""

    staged_version: str
    staged_at: datetime | None
    pinned_at: datetime | None
    pinned_by: str
    pin_reason: str
    next_boundary: datetime | None


def release_state(name: str) -> ReleaseState | None:
    """The release state of family `name`, or None if it has no row."""
    row = Family.objects.filter(name=name).first()
    if row is None:
        return None
    return ReleaseState(
        row.staged_version, row.staged_at, row.pinned_at, row.pinned_by, row.pin_reason, row.next_boundary
    )
