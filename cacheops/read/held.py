"""One version in a process's memory: its manifest, its chunks, and what requests derive from them once."""

from __future__ import annotations

import threading
from datetime import datetime

import orjson

from cacheops import chunks
from cacheops.chunks import canonical
from cacheops.manifest import Manifest
from cms.domain import time_parse


class Held:
    """One version in memory: its manifest, its chunks, and what is derived from them once."""

    def __init__(self, manifest: Manifest, parts: list[bytes], revision: int = 0) -> None:
        self._manifest = manifest
        self.boundary = time_parse(manifest.get("next_boundary"))
        # The release state's revision this version was taken from: only a later one may go back in time.
        self.revision = revision
        self.parts = parts
        self.stream = b"".join(parts)
        self._lock = threading.Lock()
        self._identity: bytes | None = None
        self._programs: dict[str, bytes] | None = None
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

    def program(self, program_id: str) -> bytes | None:
        """One program's JSON cut from the catalog (the index is built once per version), or None."""
        body = self.identity()
        with self._lock:
            if self._programs is None:
                programs = orjson.loads(body)["programs"]
                self._programs = {p["id"]: canonical({"program": p}) for p in programs}
            return self._programs.get(program_id)

    def prepare(self) -> None:
        """Decode it and index its programs now (the poller, ahead of an airtime), so no request waits at T."""
        self.program("")
