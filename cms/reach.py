"""When a saved item shows in the apps, as the editor is told after the save."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext as _

from . import domain
from .broadcast import JST

LIVE, SCHEDULED, DRAFT, OUTSIDE = "live", "scheduled", "draft", "outside"


@dataclass(frozen=True)
class Reach:
    """Whether the apps show an item: now, from `at`, or not (held back by itself or by `held_by`)."""

    state: str
    at: datetime | None = None
    held_by: str = ""  # "program" or "season" when that draft holds the item back


def reach_of(chain: list, now: datetime) -> Reach:
    """Where the last item of `chain` (after its program, and its season) stands in the apps from `now` on."""
    # The catalog's rule: an item is shown while it and every item above it are published and in their window.
    *parents, item = chain
    if item.status != domain.PUBLISHED:
        return Reach(DRAFT)
    for parent in parents:
        if parent.status != domain.PUBLISHED:
            return Reach(DRAFT, held_by="program" if isinstance(parent, domain.Program) else "season")
    start = max((i.publish_at for i in chain if i.publish_at), default=None)
    end = min((i.expire_at for i in chain if i.expire_at), default=None)
    if end is not None and end <= max(start or now, now):
        return Reach(OUTSIDE)
    if start is not None and start > now:
        return Reach(SCHEDULED, at=start)
    return Reach(LIVE)


# From a version's announcement to every web process serving it (the fetch of its chunks included).
READERS_TOLD_SECONDS = 1


def apps_delay_seconds() -> int | None:
    """About how long a save of live content takes to reach the apps; None when saves queue no rebuild."""
    # The rebuild a save queues starts at once; the publisher announces the new version, each web process fetches
    # it within about a second, and caches in front of the API (the CDN) see it within the catalog's max-age.
    if not settings.CACHEOPS_REBUILD_ON_SAVE:
        return None
    return math.ceil(
        settings.CACHEOPS_REBUILD_TYPICAL_SECONDS + READERS_TOLD_SECONDS + settings.CACHEOPS_CATALOG_CACHE["max-age"]
    )


def reach_message(reach: Reach, now: datetime) -> str:
    """One sentence telling the editor when (or why not) the apps show the item."""
    if reach.state == DRAFT:
        if reach.held_by == "program":
            return _("Its program is a draft, so the apps do not show it.")
        if reach.held_by == "season":
            return _("Its season is a draft, so the apps do not show it.")
        return _("It is a draft, so the apps do not show it.")
    if reach.state == OUTSIDE:
        return _("It is outside its time of availability, so the apps do not show it.")
    if reach.state == SCHEDULED:
        local = reach.at.astimezone(JST)
        when = f"{local:%H:%M}" if local.date() == now.astimezone(JST).date() else f"{local:%Y-%m-%d %H:%M}"
        return _("It appears in the apps at %(time)s JST.") % {"time": when}
    seconds = apps_delay_seconds()
    if seconds is None:
        return _("It reaches the apps with the next catalog rebuild.")
    return _("It reaches the apps in about %(seconds)d s.") % {"seconds": seconds}
