"""One version in a process's memory: its manifest, its chunks, and what requests derive from them once."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson

from cacheops import chunks
from cacheops.chunks import canonical
from cacheops.manifest import Manifest
from cms.domain import time_parse


@dataclass(frozen=True, slots=True)
class Page:
    """One program's answer, in both representations, with the ETag naming each one's bytes."""

    body: bytes
    etag: str
    gzip: bytes
    gzip_etag: str

    @classmethod
    def of(cls, body: bytes) -> Page:
        # No name or time in the gzip header: every process compresses a page to the same bytes, under one ETag.
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        return cls(body, f'"p-{chunks.sha16(body)}"', packed, f'"p-{chunks.sha16(packed)}"')


class Held:
    """One version in memory: its manifest, its chunks, and what is derived from them once."""

    def __init__(self, manifest: Manifest, parts: list[bytes], revision: int = 0) -> None:
        self._manifest = manifest
        self.boundary = time_parse(manifest.get("next_boundary"))
        # The release state's revision this version was taken from: only a later one may go back in time.
        self.revision = revision
        self.parts = parts
        self.stream = b"".join(parts)
        # The catalog's ETags, per representation: the version names the compressed bytes.
        self.etag = f'"{manifest["version"]}"'
        self.identity_etag = f'"{manifest["version"]}-id"'
        self._lock = threading.Lock()
        self._identity: bytes | None = None
        self._programs: dict[str, bytes] | None = None
        self._pages: dict[str, Page] = {}
        self._public: tuple[Manifest, bytes, str] | None = None
        # For a staged version: the instant it becomes current (on this process's own clock).
        self.activate_at: datetime | None = None

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def as_of(self) -> datetime:
        return time_parse(self._manifest["as_of"])

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @manifest.setter
    def manifest(self, manifest: Manifest) -> None:
        # Parsed once per manifest, not per request: `boundary` is when the content changes by itself, and no
        # cache may keep a response past it.
        self._manifest, self.boundary = manifest, time_parse(manifest.get("next_boundary"))

    def identity(self) -> bytes:
        """The decoded JSON, decoded once per version."""
        with self._lock:
            if self._identity is None:
                self._identity = chunks.decompress(self.stream, self.manifest["codec"])
            return self._identity

    def program(self, program_id: str) -> Page | None:
        """One program's answer cut from the catalog, or None; each is prepared once per version (its JSON, gzip and
        ETags), on the first request for it."""
        if (page := self._pages.get(program_id)) is not None:
            return page
        body = self.identity()
        with self._lock:
            if self._programs is None:
                programs = orjson.loads(body)["programs"]
                self._programs = {p["id"]: canonical({"program": p}) for p in programs}
            found = self._programs.get(program_id)
            if found is None:
                return None
            page = self._pages[program_id] = Page.of(found)
            return page

    def public_manifest(self, render: Callable[[Manifest], bytes]) -> tuple[bytes, str]:
        """The manifest as clients see it (`render` makes it), and its ETag, once per manifest."""
        manifest, public = self._manifest, self._public
        if public is None or public[0] is not manifest:
            body = render(manifest)
            # Named by its bytes: the same version's manifest changes (stale, expires_at, next_boundary...).
            public = self._public = (manifest, body, f'"m-{chunks.sha16(body)}"')
        return public[1], public[2]

    def prepare(self) -> None:
        """Decode it and index its programs now (the poller, ahead of an airtime), so no request waits at T."""
        self.program("")
