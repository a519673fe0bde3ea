"""Every catalog version the rehearsal's readers received, decoded once: its recorded facts, its episodes' titles
and its programs' bodies, for the checks."""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson

# The release state records a version in the transaction that projects it into the cache: a reader may receive it
# a moment before the row is committed.
FACTS_WAIT_S = 10.0


@dataclass
class Version:
    """One version as received, checked against the release state's record of it."""

    version: str
    first_seen: float
    as_of: datetime | None = None  # as the release state recorded it when the version was first received
    recorded: bool = False  # a Release row of the catalog names it
    sha256: str = ""  # of the compressed stream, as its facts record it
    body_matches: bool = False  # the body's sha256 is the one its facts record
    titles: dict[str, str] = field(default_factory=dict)  # episode id -> title
    programs: dict[str, str] = field(default_factory=dict)  # program id -> sha256 of its /api/programs body
    problem: str = ""


class Versions:
    """Decodes each new version in a thread of its own, off the readers' path."""

    def __init__(self) -> None:
        self.known: dict[str, Version] = {}
        self.queue: queue.Queue[tuple[str, bytes, float] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="versions", daemon=True)
        self.lock = threading.Lock()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)

    def new(self, version: str, body: bytes, at: float) -> None:
        """A version received for the first time (called from a reader)."""
        self.queue.put((version, body, at))

    def drained(self) -> bool:
        """Whether every version received so far is decoded."""
        return self.queue.unfinished_tasks == 0

    def get(self, version: str) -> Version | None:
        with self.lock:
            return self.known.get(version)

    def all(self) -> list[Version]:
        with self.lock:
            return list(self.known.values())

    def _run(self) -> None:
        from django.db import connections

        try:
            while (item := self.queue.get()) is not None:
                try:
                    decoded = decode(*item)
                    with self.lock:
                        self.known[decoded.version] = decoded
                finally:
                    self.queue.task_done()
        finally:
            connections.close_all()


def decode(version: str, body: bytes, first_seen: float) -> Version:
    """Check a catalog body against its Release row, then read its episodes and programs."""
    from cacheops.chunks import canonical, decompress
    from cacheops.models import Release
    from cms.domain import time_parse

    found = Version(version, first_seen)
    deadline = time.monotonic() + FACTS_WAIT_S
    while (release := Release.objects.filter(family="catalog", version=version).first()) is None:
        if time.monotonic() > deadline:
            found.problem = "no Release row of the catalog names this version"
            return found
        time.sleep(0.2)
    facts = release.facts
    found.recorded, found.as_of = True, time_parse(facts.get("as_of"))
    found.sha256 = facts.get("sha256", "")
    found.body_matches = hashlib.sha256(body).hexdigest() == found.sha256
    if not found.body_matches:
        found.problem = "the body's sha256 is not the one its version's facts record"
        return found
    programs = orjson.loads(decompress(body, facts["codec"]))["programs"]
    for program in programs:
        body_of = canonical({"program": program})
        found.programs[program["id"]] = hashlib.sha256(body_of).hexdigest()
        for season in program["seasons"]:
            for episode in season["episodes"]:
                found.titles[episode["id"]] = episode["title"]
    return found
