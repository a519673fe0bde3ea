"""Load test of the public read API: the spike when a hit show goes live.

    locust -f locustfile.py --headless -u 200 -r 50 -t 2m --host http://127.0.0.1:8000

Most users load the whole catalog; some revalidate the copy they hold (If-None-Match with the ETag they got);
some fetch the manifest, then its chunks in parallel; some open program pages, with ids from the catalog they
loaded. AIRTIME_SPIKE_USERS=N replaces -u/-r/-t with the spike's shape: a quiet start, a surge to N users within
seconds of the start of the show, a plateau, then the decline.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import threading
import time

from gevent.pool import Group
from locust import FastHttpUser, LoadTestShape, between, task

CATALOG = "/api/catalog"
MANIFEST = "/api/catalog/manifest"
GZIP = {"Accept-Encoding": "gzip"}

# Program ids by catalog ETag: every user who fetched one version shares one parse of its 10 MB of JSON, so the
# load generators spend their CPU on requests, not on decoding the same body again.
_program_ids: dict[str, list[str]] = {}
_ids_lock = threading.Lock()


def program_ids(etag: str, body: bytes, encoding: str) -> list[str]:
    """The program ids of the catalog `body` (as sent), parsed once per version."""
    with _ids_lock:
        if etag in _program_ids:
            return _program_ids[etag]
    raw = gzip.decompress(body) if encoding == "gzip" else body
    ids = [program["id"] for program in json.loads(raw)["programs"]]
    with _ids_lock:
        _program_ids[etag] = ids
    return ids


class ReadApiUser(FastHttpUser):
    """A viewer's app talking to the read API."""

    abstract = True
    wait_time = between(1, 5)
    etag: str | None = None
    ids: list[str] = []

    def catalog_load(self, *, revalidate: bool = False, name: str = CATALOG) -> None:
        """GET the catalog as sent (gzip): its download is timed, its decoding is left to the app."""
        headers = dict(GZIP)
        if revalidate and self.etag:
            headers["If-None-Match"] = self.etag
        started = time.perf_counter()
        with self.client.get(CATALOG, headers=headers, name=name, stream=True, catch_response=True) as response:
            body = response.read() if response.status_code == 200 else b""
            response.release()
            # With stream=True locust stops the clock at the headers: time the whole 2-3 MB instead.
            response.request_meta["response_time"] = (time.perf_counter() - started) * 1000
            response.request_meta["response_length"] = len(body)
            if response.status_code == 304:
                response.success()
            elif response.status_code == 200:
                self.etag = response.headers.get("ETag")
                encoding = response.headers.get("Content-Encoding", "identity")
                self.ids = program_ids(self.etag or "", body, encoding) if body else []


class CatalogViewer(ReadApiUser):
    """Opens the app: downloads the whole catalog each time (most of the spike)."""

    weight = 70

    @task
    def catalog(self) -> None:
        self.catalog_load()


class Revalidator(ReadApiUser):
    """Holds a catalog and asks whether it changed: 304 while it has not."""

    weight = 15

    def on_start(self) -> None:
        self.catalog_load()

    @task
    def revalidate(self) -> None:
        self.catalog_load(revalidate=True, name=f"{CATALOG} (If-None-Match)")


class ChunkFetcher(ReadApiUser):
    """Reads the manifest, then fetches its chunks in parallel and checks each against the manifest."""

    weight = 10

    @task
    def chunks(self) -> None:
        with self.client.get(MANIFEST, catch_response=True) as response:
            if response.status_code != 200:
                return
            manifest = response.json()
        group = Group()
        for entry in manifest["chunks"]:
            group.spawn(self.chunk_fetch, manifest["version"], entry)
        group.join()

    def chunk_fetch(self, version: str, entry: dict) -> None:
        """One chunk, verified against its sha256 in the manifest."""
        name = "/api/catalog/chunks/[version]/[index]/[digest]"
        with self.client.get(entry["url"], name=name, catch_response=True) as response:
            if response.status_code == 200 and hashlib.sha256(response.content).hexdigest() != entry["sha256"]:
                response.failure(f"chunk {entry['index']} of {version} does not match its manifest entry")


class ProgramBrowser(ReadApiUser):
    """Loads the catalog once, then opens program pages picked from it."""

    weight = 5

    def on_start(self) -> None:
        self.catalog_load()

    @task
    def program(self) -> None:
        if not self.ids:
            self.catalog_load()
            return
        program_id = random.choice(self.ids)
        self.client.get(f"/api/programs/{program_id}", name="/api/programs/[id]")


if os.environ.get("AIRTIME_SPIKE_USERS"):

    class AirtimeSpike(LoadTestShape):
        """Quiet, then the show starts: the audience arrives within seconds, stays, then drifts away."""

        peak = int(os.environ["AIRTIME_SPIKE_USERS"])
        # (until second, users, spawn rate per second)
        stages = [
            (30, max(1, peak // 20), max(1, peak // 20)),
            (45, peak, max(1, peak // 10)),
            (165, peak, peak),
            (225, max(1, peak // 4), peak),
        ]

        def tick(self):
            run_time = self.get_run_time()
            for until, users, rate in self.stages:
                if run_time < until:
                    return users, rate
            return None
