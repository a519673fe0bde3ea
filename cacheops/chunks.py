"""Compress a snapshot deterministically, split it into chunks, and put it back together."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

import orjson
import zstandard

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
CODECS = ("gzip", "zstd")


class ChunkError(Exception):
    """A chunk is missing or does not match its checksum."""


@dataclass(frozen=True)
class Chunk:
    index: int
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def canonical(value) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, no whitespace (the bytes every version and program answer is made of)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha16(data: bytes) -> str:
    """First 16 hex characters of sha256: short enough for keys, long enough never to collide here."""
    return hashlib.sha256(data).hexdigest()[:16]


def compress(raw: bytes, codec: str = "gzip") -> bytes:
    """Compress `raw` so that the same input always gives the same bytes."""
    if codec == "gzip":
        # mtime=0 keeps the header free of the build time.
        return gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(raw)
    raise ValueError(f"unknown codec {codec!r}; use one of {', '.join(CODECS)}")


def decompress(data: bytes, codec: str) -> bytes:
    """Undo `compress`."""
    if codec == "gzip":
        return gzip.decompress(data)
    if codec == "zstd":
        return zstandard.ZstdDecompressor().decompress(data)
    raise ValueError(f"unknown codec {codec!r}")


def split(data: bytes, size: int) -> list[Chunk]:
    """Cut `data` into chunks of at most `size` bytes (one empty chunk for empty data)."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [Chunk(index, piece) for index, piece in enumerate(pieces)]


def join(chunks: list[bytes | None], entries: list[dict], whole_sha256: str) -> bytes:
    """Reassemble chunks in manifest order, verifying each and the whole stream."""
    parts = []
    for entry, data in zip(entries, chunks, strict=True):
        if data is None:
            raise ChunkError(f"chunk {entry['index']} ({entry['key']}) is missing")
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ChunkError(f"chunk {entry['index']} ({entry['key']}) is corrupt")
        parts.append(data)
    whole = b"".join(parts)
    if hashlib.sha256(whole).hexdigest() != whole_sha256:
        raise ChunkError("the reassembled snapshot does not match its checksum")
    return whole
