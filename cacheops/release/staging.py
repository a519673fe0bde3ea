"""Staging: the catalog as of its next boundary (a publish_at, an expire_at or an airtime schedule), written and
verified ahead, then named in the release state so every reader fetches it before the instant."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings

from cacheops import chunks, clock
from cacheops.backends import CacheError
from cacheops.build.snapshot import catalog_body, next_boundary
from cacheops.errors import PublishError
from cacheops.keys import CATALOG
from cacheops.release import airtime, families, publisher, releases
from cms.domain import time_parse, time_text

logger = logging.getLogger(__name__)


def boundary_after(content_boundary: datetime | None) -> str | None:
    """The next instant to stage: the content boundary, or a pending airtime schedule before it."""
    return time_text(airtime.boundary_next(content_boundary, clock.now_seconds()))


def stage_near(sources: dict[str, dict], boundary: str | None, progress) -> str:
    """Stage the catalog as of `boundary` if it is near; return a note for the operation's detail."""
    at = time_parse(boundary)
    if at is None or (at - clock.now_seconds()).total_seconds() > settings.CACHEOPS_STAGE_AHEAD_SECONDS:
        return ""
    body = catalog_body(sources.values(), at)
    try:
        generation = families.generation_take(CATALOG)
        facts, _ = publisher.version_ensure(
            CATALOG, body, as_of=at, next_boundary=next_boundary(sources.values(), at), progress=progress
        )
        result = releases.staged(CATALOG, facts, activate_at=at, generation=generation)
    except (PublishError, CacheError) as exc:
        # What was published stays; the airtime sweep stages again within seconds.
        logger.warning("Staging the catalog as of %s failed: %s", boundary, exc)
        return f"; staging as of {boundary} failed: {exc}"
    if result.outcome in ("staged", "unchanged"):
        airtime.staged_record(at, body, sources)
    return f"; {result.outcome} {chunks.sha16(body)} as of {boundary}"
