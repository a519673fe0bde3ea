"""The SQL row of each family: where the order of publication is decided (the cache has no compare-and-set)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cacheops.keys import CATALOG
from cacheops.models import Family


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
