"""Prewarm for an airtime: ops schedule an instant, the catalog as of it is built, verified and diffed ahead.

A pending schedule counts as a content boundary for the airtime tick (boundaries.airtime_due): when it is the next
boundary within CACHEOPS_STAGE_AHEAD_SECONDS its snapshot is staged, and once its instant has passed the schedule
records the activation. Preparing writes only version-specific keys, so it needs no build lock.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db.models import Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from cacheops import chunks, clock
from cacheops.backends import CacheError
from cacheops.build import fragments
from cacheops.build.snapshot import catalog_body, next_boundary
from cacheops.errors import PublishError
from cacheops.manifest import snapshot_read
from cacheops.models import AirtimeSchedule, Family
from cacheops.release import diff, edge, publisher, versions
from cacheops.release.families import CATALOG
from cms.broadcast import LATEST, OutOfWindow, broadcast_parse, clock_format
from cms.enqueue import task_send

PREPARE_TASK = "cacheops.tasks.prewarm_at"
AIRTIME_TASK = "cacheops.tasks.airtime"
# A boundary this close without a staged version is an alarm: readers could not all fetch it in time.
READY_MARGIN_S = 300
ENDED = (AirtimeSchedule.DONE, AirtimeSchedule.MISSED)
CHANGES = ("added", "removed", "changed")

logger = logging.getLogger(__name__)


class ScheduleRefused(ValueError):
    """An airtime that cannot be scheduled (garbage, past, outside the broadcast window); the text says why."""


def at_parse(text: str) -> datetime:
    """A JST date-time in broadcast notation (25:30 accepted); ScheduleRefused when malformed or out of window."""
    try:
        return broadcast_parse(text)
    except OutOfWindow:
        raise ScheduleRefused(_("%(text)s is outside the broadcast window (2000-2100).") % {"text": text}) from None
    except ValueError:
        raise ScheduleRefused(
            _("%(text)s is not a date and time like 2026-11-26 25:30 (JST).") % {"text": text}
        ) from None


def at_check(at: datetime) -> datetime:
    """`at` if it can be scheduled: in the future and inside the broadcast window."""
    now = clock.now_seconds()
    if at <= now:
        raise ScheduleRefused(
            _("%(at)s JST has already passed (now %(now)s JST).") % {"at": clock_format(at), "now": clock_format(now)}
        )
    if at > LATEST:
        raise ScheduleRefused(_("%(at)s JST is beyond the broadcast window (2000-2100).") % {"at": clock_format(at)})
    return at


def pending() -> QuerySet[AirtimeSchedule]:
    """Schedules neither cancelled nor ended."""
    return AirtimeSchedule.objects.filter(cancelled_at__isnull=True).exclude(result__in=ENDED)


def schedule_prewarm(at: datetime, requested_by: str, *, send: bool = True) -> AirtimeSchedule:
    """Record a schedule for `at` (refused if past or out of window) and queue its preparation unless `send` is off."""
    schedule = AirtimeSchedule.objects.create(at=at_check(at), created_by=requested_by)
    if send:
        try:
            task_send(PREPARE_TASK, schedule.id)
        except Exception as exc:
            # The schedule stands: the airtime tick stages its instant when near, whether prepared or not.
            logger.warning("Preparing airtime %s not queued", schedule.id, exc_info=True)
            _note(schedule, AirtimeSchedule.FAILED, f"not queued: {exc}")
    return schedule


def _note(schedule: AirtimeSchedule, result: str, detail: str) -> None:
    schedule.result, schedule.detail = result, detail[:2000]
    schedule.save(update_fields=["result", "detail"])


def prepare(schedule_id: int, progress=None) -> AirtimeSchedule | None:
    """Build the catalog as of the schedule's instant, write and verify its chunks, diff it, warm the edge."""
    schedule = pending().filter(id=schedule_id).first()
    if schedule is None:
        return None  # cancelled or ended meanwhile
    # The store itself, read consistently now: a save made since the last build is part of what goes live.
    sources = fragments.sources_read()
    body = catalog_body(sources.values(), schedule.at)
    try:
        manifest = publisher.version_write(
            CATALOG,
            body,
            as_of=schedule.at,
            next_boundary=next_boundary(sources.values(), schedule.at),
            progress=progress or _silent,
        )
        before, against = _current_body(sources)
    except (PublishError, CacheError) as exc:
        _note(schedule, AirtimeSchedule.FAILED, f"preparing failed: {exc}")
        return schedule
    _prepared_record(schedule, manifest, diff.catalog_diff(before, body, against))
    if settings.CACHEOPS_EDGE_URL:
        edge.edge_warm(schedule, manifest)
    return schedule


def prepared_renew() -> int:
    """Queue a new preparation of each schedule prepared but not staged yet (a build just published edits, which
    its diff and edge warm-up must include); return how many."""
    ids = list(pending().filter(result=AirtimeSchedule.PREPARED, at__gt=clock.now()).values_list("id", flat=True))
    for schedule_id in ids:
        try:
            task_send(PREPARE_TASK, schedule_id)
        except Exception:
            # The schedule is re-diffed when it is staged in any case.
            logger.warning("Preparing airtime %s again not queued", schedule_id, exc_info=True)
    return len(ids)


def _silent(stage: str, done: int, total: int) -> None:
    return None


def _current_body(sources: dict[str, dict]) -> tuple[bytes, str]:
    """The current catalog's body and version; assembled as of now when the cache holds none."""
    try:
        manifest, body = snapshot_read(CATALOG)
    except (PublishError, chunks.ChunkError):
        return catalog_body(sources.values(), clock.now_seconds()), ""
    return body, manifest["version"]


def _prepared_record(schedule: AirtimeSchedule, manifest: dict, changes: dict) -> None:
    schedule.prepared_version = manifest["version"]
    schedule.prepared_at = clock.now_seconds()
    schedule.raw_bytes, schedule.compressed_bytes = manifest["raw_bytes"], manifest["compressed_bytes"]
    schedule.chunk_count = len(manifest["chunks"])
    schedule.changes = changes
    if schedule.result != AirtimeSchedule.STAGED:
        schedule.result = AirtimeSchedule.PREPARED
    schedule.save()


def _nothing_changes() -> Q:
    counts = [f"changes__{kind}__{change}__count" for kind in ("programs", "episodes") for change in CHANGES]
    return Q(prepared_version__gt="", **dict.fromkeys(counts, 0))


def boundary_next(content_boundary: datetime | None, now: datetime) -> datetime | None:
    """The earliest of the catalog's next content boundary and the pending schedules after `now`."""
    scheduled = pending().filter(at__gt=now).order_by("at").values_list("at", flat=True).first()
    return min((t for t in (content_boundary, scheduled) if t is not None), default=None)


def staged_record(at: datetime, body: bytes, sources: dict[str, dict]) -> None:
    """Mark the schedules of `at` staged; re-diff those whose content changed since they were prepared."""
    version = chunks.sha16(body)
    for schedule in pending().filter(at=at):
        if schedule.prepared_version != version:
            _restaged_record(schedule, body, sources)
        _note(schedule, AirtimeSchedule.STAGED, schedule.detail)


def _restaged_record(schedule: AirtimeSchedule, body: bytes, sources: dict[str, dict]) -> None:
    row = Family.objects.get(name=CATALOG)
    release = versions.release_get(CATALOG, row.staged_version)
    staged = release.facts if release else {}
    try:
        before, against = _current_body(sources)
    except CacheError:
        before, against = catalog_body(sources.values(), clock.now_seconds()), ""
    if schedule.prepared_version:
        schedule.detail = "re-built at staging: the content changed since it was prepared"
    if staged.get("version") == chunks.sha16(body):
        _prepared_record(schedule, staged, diff.catalog_diff(before, body, against))


def activation_record(activate_at: datetime, result: str, detail: str) -> int:
    """Mark the schedules of the instant just activated done, with the activation's outcome; return how many."""
    if result not in ("published", "unchanged"):
        return 0
    return pending().filter(at=activate_at).update(result=AirtimeSchedule.DONE, detail=detail[:2000])


def passed_record(now: datetime, current_as_of: datetime | None) -> int:
    """Mark schedules whose instant passed without an activation: done if the current version shows the content as
    of that instant or later (a build after T published it), else missed; return how many were missed."""
    if current_as_of is not None:
        pending().filter(at__lte=min(now, current_as_of)).update(
            result=AirtimeSchedule.DONE, detail="live through a build as of its instant or later"
        )
    return (
        pending()
        .filter(at__lte=now)
        .update(result=AirtimeSchedule.MISSED, detail="its instant passed with no version staged for it")
    )


def schedule_cancel(schedule_id: int, cancelled_by: str) -> AirtimeSchedule | None:
    """Cancel a pending schedule; a version staged for it is replaced or removed by the next airtime tick."""
    schedule = pending().filter(id=schedule_id).first()
    if schedule is None:
        return None
    schedule.cancelled_at, schedule.cancelled_by = clock.now_seconds(), cancelled_by
    schedule.result = AirtimeSchedule.CANCELLED
    schedule.save(update_fields=["cancelled_at", "cancelled_by", "result"])
    if staged_at() == schedule.at:
        try:
            task_send(AIRTIME_TASK)
        except Exception:
            logger.warning("Airtime tick not queued after a cancel; beat sends the next one", exc_info=True)
    return schedule


def staged_at() -> datetime | None:
    """When the catalog's staged version becomes current, as its SQL row records it."""
    return Family.objects.filter(name=CATALOG).values_list("staged_at", flat=True).first()


def unready(now: datetime | None = None) -> datetime | None:
    """The next boundary when it is near (or passed) with no staged version for it, or falling inside a pin (the
    pinned version stays current through it); None when all is ready."""
    now = now or clock.now_seconds()
    # One query, as pages count theirs: the catalog's row with its next pending schedule alongside.
    # Only instants where something changes: a schedule whose prepared diff is empty needs nothing staged.
    scheduled = pending().filter(at__gt=now).exclude(_nothing_changes()).order_by("at").values("at")[:1]
    row = (
        Family.objects.filter(name=CATALOG)
        .annotate(scheduled=Subquery(scheduled))
        .only("next_boundary", "current_version", "staged_at", "pinned_at")
        .first()
    )
    if row is None or not row.current_version:
        return None
    boundary = min((t for t in (row.next_boundary, row.scheduled) if t is not None), default=None)
    if boundary is None:
        return None
    near = (boundary - now).total_seconds() <= min(settings.CACHEOPS_STAGE_AHEAD_SECONDS, READY_MARGIN_S)
    if row.pinned_at is not None:
        return boundary if near or boundary >= row.pinned_at else None
    return boundary if near and row.staged_at != boundary else None
