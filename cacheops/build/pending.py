"""Fold saves into builds: the first change queues a build, later ones ride along.

A change stays recorded until a build that contains it is published. A build marks the changes it takes
with its operation; it deletes them once published and gives them back if it fails. The changes of a build
that died (a killed worker) are free again as soon as its operation misses its heartbeats.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cacheops import oplog
from cacheops.models import BuildRequest, Operation, PendingChange
from cms.store.content import Written

PROGRAM_PREFIX = "program:"

logger = logging.getLogger(__name__)


@dataclass
class Taken:
    """The changes a build took: whether everything must be read again, and the items written per program."""

    full: bool = False
    programs: dict[str, list[Written]] = field(default_factory=dict)


def _held_by_dead() -> Q:
    """Select the changes taken by a build that ended (its leftovers) or that missed its heartbeats (it died)."""
    # The operation's heartbeat is the build's one sign of life. Taking a slow build's changes costs a second
    # build, never a change.
    return Q(taken_by__isnull=False) & (~Q(taken_by__result="") | Q(taken_by__heartbeat_at__lt=oplog.silent_since()))


def _free() -> Q:
    """Select the changes no live build holds: never taken, or taken by a build that ended or died."""
    return Q(taken_by__isnull=True) | _held_by_dead()


def change_record(family: str, program_id: str, items: Iterable[Sequence] = (), *, riders: Sequence[str] = ()) -> bool:
    """Note a change of `family` (and of each rider family); True when the caller must queue a build."""
    written = [list(Written(*item)) for item in items]
    # A savepoint of its own: a failure here must not break the saving request's transaction.
    with transaction.atomic():
        PendingChange.objects.bulk_create(
            [PendingChange(family=name, program_id=program_id, items=written) for name in [family, *riders]]
        )
        return queued_claim(family)


def queued_claim(family: str) -> bool:
    """Mark a build of `family` queued unless one is and still may start; True when the caller must send it."""
    # A mark no worker has taken up (or kept, while waiting its turn) within CACHEOPS_QUEUED_STALE_SECONDS may
    # name a message the broker lost (a restart) or a dead worker held: it is claimed, and sent, again.
    BuildRequest.objects.get_or_create(family=family)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CACHEOPS_QUEUED_STALE_SECONDS)
    claimable = Q(queued=False) | Q(queued_at__isnull=True) | Q(queued_at__lt=stale)
    # An UPDATE on one row is atomic: exactly one of many concurrent savers flips it.
    return BuildRequest.objects.filter(claimable, family=family).update(queued=True, queued_at=now) == 1


def queued_keep(family: str) -> None:
    """Note that a worker holds the next build of `family` (it waits its turn), so saves need not send another."""
    BuildRequest.objects.filter(family=family).update(queued=True, queued_at=timezone.now())


def changes_take(family: str, build: Operation, *, with_programs: bool = False) -> Taken:
    """Mark the free changes of `family` (and of every program family, if asked) taken by `build`."""
    # Clear the flag first: a save after this point queues a follow-up build of its own.
    BuildRequest.objects.filter(family=family).update(queued=False, queued_at=None)
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
        if program_id == PendingChange.AGAIN:
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
    return PendingChange.objects.filter(_held_by_dead()).update(taken_by=None, taken_at=None)


def families_waiting(older_than_s: int) -> list[str]:
    """Families with a free change noted more than `older_than_s` seconds ago and still not built."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    rows = PendingChange.objects.filter(_free(), created_at__lt=cutoff)
    return sorted(set(rows.values_list("family", flat=True)))


def changes_free(family: str) -> bool:
    """Whether `family` has a change no live build holds."""
    return PendingChange.objects.filter(_free(), family=family).exists()


def queued_release(family: str) -> None:
    """Record that no build of `family` is queued after all (sending it failed), so the next save queues one."""
    BuildRequest.objects.filter(family=family).update(queued=False, queued_at=None)
