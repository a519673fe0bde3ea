"""Write snapshots to the shared cache: chunks first, verified, then the manifest swap.

The only module that writes cache keys (the build lock aside).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings

from cms.domain import time_text

from . import chunks, keys
from .backends import backend_get
from .errors import LockLost, PublishError
from .lock import lock_held
from .manifest import Manifest, chunks_fetch, families_read, manifest_read, manifest_version_read

Progress = Callable[[str, int, int], None]


@dataclass
class Published:
    family: str
    version: str
    previous: str | None
    changed: bool


def _now() -> datetime:
    return datetime.now(UTC)


def publish(
    family: str,
    body: bytes,
    *,
    as_of: datetime,
    build_id: str,
    started_at: datetime,
    progress: Progress | None = None,
) -> Published:
    """Publish `body` as the current version of `family`, unless it already is."""
    backend, ttl = backend_get(), settings.CACHEOPS_TTL_SECONDS
    progress = progress or (lambda stage, done, total: None)
    current = manifest_read(family)
    version = chunks.sha16(body)
    if current and current["version"] == version and not current.get("stale"):
        return Published(family, version, current.get("previous_version"), changed=False)

    codec = settings.CACHEOPS_CODEC
    compressed = chunks.compress(body, codec)
    zsha = chunks.sha16(compressed)
    pieces = chunks.split(compressed, settings.CACHEOPS_CHUNK_BYTES)
    entries = [
        {"index": c.index, "key": keys.chunk_key(family, zsha, c.index), "bytes": len(c.data), "sha256": c.sha256}
        for c in pieces
    ]
    for done, (entry, piece) in enumerate(zip(entries, pieces, strict=True), 1):
        backend.set(entry["key"], piece.data, ttl)
        progress("write", done, len(entries))
    # Read back before the swap: a reader must never find a manifest whose chunks are not there.
    try:
        chunks.join(backend.get_many([e["key"] for e in entries]), entries, hashlib.sha256(compressed).hexdigest())
    except chunks.ChunkError as exc:
        raise PublishError(f"verification failed: {exc}") from exc
    progress("verify", len(entries), len(entries))

    now = _now()
    manifest: Manifest = {
        "name": family,
        "version": version,
        "codec": codec,
        "raw_bytes": len(body),
        "compressed_bytes": len(compressed),
        "sha256": hashlib.sha256(compressed).hexdigest(),
        "chunks": entries,
        "as_of": time_text(as_of),
        "built_at": time_text(now),
        "expires_at": time_text(now + timedelta(seconds=ttl)),
        "previous_version": _previous_version(current, version),
        "staged": None,
    }
    manifest_swap(family, manifest, build_id=build_id, started_at=started_at)
    return Published(family, version, manifest["previous_version"], changed=True)


def _previous_version(current: Manifest | None, version: str) -> str | None:
    if current is None:
        return None
    return current["version"] if current["version"] != version else current.get("previous_version")


def rollback(family: str, *, build_id: str, started_at: datetime) -> Published:
    """Make the previous version current again, if its chunks are still there."""
    current = manifest_read(family)
    if not current or not current.get("previous_version"):
        raise PublishError(f"{family} has no previous version to roll back to")
    previous = manifest_version_read(family, current["previous_version"])
    if previous is None:
        raise PublishError(f"version {current['previous_version']} of {family} has expired")
    try:
        chunks_fetch(previous)
    except chunks.ChunkError as exc:
        raise PublishError(f"version {previous['version']} of {family} is no longer complete: {exc}") from exc
    manifest = {**previous, "previous_version": current["version"], "built_at": time_text(_now()), "stale": False}
    manifest_swap(family, manifest, build_id=build_id, started_at=started_at)
    return Published(family, manifest["version"], current["version"], changed=True)


def manifest_swap(family: str, manifest: Manifest, *, build_id: str, started_at: datetime) -> None:
    """Make `manifest` current if this build still holds the lock and nothing newer was published."""
    backend, ttl = backend_get(), settings.CACHEOPS_TTL_SECONDS
    if not lock_held(family, build_id):
        raise LockLost(f"the build lock of {family} expired before the swap")
    latest = manifest_read(family)
    if latest and latest["built_at"] > time_text(started_at):
        raise LockLost(f"a newer version of {family} was published meanwhile")
    raw = orjson.dumps(manifest)
    backend.set(keys.manifest_version_key(family, manifest["version"]), raw, ttl)
    backend.set(keys.manifest_key(family), raw, ttl)
    _family_remember(family, ttl)


def _family_remember(family: str, ttl: int) -> None:
    # Rewritten on every publish and refresh: the list must live as long as the entries it names.
    names = families_read()
    backend_get().set(keys.families_key(), orjson.dumps(names if family in names else [*names, family]), ttl)


def manifest_mark_stale(family: str) -> Manifest | None:
    """Flag the current manifest stale; readers keep using it until a rebuild replaces it."""
    manifest = manifest_read(family)
    if manifest is not None:
        manifest["stale"] = True
        backend_get().set(keys.manifest_key(family), orjson.dumps(manifest), settings.CACHEOPS_TTL_SECONDS)
    return manifest


def manifest_remove(family: str) -> Manifest | None:
    """Remove the pointer to the current version (chunks expire by themselves)."""
    manifest = manifest_read(family)
    backend_get().delete(keys.manifest_key(family))
    return manifest


def ttl_refresh(family: str, progress: Progress | None = None) -> Manifest | None:
    """Write the current version's chunks and manifest again with a fresh TTL."""
    backend, ttl = backend_get(), settings.CACHEOPS_TTL_SECONDS
    manifest = manifest_read(family)
    if manifest is None:
        return None
    compressed = chunks_fetch(manifest)
    entries = manifest["chunks"]
    for done, entry in enumerate(entries, 1):
        start = sum(e["bytes"] for e in entries[: entry["index"]])
        backend.set(entry["key"], compressed[start : start + entry["bytes"]], ttl)
        (progress or (lambda *a: None))("refresh", done, len(entries))
    manifest["expires_at"] = time_text(_now() + timedelta(seconds=ttl))
    raw = orjson.dumps(manifest)
    backend.set(keys.manifest_version_key(family, manifest["version"]), raw, ttl)
    backend.set(keys.manifest_key(family), raw, ttl)
    _family_remember(family, ttl)
    return manifest
