"""Read-only access to published versions: the Manifest type, current and by-version lookups, chunks, TTLs."""

from __future__ import annotations

from typing import TypedDict

import orjson

from cacheops import chunks, clock, keys
from cms.domain import time_parse

from .backends import backend_get
from .errors import PublishError


class ChunkEntry(TypedDict):
    index: int
    key: str
    bytes: int
    sha256: str


class Manifest(TypedDict, total=False):
    """The published description of one version of a family (see the cache protocol)."""

    name: str
    version: str
    codec: str
    raw_bytes: int
    compressed_bytes: int
    sha256: str
    chunks: list[ChunkEntry]
    as_of: str
    built_at: str
    expires_at: str
    next_boundary: str | None
    # Release decisions, in the current manifest only (projected from SQL; never in a per-version copy).
    previous_version: str | None
    staged: dict | None
    stale: bool
    pinned: bool
    revision: int
    purged: list[str]


def manifest_read(family: str) -> Manifest | None:
    """The current manifest of `family`, or None."""
    raw = backend_get().get(keys.manifest_key(family))
    return orjson.loads(raw) if raw else None


def manifest_version_read(family: str, version: str) -> Manifest | None:
    """The manifest of one version of `family`, kept for rollback and for readers of older versions."""
    raw = backend_get().get(keys.manifest_version_key(family, version))
    return orjson.loads(raw) if raw else None


def purged_read(family: str) -> list[str]:
    """The versions of `family` purges took down, as written when no version is current."""
    raw = backend_get().get(keys.purged_key(family))
    try:
        return [str(v) for v in orjson.loads(raw)] if raw else []
    except (orjson.JSONDecodeError, TypeError):
        return []


def manifest_ttl_left(manifest: Manifest) -> float:
    """Seconds until the current `manifest` or one of its chunks expires: the cache's own count where it keeps one."""
    backend = backend_get()
    # NOTE: one TTL read per key; meant for the ops command and the hourly refresh, not for readers.
    names = [keys.manifest_key(manifest["name"]), *(entry["key"] for entry in manifest["chunks"])]
    lefts = [backend.ttl(name) for name in names]
    if None in lefts:
        # The cache cannot tell (Momento): expires_at is never later than any chunk's expiry.
        return max(0.0, (time_parse(manifest["expires_at"]) - clock.now()).total_seconds())
    return min(lefts)


def chunks_fetch(manifest: Manifest) -> bytes:
    """Fetch and verify every chunk of `manifest`; return the compressed stream."""
    entries = manifest["chunks"]
    data = backend_get().get_many([entry["key"] for entry in entries])
    return chunks.join(data, entries, manifest["sha256"])


def snapshot_read(family: str) -> tuple[Manifest, bytes]:
    """The current manifest and its decompressed body, verified."""
    manifest = manifest_read(family)
    if manifest is None:
        raise PublishError(f"{family} has no current version")
    return manifest, chunks.decompress(chunks_fetch(manifest), manifest["codec"])
