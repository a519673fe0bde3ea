"""Write versions to the shared cache: chunks first, read back and verified, and the manifest as projected.

The only module that writes cache keys (the build lock aside); what is current is decided by `releases`. A manifest
never outlives a chunk it names: each write takes its TTL from `expires_at`, never later than its chunks' expiry.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from django.conf import settings

from cacheops import chunks, clock, keys
from cacheops.backends import CacheError, backend_get
from cacheops.errors import PublishError
from cacheops.manifest import Manifest, chunks_fetch
from cacheops.models import Release
from cms.domain import time_parse, time_text

Progress = Callable[[str, int, int], None]
# Longer than a write takes to reach the cache on a loaded machine (milliseconds): see _left.
WRITE_MARGIN_S = 1.0
logger = logging.getLogger(__name__)


def _silent(stage: str, done: int, total: int) -> None:
    return None


def version_ensure(
    family: str, body: bytes, *, as_of: datetime, next_boundary: str | None, progress: Progress | None = None
) -> tuple[Manifest, bool]:
    """The facts of `body` as a version of `family` whose chunks are all in the cache, and whether they had to be
    written (they are not, while the cache holds them all)."""
    version = chunks.sha16(body)
    known = Release.objects.filter(family=family, version=version).values_list("facts", flat=True).first()
    if known and time_parse(known["expires_at"]) > clock.now() and complete(known):
        facts = {**known, "as_of": time_text(as_of), "built_at": time_text(clock.now()), "next_boundary": next_boundary}
        _copy_write(facts)
        return facts, False
    return version_write(family, body, as_of=as_of, next_boundary=next_boundary, progress=progress), True


def version_write(
    family: str, body: bytes, *, as_of: datetime, next_boundary: str | None, progress: Progress | None = None
) -> Manifest:
    """Write the chunks of `body` and read them back; return the facts naming them (not current yet)."""
    progress = progress or _silent
    codec = settings.CACHEOPS_CODEC
    compressed = chunks.compress(body, codec)
    zsha, sha256 = chunks.sha16(compressed), hashlib.sha256(compressed).hexdigest()
    pieces = chunks.split(compressed, settings.CACHEOPS_CHUNK_BYTES)
    entries = [
        {"index": c.index, "key": keys.chunk_key(family, zsha, c.index), "bytes": len(c.data), "sha256": c.sha256}
        for c in pieces
    ]
    expires = _chunks_write(entries, [piece.data for piece in pieces], progress, "write")
    # Read back before any manifest names them: a reader must never find a manifest whose chunks are not there.
    try:
        chunks.join(backend_get().get_many([e["key"] for e in entries]), entries, sha256)
    except chunks.ChunkError as exc:
        raise PublishError(f"verification failed: {exc}") from exc
    progress("verify", len(entries), len(entries))
    facts: Manifest = {
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
    }
    _copy_write(facts)
    return facts


def complete(facts: Manifest) -> bool:
    """Whether every chunk of a version is in the cache, with its bytes."""
    try:
        chunks_fetch(facts)
    except chunks.ChunkError:
        return False
    return True


def _left(facts: Manifest) -> float:
    # expires_at has whole seconds, truncated; the margin covers the time the write takes to reach the cache (whose
    # clock starts the lifetime on receipt): a key written with this lifetime never outlives the chunks.
    return (time_parse(facts["expires_at"]) - clock.now()).total_seconds() - WRITE_MARGIN_S


def _copy_write(facts: Manifest) -> None:
    """The per-version copy: the facts of one version (for readers of an older version and the edge)."""
    if (left := _left(facts)) >= 0.001:
        backend_get().set(keys.manifest_version_key(facts["name"], facts["version"]), orjson.dumps(facts), left)


def _chunks_write(entries: list, datas: list[bytes], progress: Progress, stage: str) -> datetime:
    """Write every chunk with a fresh TTL; return the earliest instant one of them can expire."""
    backend, ttl = backend_get(), settings.CACHEOPS_TTL_SECONDS
    # Taken before the first write, so it is never later than any chunk's own expiry.
    expires = clock.now() + timedelta(seconds=ttl)
    for done, (entry, data) in enumerate(zip(entries, datas, strict=True), 1):
        backend.set(entry["key"], data, ttl)
        progress(stage, done, len(entries))
    return expires


def chunks_refresh(facts: Manifest, progress: Progress | None = None) -> Manifest:
    """Write the chunks of a version again with a fresh TTL; return its facts with the matching `expires_at`.

    PublishError if a chunk is gone: only a build can write that version again.
    """
    try:
        compressed = chunks_fetch(facts)
    except chunks.ChunkError as exc:
        raise PublishError(
            f"version {facts['version']} of {facts['name']} is no longer complete in the cache: {exc}"
        ) from exc
    entries = facts["chunks"]
    starts = [sum(e["bytes"] for e in entries[: entry["index"]]) for entry in entries]
    datas = [compressed[start : start + entry["bytes"]] for start, entry in zip(starts, entries, strict=True)]
    expires = _chunks_write(entries, datas, progress or _silent, "refresh")
    refreshed = {**facts, "expires_at": time_text(expires)}
    _copy_write(refreshed)
    return refreshed


def chunks_intact(facts: Manifest) -> Manifest | None:
    """`chunks_refresh`, or None when the version is no longer complete."""
    try:
        return chunks_refresh(facts)
    except PublishError:
        return None


def chunks_delete(facts: Manifest) -> None:
    """Remove the chunks and copy of a purged version (readers and the edge have already been told)."""
    backend = backend_get()
    for entry in facts["chunks"]:
        backend.delete(entry["key"])
    backend.delete(keys.manifest_version_key(facts["name"], facts["version"]))


def projection_write(family: str, manifest: Manifest | None, purged: list[str]) -> None:
    """Write the manifest the release state projects (or remove it), to live until its `expires_at` only; then
    announce it to the readers subscribed."""
    backend = backend_get()
    if manifest is None:
        backend.delete(keys.manifest_key(family))
        if purged:
            # No manifest to carry the list: readers read it here when they find none.
            backend.set(keys.purged_key(family), orjson.dumps(purged), settings.CACHEOPS_TTL_SECONDS)
    else:
        if (left := _left(manifest)) < 0.001:
            raise PublishError(
                f"the chunks of {family} {manifest['version']} expire before its manifest could be written"
            )
        backend.set(keys.manifest_key(family), orjson.dumps(manifest), left)
    _announce(family, manifest, purged)


def _announce(family: str, manifest: Manifest | None, purged: list[str]) -> None:
    """Tell the readers subscribed now that the manifest changed: they read it at once. The message only says what
    changed; the manifest stays the one truth, so a lost message costs a reader one fallback poll, no more."""
    staged = (manifest or {}).get("staged") or {}
    message = {
        "family": family,
        "version": manifest["version"] if manifest else None,
        "revision": manifest.get("revision", 0) if manifest else None,
        "staged": staged.get("version"),
        "pinned": bool(manifest and manifest.get("pinned")),
        "purged": purged,
        # When it was sent, to the millisecond: how long the news took to reach a reader or an app can be measured.
        "at": clock.now().isoformat(timespec="milliseconds"),
    }
    try:
        backend_get().publish(keys.versions_channel(family), orjson.dumps(message))
    except CacheError as exc:
        logger.warning("Could not announce %s's new manifest (readers find it at their next poll): %s", family, exc)
