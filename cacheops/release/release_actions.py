"""What ops do to a family's release: roll back (a pin), resume publishing, purge, accept a held-back version.

Each takes effect at once, in the request that asks for it: no build lock is waited for and no task is joined
(the release state is ordered on the family's SQL row). Each is logged as an operation, and with a CDN
configured each sends one invalidation of the public paths.
"""

from __future__ import annotations

import logging

from django.utils import translation
from django.utils.translation import gettext_lazy

from cacheops import clock
from cacheops.backends import CacheError, cdn
from cacheops.build import operations
from cacheops.errors import PublishError
from cacheops.models import Family, Operation
from cacheops.oplog import operation_log
from cacheops.release import publisher, releases, versions

logger = logging.getLogger(__name__)


REFUSALS = {
    "no_earlier": gettext_lazy("%(family)s has no earlier version to roll back to."),
    "not_earlier": gettext_lazy("%(version)s is not an earlier version of %(family)s."),
    "purged": gettext_lazy("Version %(version)s of %(family)s was purged; a purged version is never restored."),
    "lost": gettext_lazy(
        "Version %(version)s can no longer be restored: its chunks have left the shared cache. Rebuild instead."
    ),
    "not_pinned": gettext_lazy("%(family)s is not pinned."),
    "nothing_current": gettext_lazy("%(family)s has no current version to purge."),
    "nothing_held": gettext_lazy("%(family)s holds no version back."),
    "never_published": gettext_lazy("%(family)s has never been published."),
}


class ReleaseRefused(PublishError):
    """An action that cannot be taken in the family's present state: logged in English, shown in the reader's
    language (`text`)."""

    def __init__(self, code: str, **params: str) -> None:
        self.code, self.params = code, params
        with translation.override("en"):
            super().__init__(str(REFUSALS[code]) % params)

    def text(self) -> str:
        """Why, in the active language."""
        return str(REFUSALS[self.code]) % self.params


def rollback(*, family: str, version: str = "", requested_by: str = "", reason: str = "") -> Operation:
    """Make `version` (default: the previous one) current at once and pin it there until resumed."""
    row = _row(family)
    version = version or row.previous_version
    with operation_log("rollback", family, requested_by) as op:
        op.version_before = row.current_version
        release = versions.release_get(family, version)
        if release is None or (release.current_until is None and version != row.current_version):
            raise ReleaseRefused("not_earlier" if version else "no_earlier", family=family, version=version)
        if release.purged_at is not None:
            raise ReleaseRefused("purged", family=family, version=version)
        try:
            facts = publisher.chunks_refresh(release.facts)
        except PublishError as exc:
            logger.warning("Rolling %s back to %s refused: %s", family, version, exc)
            raise ReleaseRefused("lost", family=family, version=version) from exc
        result = releases.pinned(family, facts, by=requested_by, reason=reason)
        op.version_after, op.result = result.version, "pinned"
        op.detail = f"pinned by {requested_by or '-'}" + (f": {reason}" if reason else "")
        op.detail += _cdn_note(family, op)
    return op


def resume(*, family: str, requested_by: str = "") -> Operation:
    """End the pin: the newest build (or a staged version whose instant has passed) becomes current."""
    with operation_log("resume", family, requested_by) as op:
        row = _row(family)
        op.version_before = row.current_version
        if row.pinned_at is None:
            raise ReleaseRefused("not_pinned", family=family)
        result = releases.resumed(family, by=requested_by)
        op.version_after, op.result = result.version, "resumed"
        op.detail = _cdn_note(family, op).removeprefix("; ")
    row = _row(family)
    if row.next_boundary is not None and row.next_boundary <= clock.now():
        # The newest build shows content from before a boundary that passed during the pin: build as of now.
        operations.rebuild_request(family=family, requested_by=requested_by)
    return op


def purge(*, family: str, requested_by: str = "") -> Operation:
    """Take the current version down everywhere; serve the newest intact earlier one meanwhile; rebuild in full."""
    with operation_log("purge", family, requested_by) as op:
        row = _row(family)
        op.version_before = row.current_version
        purged = versions.release_get(family, row.current_version)
        if purged is None:
            raise ReleaseRefused("nothing_current", family=family)
        result = releases.purged(family, by=requested_by, intact=publisher.chunks_intact)
        op.version_after, op.result = result.version, "done"
        op.detail = f"{purged.version} taken down; " + (
            f"{result.version} current meanwhile" if result.version else "nothing current until the rebuild"
        )
        try:
            publisher.chunks_delete(purged.facts)
        except CacheError as exc:
            op.detail += f"; its chunks could not be removed ({exc}), readers drop them anyway"
        op.detail += _cdn_note(family, op, purged=[purged.version])
    operations.rebuild_request(family=family, requested_by=requested_by)
    return op


def accept(*, family: str, requested_by: str = "") -> Operation:
    """Serve the version a rebuild produced again after a purge: ops checked what the store still holds."""
    with operation_log("accept", family, requested_by) as op:
        row = _row(family)
        op.version_before = row.current_version
        if not row.held_back:
            raise ReleaseRefused("nothing_held", family=family)
        result = releases.accepted(family, by=requested_by)
        op.version_after, op.result = result.version, "done"
        op.detail = _cdn_note(family, op).removeprefix("; ")
    return op


def _row(family: str) -> Family:
    row = Family.objects.filter(name=family).first()
    if row is None:
        raise ReleaseRefused("never_published", family=family)
    return row


def _cdn_note(family: str, op: Operation, purged: tuple[str, ...] | list[str] = ()) -> str:
    """Send the CDN an invalidation of the public paths; record it on the family row; return a note."""
    if family != operations.CATALOG or not cdn.cdn_configured():
        return ""
    paths = cdn.public_paths(list(purged))
    try:
        sent = cdn.invalidate(paths, reference=f"{family}-{op.kind}-{op.pk}")
    except cdn.CdnError as exc:
        logger.warning("CDN invalidation after %s of %s failed: %s", op.kind, family, exc)
        releases.cdn_recorded(family, {"error": str(exc)[:500]})
        return f"; CDN invalidation failed: {exc}"
    releases.cdn_recorded(family, {"id": sent.id, "status": sent.status, "paths": paths})
    return f"; CDN invalidation {sent.id} ({sent.status})"
