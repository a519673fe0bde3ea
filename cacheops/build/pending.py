"""Fold saves into builds: the first change queues a build, later ones ride along.

A change stays recorded until a build that contains it is published. A build marks the changes it takes
with its operation; it deletes them once published and gives them back if it fails. The mark of a build
that died (a killed worker) ages out and the stalled-changes sweep gives its changes back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cacheops.models import BuildRequest, Operation, PendingChange
from cms.store.content import Written

PROGRAM_PREFIX = "program:"
# A build's mark outlives the build lock by this much before the build counts as dead (a build renews it
# between program families). Giving back a slow build's changes costs a second build, never a change.
DEAD_MARGIN_S = 60

logger = logging.getLogger(__name__)


@dataclass
class Taken:
    """The changes a build took: whether everything must be read again, and the items written per program."""

    full: bool = False
    programs: dict[str, list[Written]] = field(default_factory=dict)


def _dead_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.CACHEOPS_LOCK_SECONDS + DEAD_MARGIN_S)


def _free() -> Q:
    """Select the changes no live build holds: never taken, or taken by a build whose mark aged out."""
    return Q(taken_by__isnull=True) | Q(taken_at__lt=_dead_before())


def change_record(family: str, program_id: str, items: Iterable[Sequence] = (), *, riders: Sequence[str] = ()) -> bool:
    """Note a change of `family` (and of each rider family); True when the caller must queue a build."""
    written = [list(Written(*item)) for item in items]
    # A savepoint of its own: a failure here must not break the saving request's transaction.
    with transaction.atomic():
        PendingChange.objects.bulk_create(
            [PendingChange(family=name, program_id=program_id, items=written) for name in [family, *riders]]
        )
        BuildRequest.objects.get_or_create(family=family)
        # An UPDATE on one row is atomic: exactly one of many concurrent savers flips it.
        return BuildRequest.objects.filter(family=family, queued=False).update(queued=True) == 1


def changes_take(family: str, build: Operation, *, with_programs: bool = False) -> Taken:
    """Mark the free changes of `family` (and of every program family, if asked) taken by `build`."""
    # Clear the flag first: a save after this point queues a follow-up build of its own.
    BuildRequest.objects.filter(family=family).update(queued=False)
    families = Q(family=family)
    if with_programs:
        families |= Q(family__startswith=PROGRAM_PREFIX)
    # One UPDATE re-checks each row as it marks it, so two builds never take the same change.
    PendingChange.objects.filter(families, _free()).update(taken_by=build, taken_at=timezone.now())
    taken = Taken()
    for name, program_id, items in PendingChange.objects.filter(taken_by=build).values_list(
        "family", "program_id", "items"
    ):
        if name.startswith(PROGRAM_PREFIX):
            program_id = name.removeprefix(PROGRAM_PREFIX)  # a program family's `*` is its own program
        if program_id == PendingChange.FULL:
            taken.full = True
            continue
        taken.programs.setdefault(program_id, []).extend(Written(*item) for item in items)
    return taken


def changes_done(build: Operation, families: Iterable[str]) -> None:
    """Forget the changes of `families` that `build` took: what it published contains them."""
    PendingChange.objects.filter(taken_by=build, family__in=list(families)).delete()


def changes_return(build: Operation, families: Iterable[str] | None = None) -> int:
    """Give back what `build` took (of `families`, or all) so that the next build takes it; return how many."""
    rows = PendingChange.objects.filter(taken_by=build)
    if families is not None:
        rows = rows.filter(family__in=list(families))
    return rows.update(taken_by=None, taken_at=None)


def changes_touch(build: Operation) -> None:
    """Renew the mark of `build` on its changes: it is still alive."""
    PendingChange.objects.filter(taken_by=build).update(taken_at=timezone.now())


@contextlib.contextmanager
def changes_held(build: Operation) -> Iterator[None]:
    """Give back every change `build` still holds if the block fails, whatever the failure."""
    try:
        yield
    except BaseException:
        try:
            changes_return(build)
        except Exception:
            # The build's own failure is the one to report; the sweep gives these back once the mark ages out.
            logger.exception("Changes taken by operation %s not given back", build.pk)
        raise


def changes_orphaned_return() -> int:
    """Give back the changes of builds that died holding them; return how many."""
    return PendingChange.objects.filter(taken_at__lt=_dead_before()).update(taken_by=None, taken_at=None)


def families_waiting(older_than_s: int) -> list[str]:
    """Families with a free change noted more than `older_than_s` seconds ago and still not built."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    rows = PendingChange.objects.filter(_free(), created_at__lt=cutoff)
    return sorted(set(rows.values_list("family", flat=True)))


def queued_mark(family: str) -> None:
    """Record that a build of `family` is queued."""
    BuildRequest.objects.update_or_create(family=family, defaults={"queued": True})


def queued_release(family: str) -> None:
    """Record that no build of `family` is queued after all (sending it failed), so the next save queues one."""
    BuildRequest.objects.filter(family=family).update(queued=False)
