"""Fold saves into builds: the first change queues a build, later ones ride along."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import BuildRequest, PendingChange


def change_record(family: str, program_id: str) -> bool:
    """Note a change; True when the caller must queue a build (none is queued yet)."""
    # A savepoint of its own: a failure here must not break the saving request's transaction.
    with transaction.atomic():
        PendingChange.objects.create(family=family, program_id=program_id)
        BuildRequest.objects.get_or_create(family=family)
        # An UPDATE on one row is atomic: exactly one of many concurrent savers flips it.
        return BuildRequest.objects.filter(family=family, queued=False).update(queued=True) == 1


def changes_take(family: str) -> tuple[bool, set[str]]:
    """Take every change noted so far: (full rebuild asked, program ids)."""
    # Clear the flag first: a save after this point queues a follow-up build of its own.
    BuildRequest.objects.filter(family=family).update(queued=False)
    with transaction.atomic():
        rows = list(PendingChange.objects.filter(family=family).values_list("pk", "program_id"))
        PendingChange.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    ids = {program_id for _, program_id in rows}
    return PendingChange.FULL in ids, ids - {PendingChange.FULL}


def changes_return(family: str, program_ids: set[str], *, full: bool) -> None:
    """Put taken changes back after a failed build, so the retry sees them."""
    ids = set(program_ids) | ({PendingChange.FULL} if full else set())
    PendingChange.objects.bulk_create([PendingChange(family=family, program_id=pid) for pid in ids])


def families_waiting(older_than_s: int) -> list[str]:
    """Families with a change noted more than `older_than_s` seconds ago and still not built."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return sorted(set(PendingChange.objects.filter(created_at__lt=cutoff).values_list("family", flat=True)))


def queued_mark(family: str) -> None:
    """Record that a build of `family` is queued."""
    BuildRequest.objects.update_or_create(family=family, defaults={"queued": True})


def queued_release(family: str) -> None:
    """Record that no build of `family` is queued after all (sending it failed), so the next save queues one."""
    BuildRequest.objects.filter(family=family).update(queued=False)
