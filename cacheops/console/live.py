"""The console's only shared-cache reads: the TTL each chunk has left, as the cache itself counts it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured

from cms.domain import time_parse

from ..backends import CacheError, backend_get
from ..manifest import Manifest
from .summaries import ttl_text

CACHE, RECORDED, GONE = "cache", "recorded", "gone"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkTtl:
    index: int
    key: str
    bytes: int
    sha256: str
    ttl_left_s: int
    source: str  # CACHE, RECORDED (the manifest's expires_at) or GONE (the cache no longer has it)

    @property
    def ttl_left_text(self) -> str:
        return ttl_text(self.ttl_left_s)


@dataclass(frozen=True)
class ChunkTtls:
    chunks: list[ChunkTtl]
    # Why the cache could not be asked (empty when it answered); the recorded figures stand in.
    cache_error: str = ""


def _recorded_left(manifest: Manifest, now: datetime) -> int:
    expires_at = time_parse(manifest.get("expires_at"))
    return max(0, int((expires_at - now).total_seconds())) if expires_at else 0


def _chunk(entry: dict, left: float | None, recorded: int) -> ChunkTtl:
    if left is None:
        # The cache cannot tell (Momento's SDK reads no TTL): expires_at is never later than any chunk's expiry.
        ttl, source = recorded, RECORDED
    else:
        ttl, source = int(left), CACHE if left > 0 else GONE
    return ChunkTtl(entry["index"], entry["key"], entry["bytes"], entry["sha256"], ttl, source)


def chunk_ttls(manifest: Manifest | None, now: datetime) -> ChunkTtls:
    """Every chunk of `manifest` with its TTL left: the cache's count, or the recorded one where it has none."""
    if not manifest:
        return ChunkTtls([])
    recorded, entries = _recorded_left(manifest, now), manifest.get("chunks") or []
    try:
        backend = backend_get()
        lefts = [backend.ttl(entry["key"]) for entry in entries]
    except (CacheError, ImproperlyConfigured) as exc:
        # One failed read says enough: asking for the other chunks would only make staff wait for more timeouts.
        logger.warning("The console could not read chunk TTLs from the shared cache: %s", exc)
        reason = exc.reason if isinstance(exc, CacheError) else str(exc)
        return ChunkTtls([_chunk(entry, None, recorded) for entry in entries], reason)
    return ChunkTtls([_chunk(e, left, recorded) for e, left in zip(entries, lefts, strict=True)])
