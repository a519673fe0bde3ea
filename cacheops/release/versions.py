"""A family's versions as SQL records them: lookups, and the manifest its release state projects."""

from __future__ import annotations

from cacheops.manifest import Manifest
from cacheops.models import Family, Release
from cacheops.release import publisher
from cms.domain import time_text

# The manifest names this many recent purged versions, which every reader drops.
PURGED_LISTED = 20
# Facts of a version, as its per-version copy and its Release row hold them (never release decisions).
FACTS = (
    "name",
    "version",
    "codec",
    "raw_bytes",
    "compressed_bytes",
    "sha256",
    "chunks",
    "as_of",
    "built_at",
    "expires_at",
    "next_boundary",
)


def facts_of(manifest: Manifest) -> dict:
    """The facts of one version, without any release decision."""
    return {key: manifest.get(key) for key in FACTS}


def release_get(family: str, version: str) -> Release | None:
    return Release.objects.filter(family=family, version=version).first() if version else None


def earlier_versions(family: str, limit: int = 10) -> list[Release]:
    """Versions that were current before, newest first, purged ones excluded (they are never restored)."""
    rows = Release.objects.filter(family=family, current_until__isnull=False, purged_at__isnull=True)
    return list(rows.order_by("-current_until", "-id")[:limit])


def purged_versions(family: str) -> list[str]:
    rows = Release.objects.filter(family=family, purged_at__isnull=False).order_by("-purged_at", "-id")
    return list(rows.values_list("version", flat=True)[:PURGED_LISTED])


def intact_only(manifest: Manifest | None, verified: tuple[str, ...]) -> Manifest | None:
    """`manifest` without what the cache no longer holds: no staged version then, no manifest at all if the
    current version is incomplete (readers keep what they hold and ask for a build, as after a restart)."""
    if manifest is None:
        return None
    staged = manifest["staged"]
    if staged and staged["version"] not in verified and not publisher.complete(staged):
        manifest["staged"] = None
    if manifest["version"] not in verified and not publisher.complete(manifest):
        return None
    return manifest


def projection(row: Family) -> Manifest | None:
    """The manifest readers follow, as this state says it: None when no version is current."""
    current = release_get(row.name, row.current_version)
    if current is None:
        return None
    manifest: Manifest = {**current.facts, "name": row.name}
    manifest["previous_version"] = row.previous_version or None
    manifest["stale"], manifest["pinned"], manifest["revision"] = row.stale, row.pinned_at is not None, row.revision
    manifest["purged"] = purged_versions(row.name)
    manifest["staged"] = None
    if row.pinned_at is not None:
        # A pinned version does not change by itself: no boundary cuts the lifetimes of what caches keep.
        manifest["next_boundary"] = None
    elif row.staged_version and (staged := release_get(row.name, row.staged_version)) is not None:
        manifest["staged"] = {**staged.facts, "activate_at": time_text(row.staged_at)}
        # The manifest names the staged chunks too: it must not outlive them.
        manifest["expires_at"] = min(manifest["expires_at"], staged.facts["expires_at"])
    return manifest
