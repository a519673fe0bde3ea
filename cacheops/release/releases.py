"""The release state of each family, in SQL, and the only code that changes it.

A family's state is its `Family` row (current, latest build, staged version and instant, pin, stale flag) and its
`Release` rows (each version's facts, when it was current, whether it was purged). Every change below happens
under the row's lock, bumps its revision and writes the cache's manifest as a projection of the new state, in
that transaction: a projection that fails to write leaves the state as it was. Builds are ordered by the
generation they took before reading content; ops' pins and purges take effect whatever a build holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cacheops import clock
from cacheops.errors import PublishError
from cacheops.models import Family, Release
from cacheops.release import families, publisher, versions
from cms.domain import time_parse, time_text

Outcome = Literal[
    "published", "unchanged", "superseded", "staged", "unstaged", "waiting", "held", "pinned", "resumed", "purged"
]


@dataclass
class Published:
    """What a change left current: `version` is the current version afterwards, whoever made it current."""

    family: str
    version: str
    previous: str | None
    outcome: Outcome


# -- builds --


def built(family: str, facts: dict, *, generation: int, written: bool = True) -> Published:
    """Record a build's version; it becomes current unless a later build came first, a pin holds, or it was purged."""
    with _changing(family) as row:
        if (superseded := _guard(row, generation)) is not None:
            return superseded
        row.published_generation = generation
        release = _record(row, facts)
        row.latest_version, row.next_boundary = release.version, time_parse(facts.get("next_boundary"))
        if row.staged_version and (
            row.staged_version == release.version or _staged_at_text(row) != facts.get("next_boundary")
        ):
            row.staged_version, row.staged_at = "", None
        if release.purged_at is not None:
            row.held_back = {"version": release.version}
            return _changed(row, "held", verified=(release.version,))
        if row.pinned_at is not None:
            return _changed(row, "waiting", verified=(release.version,))
        same = row.current_version == release.version and not row.stale and not written
        same = same and (row.manifest or {}).get("next_boundary") == facts.get("next_boundary")
        _current_set(row, release.version)
        row.stale, row.held_back = False, None
        return _changed(row, "unchanged" if same else "published", verified=(release.version,))


def staged(family: str, facts: dict, *, activate_at: datetime, generation: int) -> Published:
    """Record the version that becomes current at `activate_at` (readers fetch it ahead and switch on their clocks)."""
    with _changing(family) as row:
        if (superseded := _guard(row, generation)) is not None:
            return superseded
        if not row.current_version:
            raise PublishError(f"{family} has no current version to stage a later one behind")
        release = _record(row, facts)
        if row.staged_version == release.version and row.staged_at == activate_at:
            return Published(family, row.current_version, row.previous_version or None, "unchanged")
        row.staged_version, row.staged_at = release.version, activate_at
        return _changed(row, "staged", verified=(release.version,))


def unstaged(family: str, *, generation: int) -> Published | None:
    """Forget the staged version (its instant is no longer a boundary ahead); None if none is staged."""
    with _changing(family) as row:
        if (superseded := _guard(row, generation)) is not None:
            return superseded
        if not row.staged_version:
            return None
        row.staged_version, row.staged_at = "", None
        return _changed(row, "unstaged")


def activated(family: str, *, now: datetime, generation: int) -> Published | None:
    """Make the staged version current once `now` has reached its instant; None when none is due.

    A pin holds: the staged version waits (resume makes it current at once if its instant has passed).
    """
    with _changing(family) as row:
        if not row.staged_version or row.staged_at is None or row.staged_at > now:
            return None
        if (superseded := _guard(row, generation)) is not None:
            return superseded
        if row.pinned_at is not None:
            return Published(family, row.current_version, row.previous_version or None, "waiting")
        release = versions.release_get(family, row.staged_version)
        row.published_generation = generation
        row.latest_version, row.next_boundary = release.version, time_parse(release.facts.get("next_boundary"))
        row.staged_version, row.staged_at = "", None
        _current_set(row, release.version)
        row.stale = False
        return _changed(row, "published", verified=(release.version,))


# -- ops --


def pinned(family: str, facts: dict, *, by: str, reason: str = "") -> Published:
    """Make an earlier (intact, unpurged) version current and hold it there until resumed.

    `facts` are the version's, its chunks just written again (fresh TTLs).
    """
    with _changing(family) as row:
        release = versions.release_get(family, facts["version"])
        if release is None or release.purged_at is not None:
            raise PublishError(f"version {facts['version']} of {family} cannot be restored")
        release.facts = facts
        release.save(update_fields=["facts"])
        _current_set(row, release.version)
        row.pinned_at, row.pinned_by, row.pin_reason = clock.now_seconds(), by[:150], reason[:500]
        row.stale, row.waiting = False, None
        return _changed(row, "pinned", verified=(release.version,))


def resumed(family: str, *, by: str) -> Published:
    """End a pin: the staged version if its instant has passed, else the newest build, becomes current."""
    with _changing(family) as row:
        if row.pinned_at is None:
            raise PublishError(f"{family} is not pinned")
        row.pinned_at, row.pinned_by, row.pin_reason, row.waiting = None, "", "", None
        due = row.staged_at is not None and row.staged_at <= clock.now()
        if due:
            row.latest_version, row.staged_version, row.staged_at = row.staged_version, "", None
        latest = versions.release_get(family, row.latest_version)
        if latest is not None and latest.purged_at is None:
            _current_set(row, latest.version)
            row.next_boundary = time_parse(latest.facts.get("next_boundary"))
        return _changed(row, "resumed")


def purged(family: str, *, by: str, intact) -> Published:
    """Take the current version down: it is listed purged (readers drop it), never restored, never previous.

    The newest version built before it and current before it for which `intact(facts)` holds becomes current (its
    facts as `intact` returns them), else none. A pin holds on: what is current then stays until ops resume.
    """
    with _changing(family) as row:
        version = row.current_version
        release = versions.release_get(family, version)
        if release is None:
            raise PublishError(f"{family} has no current version to purge")
        release.purged_at, release.purged_by = clock.now_seconds(), by[:150]
        release.save(update_fields=["purged_at", "purged_by"])
        _current_set(row, "")
        if row.staged_version == version:
            row.staged_version, row.staged_at = "", None
        for earlier in versions.earlier_versions(family):
            # Only what was built before it: a purged pin never falls back to the version ops rolled away from.
            if earlier.id < release.id and (facts := intact(earlier.facts)) is not None:
                earlier.facts = facts
                earlier.save(update_fields=["facts"])
                _current_set(row, earlier.version)
                break
        row.latest_version = row.current_version
        return _changed(row, "purged", verified=(row.current_version,))


def accepted(family: str, *, by: str) -> Published:
    """Serve the held-back version after all: ops checked it and accept what the store holds."""
    with _changing(family) as row:
        held = (row.held_back or {}).get("version")
        release = versions.release_get(family, held or "")
        if release is None:
            raise PublishError(f"{family} holds no version back")
        release.purged_at, release.purged_by = None, ""
        release.save(update_fields=["purged_at", "purged_by"])
        row.held_back, row.latest_version = None, release.version
        row.next_boundary = time_parse(release.facts.get("next_boundary"))
        if row.pinned_at is None:
            _current_set(row, release.version)
        return _changed(row, "published")


def stale_marked(family: str) -> Published | None:
    """Flag the current version stale until the next build; readers keep serving it."""
    with _changing(family) as row:
        if not row.current_version:
            return None
        row.stale = True
        return _changed(row, "unchanged")


def removed(family: str) -> Published:
    """Drop the pointer to the current version (readers keep what they hold, as after a cache restart)."""
    with _changing(family) as row:
        _current_set(row, "")
        row.latest_version = ""
        return _changed(row, "unchanged")


def refreshed(family: str, facts: dict) -> Published | None:
    """Record the fresh expiry of a version whose chunks were written again; None if it is gone meanwhile."""
    with _changing(family) as row:
        release = versions.release_get(family, facts["version"])
        if release is None or release.purged_at is not None:
            return None
        release.facts = facts
        release.save(update_fields=["facts"])
        return _changed(row, "unchanged", verified=(release.version,))


def cdn_recorded(family: str, record: dict) -> None:
    """Note the CDN invalidation a change sent (or why it could not): shown by the console, decides nothing."""
    Family.objects.filter(name=family).update(cdn={**record, "at": time_text(clock.now_seconds())})


# -- the row, its releases and the projection --


_changing = families.family_locked


def _guard(row: Family, generation: int) -> Published | None:
    """Superseded if a build of a later generation was recorded first (the only generation check)."""
    if row.published_generation >= generation:
        return Published(row.name, row.current_version, row.previous_version or None, "superseded")
    return None


def _staged_at_text(row: Family) -> str | None:
    return time_text(row.staged_at) if row.staged_at else None


def _record(row: Family, facts: dict) -> Release:
    release, created = Release.objects.get_or_create(
        family=row.name, version=facts["version"], defaults={"facts": facts, "recorded_at": clock.now_seconds()}
    )
    if not created:
        release.facts = facts
        release.save(update_fields=["facts"])
    return release


def _current_set(row: Family, version: str) -> None:
    if row.current_version == version:
        return
    now = clock.now_seconds()
    if row.current_version:
        Release.objects.filter(family=row.name, version=row.current_version).update(current_until=now)
    if version:
        Release.objects.filter(family=row.name, version=version).update(current_from=now, current_until=None)
    row.current_version = version


def _previous(row: Family) -> str:
    now = clock.now()
    for release in versions.earlier_versions(row.name):
        if release.version != row.current_version and time_parse(release.facts["expires_at"]) > now:
            return release.version
    return ""


def _changed(row: Family, outcome: Outcome, verified: tuple[str, ...] = ()) -> Published:
    """Bump the revision, write the projection to the cache, save the row (all under its lock).

    `verified`: versions whose chunks the caller has just written or read back; any other version the projection
    names is checked first, so no manifest names a chunk the cache lost (a restart, an eviction).
    """
    row.revision += 1
    row.previous_version = _previous(row)
    row.manifest = versions.intact_only(versions.projection(row), verified)
    publisher.projection_write(row.name, row.manifest, versions.purged_versions(row.name))
    row.save()
    return Published(row.name, row.current_version, row.previous_version or None, outcome)
