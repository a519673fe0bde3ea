"""The rehearsal's readers: threads reading the catalog and programs as apps do, each response kept for the checks.

A client is one keep-alive connection, as an app holds one: the server keeps a connection on the web process that
accepted it, so a client sees one process's versions in order. A client whose connection breaks opens another
(a new client id), which may land on the other process.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

# What a reader asks for, by share of its requests: the whole catalog, a revalidation of the copy it holds, one
# program page (the rest of the locust mix, manifest and chunks, is not what this drill checks).
MIX = (("catalog", 0.6), ("revalidate", 0.2), ("program", 0.2))
# How often (seconds) a reader asks /healthz what its web process serves, between two reads of the catalog.
HEALTH_EVERY_S = 5.0
TIMEOUT_S = 30.0
GZIP = {"Accept-Encoding": "gzip"}


class Response(NamedTuple):
    """One answer (or failure) as a reader saw it; times are wall-clock seconds (time.time())."""

    reader: int
    client: int
    endpoint: str
    sent: float
    received: float
    status: int
    version: str  # the catalog version named by the ETag ("" when none)
    program: str  # the program id asked for ("" for other endpoints)
    digest: str  # sha256 of the body (catalog and program answers with a body)
    error: str  # what went wrong, or ""


@dataclass
class HealthCheck:
    """/healthz before and after a catalog read on one connection: it must name the version that process serves."""

    reader: int
    client: int
    at: float
    before: dict
    served: str
    after: dict

    @property
    def settled(self) -> bool:
        """Whether no switch happened between the two /healthz answers (else the check says nothing)."""
        return self.before.get("version") == self.after.get("version")

    @property
    def true(self) -> bool:
        return not self.settled or self.before.get("version") == self.served


@dataclass
class Sightings:
    """When each catalog version and each program body was first received by any reader, and one body of each
    version for the checks to decode (once per version)."""

    on_new_version: Callable[[str, bytes, float], None]
    first: dict[str, float] = field(default_factory=dict)
    programs: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def version(self, version: str, body: bytes, at: float) -> None:
        if version in self.first:
            return
        with self.lock:
            if version in self.first:
                return
            self.first[version] = at
        self.on_new_version(version, body, at)

    def program(self, program_id: str, digest: str, at: float) -> None:
        key = (program_id, digest)
        if key not in self.programs:
            with self.lock:
                self.programs.setdefault(key, at)


class Connection:
    """One keep-alive connection to the web server, opened again (as a new client) after it breaks."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.client = 0
        self.clients = 0

    def open(self) -> http.client.HTTPConnection:
        """The connection, opened now if there is none (a new client)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
            self.clients += 1
        return self.conn

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.open()
        try:
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def etag_version(etag: str | None) -> str:
    """The version an ETag of /api/catalog names ("" for none)."""
    return (etag or "").strip('"').removesuffix("-id")


class Reader(threading.Thread):
    """Reads until stopped; keeps every response, and the /healthz checks it made."""

    def __init__(self, index: int, port: int, sightings: Sightings, program_ids: list[str], stop: threading.Event):
        super().__init__(name=f"reader-{index}", daemon=True)
        self.index, self.sightings, self.program_ids, self.stop = index, sightings, program_ids, stop
        self.connection = Connection(port)
        self.responses: list[Response] = []
        self.health: list[HealthCheck] = []
        self.etag = ""  # what this client holds
        self.rng = random.Random(index)
        self.health_due = time.monotonic() + self.rng.uniform(0, HEALTH_EVERY_S)

    @property
    def client(self) -> int:
        """This reader's current client id: reader index and connection count."""
        return self.index * 1000 + self.connection.clients

    def run(self) -> None:
        kinds, weights = zip(*MIX, strict=True)
        while not self.stop.is_set():
            if time.monotonic() >= self.health_due:
                self.health_due = time.monotonic() + HEALTH_EVERY_S
                self.health_check()
                continue
            kind = self.rng.choices(kinds, weights)[0]
            if kind == "program":
                self.program(self.rng.choice(self.program_ids))
            else:
                self.catalog(revalidate=kind == "revalidate" and bool(self.etag))
        self.connection.close()

    def _ask(self, endpoint: str, path: str, headers: dict[str, str], program: str = "") -> tuple[Response, bytes]:
        self.connection.open()
        client, sent, started = self.client, time.time(), time.perf_counter()
        try:
            status, headers_in, body = self.connection.get(path, headers)
        except Exception as exc:
            response = Response(self.index, client, endpoint, sent, time.time(), 0, "", program, "", type(exc).__name__)
            self.responses.append(response)
            return response, b""
        received = sent + (time.perf_counter() - started)
        if endpoint == "program" and headers_in.get("content-encoding") == "gzip":
            body = gzip.decompress(body)  # as an app reads a program page: its JSON, whatever the coding
        version = etag_version(headers_in.get("etag")) if endpoint in ("catalog", "revalidate") else ""
        digest = hashlib.sha256(body).hexdigest() if body and status == 200 and endpoint != "healthz" else ""
        expected = (200, 304) if endpoint == "revalidate" else (200,)
        error = "" if status in expected else f"HTTP {status}"
        if not error and endpoint in ("catalog", "revalidate") and not version:
            error = "no ETag"
        response = Response(self.index, client, endpoint, sent, received, status, version, program, digest, error)
        self.responses.append(response)
        return response, body

    def catalog(self, *, revalidate: bool = False) -> str:
        """Read the whole catalog (revalidating the copy held, if asked); return the version received."""
        headers = {**GZIP, "If-None-Match": f'"{self.etag}"'} if revalidate else GZIP
        response, body = self._ask("revalidate" if revalidate else "catalog", "/api/catalog", headers)
        if response.status == 200 and response.version:
            self.sightings.version(response.version, body, response.received)
        if not response.error:
            self.etag = response.version
        return response.version if not response.error else ""

    def program(self, program_id: str) -> None:
        response, _body = self._ask("program", f"/api/programs/{program_id}", GZIP, program_id)
        if response.status == 200:
            self.sightings.program(program_id, response.digest, response.received)

    def healthz(self) -> dict:
        response, body = self._ask("healthz", "/healthz", {})
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(body) if response.status in (200, 503) else {}
        return {}

    def health_check(self) -> HealthCheck | None:
        """/healthz, the catalog, /healthz again, on this client's connection: one process answers all three."""
        client = self.client
        before = self.healthz()
        served = self.catalog()
        after = self.healthz()
        if self.client != client or not served:
            return None  # the connection broke in between: another process may have answered
        check = HealthCheck(self.index, client, time.time(), before, served, after)
        self.health.append(check)
        return check


class Readers:
    """`count` readers on the web server at `port`, started together and stopped together."""

    def __init__(self, count: int, port: int, sightings: Sightings, program_ids: list[str]) -> None:
        self.stop_event = threading.Event()
        self.readers = [Reader(i, port, sightings, program_ids, self.stop_event) for i in range(count)]

    def start(self) -> None:
        for reader in self.readers:
            reader.start()

    def stop(self, timeout_s: float = TIMEOUT_S + 5) -> None:
        self.stop_event.set()
        for reader in self.readers:
            reader.join(timeout=timeout_s)

    def responses(self) -> list[Response]:
        """Every response of every reader, in the order received."""
        return sorted((r for reader in self.readers for r in reader.responses), key=lambda r: r.received)

    def health(self) -> list[HealthCheck]:
        return [check for reader in self.readers for check in reader.health]

    def latest(self) -> dict[int, str]:
        """The version each client last received (200 or 304), by client."""
        held: dict[int, str] = {}
        for reader in self.readers:
            for response in reversed(reader.responses):
                if response.version and not response.error:
                    held[response.client] = response.version
                    break
        return held
