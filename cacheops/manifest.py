"""Read-only access to published versions: the Manifest type, current and by-version lookups, chunks."""

from __future__ import annotations

from typing import TypedDict

import orjson

from . import chunks, keys
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
    previous_version: str | None
    staged: dict | None
    stale: bool


def manifest_read(family: str) -> Manifest | None:
    """The current manifest of `family`, or None."""
    raw = backend_get().get(keys.manifest_key(family))
    return orjson.loads(raw) if raw else None


def manifest_version_read(family: str, version: str) -> Manifest | None:
    """The manifest of one version of `family`, kept for rollback and for readers of older versions."""
    raw = backend_get().get(keys.manifest_version_key(family, version))
    return orjson.loads(raw) if raw else None


def families_read() -> list[str]:
    """Every family ever published, catalog first."""
    raw = backend_get().get(keys.families_key())
    names = orjson.loads(raw) if raw else []
    return sorted(set(names), key=lambda name: (name != "catalog", name))


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
