"""Write snapshots to the shared cache: chunks first, verified, then the manifest swap on the family's SQL row.

The only module that writes cache keys (the build lock aside). A manifest never outlives a chunk it names:
every manifest write takes its TTL from `expires_at`, which is never later than its chunks' expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import orjson
from django.conf import settings

from cms.domain import time_parse, time_text

from . import chunks, clock, families, keys
from .backends import backend_get
from .errors import PublishError
from .manifest import Manifest, chunks_fetch, manifest_read, manifest_version_read
from .models import Family

Progress = Callable[[str, int, int], None]
Outcome = Literal["published", "unchanged", "superseded", "staged", "unstaged"]


@dataclass
class Published:
    """What a publish left current: `version` is the current version afterwards, whoever published it."""

    family: str
    version: str
    previous: str | None
    outcome: Outcome


def _silent(stage: str, done: int, total: int) -> None:
    return None


def publish(
    family: str,
    body: bytes,
    *,
    as_of: datetime,
    generation: int,
    next_boundary: str | None = None,
    progress: Progress | None = None,
) -> Published:
    """Publish `body` as the current version of `family`, unless it already is or a later build published first.

    `next_boundary` is when the content changes by itself (a publish_at or expire_at after `as_of`): no reader
    lets a cache keep a response past it.
    """
    progress = progress or _silent
    current = manifest_read(family)
    version = chunks.sha16(body)
    same = current and current["version"] == version and current.get("next_boundary") == next_boundary
    if same and not current.get("stale") and _complete(current):
        unchanged = _unchanged_record(family, version, generation)
        if unchanged is not None:
            return unchanged

    manifest = version_write(family, body, as_of=as_of, next_boundary=next_boundary, progress=progress)
    return manifest_swap(family, manifest, generation=generation)


def version_write(
    family: str, body: bytes, *, as_of: datetime, next_boundary: str | None, progress: Progress
) -> Manifest:
    """Write the chunks of `body` and read them back; return the manifest naming them (not yet published)."""
    codec = settings.CACHEOPS_CODEC
    compressed = chunks.compress(body, codec)
    zsha, sha256 = chunks.sha16(compressed), hashlib.sha256(compressed).hexdigest()
    pieces = chunks.split(compressed, settings.CACHEOPS_CHUNK_BYTES)
    entries = [
        {"index": c.index, "key": keys.chunk_key(family, zsha, c.index), "bytes": len(c.data), "sha256": c.sha256}
        for c in pieces
    ]
    expires = _chunks_write(entries, [piece.data for piece in pieces], progress, "write")
    # Read back before the swap: a reader must never find a manifest whose chunks are not there.
    try:
        chunks.join(backend_get().get_many([e["key"] for e in entries]), entries, sha256)
    except chunks.ChunkError as exc:
        raise PublishError(f"verification failed: {exc}") from exc
    progress("verify", len(entries), len(entries))

    return {
        "name": family,
        "version": chunks.sha16(body),
        "codec": codec,
        "raw_bytes": len(body),
        "compressed_bytes": len(compressed),
        "sha256": sha256,
        "chunks": entries,
        "as_of": time_text(as_of),
        "built_at": time_text(clock.now()),
        "expires_at": time_text(expires),
        "next_boundary": next_boundary,
        "previous_version": None,
        "staged": None,
        "stale": False,
    }


def _complete(manifest: Manifest) -> bool:
    # NOTE: reads the whole snapshot once per unchanged build; caches evict chunks (read once per version)
    # long before the manifest (read every second), so presence alone is worth checking.
    try:
        chunks_fetch(manifest)
    except chunks.ChunkError:
        return False
    return True


def _unchanged_record(family: str, version: str, generation: int) -> Published | None:
    """Record that `version`, complete in the cache, is still current as of `generation`; None if it no longer is."""
    with families.family_locked(family) as row:
        if row.published_generation >= generation:
            return _superseded(row)
        current = manifest_read(family)
        # An older build may have swapped since the first look: then this build publishes after all.
        if not current or current["version"] != version or current.get("stale"):
            return None
        families.family_record(row, current, generation=generation)
        return Published(family, version, current.get("previous_version"), "unchanged")


def _superseded(row: Family) -> Published:
    return Published(row.name, row.current_version, row.previous_version or None, "superseded")


def _chunks_write(entries: list, datas: list[bytes], progress: Progress, stage: str) -> datetime:
    """Write every chunk with a fresh TTL; return the earliest instant one of them can expire."""
    backend, ttl = backend_get(), settings.CACHEOPS_TTL_SECONDS
    # Taken before the first write, so it is never later than any chunk's own expiry.
    expires = clock.now() + timedelta(seconds=ttl)
    for done, (entry, data) in enumerate(zip(entries, datas, strict=True), 1):
        backend.set(entry["key"], data, ttl)
        progress(stage, done, len(entries))
    return expires


def _chunks_rewrite(manifest: Manifest, progress: Progress, stage: str) -> Manifest:
    """Write the chunks of `manifest` again with a fresh TTL; return it with the matching `expires_at`."""
    try:
        compressed = chunks_fetch(manifest)
    except chunks.ChunkError as exc:
        raise PublishError(f"version {manifest['version']} of {manifest['name']} is no longer complete: {exc}") from exc
    entries = manifest["chunks"]
    starts = [sum(e["bytes"] for e in entries[: entry["index"]]) for entry in entries]
    datas = [compressed[start : start + entry["bytes"]] for start, entry in zip(starts, entries, strict=True)]
    expires = _chunks_write(entries, datas, progress, stage)
    return {**manifest, "expires_at": time_text(expires)}


def _manifest_write(family: str, manifest: Manifest, *, with_copy: bool = True) -> bool:
    """Write `manifest` as current (and its per-version copy) to live until its `expires_at` and no longer."""
    # expires_at has whole seconds, truncated: the key never outlives the chunks it names.
    left = (time_parse(manifest["expires_at"]) - clock.now()).total_seconds()
    if left < 0.001:
        return False
    backend, raw = backend_get(), orjson.dumps(manifest)
    if with_copy:
        backend.set(keys.manifest_version_key(family, manifest["version"]), raw, left)
    backend.set(keys.manifest_key(family), raw, left)
    return True


def manifest_swap(family: str, manifest: Manifest, *, generation: int) -> Published:
    """Make `manifest` current unless a build of a later generation published first."""
    # The cache writes happen inside the row's transaction: one that fails leaves the row as it was.
    with families.family_locked(family) as row:
        if row.published_generation >= generation:
            return _superseded(row)
        current = manifest_read(family)
        manifest["previous_version"] = _previous_version(current, manifest["version"])
        _staged_keep(current, manifest)
        if not _manifest_write(family, manifest):
            raise PublishError(f"the chunks of {family} {manifest['version']} expired before its manifest was written")
        families.family_record(row, manifest, generation=generation)
    return Published(family, manifest["version"], manifest["previous_version"], "published")


def _staged_keep(current: Manifest | None, manifest: Manifest) -> None:
    """Carry the staged version over to `manifest` when it still stages the same boundary.

    Readers then keep what they fetched ahead; the build that published `manifest` stages again right after
    if the content of that instant changed.
    """
    staged = current.get("staged") if current else None
    if staged and staged["activate_at"] == manifest.get("next_boundary") and staged["version"] != manifest["version"]:
        manifest["staged"] = staged
        # The manifest names the staged chunks too: it must not outlive them.
        manifest["expires_at"] = min(manifest["expires_at"], staged["expires_at"])


def stage(
    family: str,
    body: bytes,
    *,
    activate_at: datetime,
    generation: int,
    next_boundary: str | None,
    progress: Progress | None = None,
) -> Published:
    """Write the version that becomes current at `activate_at`, then name it in the current manifest's `staged`.

    Its chunks are written and read back first, and the current manifest never outlives them.
    """
    current, version, when = manifest_read(family), chunks.sha16(body), time_text(activate_at)
    staged = current.get("staged") if current else None
    if staged and staged["version"] == version and staged["activate_at"] == when and _complete(staged):
        return Published(family, current["version"], current.get("previous_version"), "unchanged")
    manifest = version_write(family, body, as_of=activate_at, next_boundary=next_boundary, progress=progress or _silent)
    with families.family_locked(family) as row:
        if row.published_generation >= generation:
            return _superseded(row)
        current = manifest_read(family)
        if current is None:
            raise PublishError(f"{family} has no current version to stage a later one behind")
        current["staged"] = {**manifest, "activate_at": when}
        current["expires_at"] = min(current["expires_at"], manifest["expires_at"])
        if not _manifest_write(family, current, with_copy=False):
            raise PublishError(f"the current version of {family} expires before the staged one could be named")
        families.family_record(row, current, generation=generation)
    return Published(family, current["version"], current.get("previous_version"), "staged")


def unstage(family: str, *, generation: int) -> Published | None:
    """Remove the staged version from the current manifest (its chunks expire by themselves); None if none is staged."""
    with families.family_locked(family) as row:
        if row.published_generation >= generation:
            return _superseded(row)
        current = manifest_read(family)
        if not current or not current.get("staged"):
            return None
        current["staged"] = None
        if not _manifest_write(family, current, with_copy=False):
            raise PublishError(f"the current version of {family} expired before its staged version could be removed")
        families.family_record(row, current, generation=generation)
    return Published(family, current["version"], current.get("previous_version"), "unstaged")


def activate(family: str, *, now: datetime, generation: int) -> Published | None:
    """Make the staged version current once `now` has reached its activation; None when none is due."""
    current = manifest_read(family)
    staged = current.get("staged") if current else None
    if not staged or time_parse(staged["activate_at"]) > now:
        return None
    manifest = {k: v for k, v in staged.items() if k != "activate_at"}
    if not _complete(manifest):
        raise PublishError(f"staged version {manifest['version']} of {family} lost chunks before its activation")
    return manifest_swap(family, manifest, generation=generation)


def _previous_version(current: Manifest | None, version: str) -> str | None:
    if current is None:
        return None
    return current["version"] if current["version"] != version else current.get("previous_version")


def rollback(family: str, *, generation: int) -> Published:
    """Make the previous version current again, its chunks written afresh, if they are all still there."""
    current = manifest_read(family)
    if not current or not current.get("previous_version"):
        raise PublishError(f"{family} has no previous version to roll back to")
    previous = manifest_version_read(family, current["previous_version"])
    if previous is None:
        raise PublishError(f"version {current['previous_version']} of {family} has expired")
    # The copy's expiry is its first publication's: its chunks must live again before it may.
    previous = _chunks_rewrite(previous, _silent, "refresh")
    manifest = {**previous, "built_at": time_text(clock.now()), "stale": False}
    return manifest_swap(family, manifest, generation=generation)


def manifest_mark_stale(family: str) -> Manifest | None:
    """Flag the current manifest stale, for the rest of its life; readers keep using it until a rebuild."""
    with families.family_locked(family) as row:
        manifest = manifest_read(family)
        if manifest is not None:
            manifest["stale"] = True
            _manifest_write(family, manifest, with_copy=False)
            families.family_record(row, manifest)
    return manifest


def manifest_remove(family: str, *, forget: bool = False) -> Manifest | None:
    """Remove the pointer to the current version (chunks expire by themselves).

    With `forget` (a purge), readers are also told to drop that version from memory; otherwise they keep serving
    it, as after a cache restart.
    """
    with families.family_locked(family) as row:
        manifest = manifest_read(family)
        if forget and manifest is not None:
            backend_get().set(keys.purged_key(family), manifest["version"].encode(), settings.CACHEOPS_TTL_SECONDS)
        backend_get().delete(keys.manifest_key(family))
        families.family_record(row, None, previous=manifest["version"] if manifest else row.previous_version)
    return manifest


def ttl_refresh(family: str, progress: Progress | None = None) -> Manifest | None:
    """Write the current version's chunks, then its manifest, again with a fresh TTL."""
    manifest = manifest_read(family)
    if manifest is None:
        return None
    refreshed = _chunks_rewrite(manifest, progress or _silent, "refresh")
    with families.family_locked(family) as row:
        current = manifest_read(family)
        if current is None or current["version"] != manifest["version"]:
            return current  # replaced or removed meanwhile: a new version carries fresh TTLs of its own
        current["expires_at"] = refreshed["expires_at"]
        _manifest_write(family, current)
        families.family_record(row, current)
    return current
