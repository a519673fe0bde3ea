"""What a family page says about its release: a pin and what waits behind it, a version held back after a purge,
the CDN invalidation the last release change sent, and the earlier versions a rollback can restore."""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from cacheops.release import versions
from cms.domain import time_parse

from ..backends import cdn
from ..models import Family, Release
from .changes import Changes, changes_stored_or_compared

# A page waits this long for the CDN's answer; past it, the recorded status stands.
CDN_WAIT_S = 3.0
CDN_DONE = "completed"

logger = logging.getLogger(__name__)
_cdn_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="console-cdn")


@dataclass(frozen=True)
class Pin:
    pinned_at: datetime
    pinned_by: str
    reason: str
    version: str
    # The newest build's version when it differs from the pinned one, and what it would change.
    waiting_version: str
    waiting: Changes | None


@dataclass(frozen=True)
class Held:
    """A rebuild produced a purged version again: the store still holds what was purged."""

    version: str
    purged_at: datetime | None
    purged_by: str
    changes: Changes


@dataclass(frozen=True)
class CdnShown:
    id: str
    status: str
    # What the CDN says now (empty if it was not asked or did not answer), or why it could not be asked.
    live_status: str
    live_error: str
    paths: list[str]
    at: datetime | None
    error: str


@dataclass(frozen=True)
class EarlierVersion:
    """One version a rollback can restore, as the confirmation page lists it."""

    version: str
    as_of: datetime | None
    built_at: datetime | None
    current_until: datetime | None
    expires_at: datetime | None
    raw_bytes: int | None
    compressed_bytes: int | None
    expired: bool
    previous: bool


def pin_read(row: Family) -> Pin | None:
    if row.pinned_at is None:
        return None
    current = row.current_version
    waiting_version = (row.waiting or {}).get("version") or row.latest_version
    if waiting_version == current:
        waiting_version = ""
    waiting = changes_stored_or_compared(row.name, row.waiting, current, waiting_version) if waiting_version else None
    return Pin(row.pinned_at, row.pinned_by, row.pin_reason, current, waiting_version, waiting)


def held_read(row: Family) -> Held | None:
    version = (row.held_back or {}).get("version")
    if not version:
        return None
    release = versions.release_get(row.name, version)
    changes = changes_stored_or_compared(row.name, row.held_back, row.current_version, version)
    purged_at, purged_by = (release.purged_at, release.purged_by) if release else (None, "")
    return Held(version, purged_at, purged_by, changes)


def _cdn_ask(invalidation_id: str) -> tuple[str, str]:
    future = _cdn_pool.submit(cdn.invalidation_status, invalidation_id)
    try:
        return future.result(timeout=CDN_WAIT_S), ""
    except concurrent.futures.TimeoutError:
        return "", _("The CDN did not answer within %(seconds)d s.") % {"seconds": CDN_WAIT_S}
    except cdn.CdnError as exc:
        return "", str(exc)


def cdn_read(row: Family) -> CdnShown | None:
    """The CDN invalidation recorded on the row; its status asked again while it is not completed."""
    found = row.cdn
    if not found:
        return None
    invalidation_id, status = str(found.get("id") or ""), str(found.get("status") or "")
    live_status = live_error = ""
    if invalidation_id and status.lower() != CDN_DONE:
        live_status, live_error = _cdn_ask(invalidation_id)
    paths = [str(path) for path in found.get("paths") or []]
    at = time_parse(found.get("at"))
    return CdnShown(invalidation_id, status, live_status, live_error, paths, at, str(found.get("error") or ""))


def _earlier(release: Release, now: datetime, previous: str) -> EarlierVersion:
    facts = release.facts
    expires_at = time_parse(facts.get("expires_at"))
    return EarlierVersion(
        version=release.version,
        as_of=time_parse(facts.get("as_of")),
        built_at=time_parse(facts.get("built_at")),
        current_until=release.current_until,
        expires_at=expires_at,
        raw_bytes=facts.get("raw_bytes"),
        compressed_bytes=facts.get("compressed_bytes"),
        expired=expires_at is None or expires_at <= now,
        previous=release.version == previous,
    )


def earlier_read(row: Family, now: datetime) -> list[EarlierVersion]:
    """The versions that were current before, newest first (purged ones are never restored)."""
    return [_earlier(release, now, row.previous_version) for release in versions.earlier_versions(row.name)]
