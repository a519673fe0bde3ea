"""Real cache servers (Redis at CACHEOPS_REDIS_URL, an in-process Momento-protocol server) and the engine on each."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import redis
import zstandard
from django.conf import settings
from django.contrib.auth.models import Group, User
from momento import Configurations, CredentialProvider
from momento.config import Configuration

from cacheops.backends import backend_reset
from cacheops.backends.momento import MomentoBackend
from cacheops.backends.redis import RedisBackend
from cacheops.build import operations
from cacheops.momento_local import MomentoLocalServer
from cms import services
from cms.store.local import free_port

MOMENTO_TEST_CACHE = "airtime-test"
# The cache backends the tests of each backend run on: both, unless TEST_CACHE_BACKENDS names some (comma-separated).
# The PostgreSQL pass runs production's alone: the SQL database and the backend meet only through the backends'
# common interface.
BACKENDS = [name.strip() for name in os.environ.get("TEST_CACHE_BACKENDS", "redis,momento").split(",") if name.strip()]
if not BACKENDS or set(BACKENDS) - {"redis", "momento"}:
    raise pytest.UsageError(
        f"TEST_CACHE_BACKENDS names redis and/or momento, not {os.environ['TEST_CACHE_BACKENDS']!r}"
    )


def momento_test_configuration() -> Configuration:
    """Return the laptop configuration with a timeout short enough to keep failing tests fast."""
    return Configurations.Laptop.latest().with_client_timeout(timedelta(seconds=2))


@pytest.fixture(scope="session")
def momento_local():
    """Serve the Momento protocol on a free loopback port for the whole session."""
    with MomentoLocalServer("127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def momento_connect():
    """Return a function connecting a Momento backend to a server over gRPC; all are closed afterwards."""
    opened = []

    def connect(server: MomentoLocalServer, **options) -> MomentoBackend:
        options.setdefault("cache_name", MOMENTO_TEST_CACHE)
        options.setdefault("configuration", momento_test_configuration())
        credentials = CredentialProvider.for_momento_local(server.host, server.port)
        opened.append(backend := MomentoBackend(credential_provider=credentials, **options))
        return backend

    yield connect
    for backend in opened:
        backend.close()


@pytest.fixture
def key():
    """Return a function naming keys no other test uses."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield lambda name: prefix + name
    # Redis is shared with Celery and the dev server: remove only this test's keys.
    client = redis.Redis.from_url(settings.CACHEOPS_REDIS_URL)
    stale = list(client.scan_iter(match=f"{prefix}*"))
    if stale:
        client.delete(*stale)
    client.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Yield each backend in turn, connected to its real server."""
    if request.param == "momento":
        yield request.getfixturevalue("momento_connect")(request.getfixturevalue("momento_local"))
        return
    instance = RedisBackend(settings.CACHEOPS_REDIS_URL)
    yield instance
    instance.close()


class RedisView:
    """Plain redis-py reads and writes of one test's keys, independent of the engine's backend code."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = redis.Redis.from_url(url)

    def get(self, name: str) -> bytes | None:
        return self.client.get(name)

    def set(self, name: str, value: bytes, ttl_s: int) -> None:
        self.client.set(name, value, ex=ttl_s)

    def delete(self, name: str) -> None:
        self.client.delete(name)

    def keys(self) -> set[str]:
        return {k.decode() for k in self.client.scan_iter(match=f"{self.prefix}:*", count=1000)}

    def ttl_left(self, name: str) -> float | None:
        left = self.client.pttl(name)
        return left / 1000 if left >= 0 else None

    def expire_in(self, name: str, seconds: float) -> None:
        """Move a key's expiry to `seconds` from now, as if its lifetime had mostly passed."""
        assert self.client.pexpire(name, max(1, int(seconds * 1000)))

    def close(self) -> None:
        stale = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if stale:
            self.client.delete(*stale)
        self.client.close()


class MomentoView:
    """Reads and writes through a separate SDK client; key listing and TTLs from the server's own store."""

    def __init__(self, client: MomentoBackend, server: MomentoLocalServer, prefix: str) -> None:
        self.prefix = prefix
        self.client = client
        self.server = server

    def get(self, name: str) -> bytes | None:
        return self.client.get(name)

    def set(self, name: str, value: bytes, ttl_s: int) -> None:
        self.client.set(name, value, ttl_s)

    def delete(self, name: str) -> None:
        self.client.delete(name)

    def _items(self) -> dict:
        now = time.monotonic()
        with self.server.store.lock:
            items = dict(self.server.store.caches[MOMENTO_TEST_CACHE].items)
        return {k.decode(): item for k, item in items.items() if item.expires_at > now}

    def keys(self) -> set[str]:
        return {name for name in self._items() if name.startswith(f"{self.prefix}:")}

    def ttl_left(self, name: str) -> float | None:
        item = self._items().get(name)
        return item.expires_at - time.monotonic() if item else None

    def expire_in(self, name: str, seconds: float) -> None:
        """Move a key's expiry to `seconds` from now, as if its lifetime had mostly passed."""
        with self.server.store.lock:
            self.server.store.caches[MOMENTO_TEST_CACHE].items[name.encode()].expires_at = time.monotonic() + seconds

    def close(self) -> None:
        with self.server.store.lock:
            cache = self.server.store.caches[MOMENTO_TEST_CACHE]
            for name in [k for k in cache.items if k.startswith(f"{self.prefix}:".encode())]:
                del cache.items[name]


def _engine_use(request, settings, name: str):
    """Point the whole cache engine at backend `name` under a key prefix of its own; yield a raw view."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    settings.CACHEOPS_BACKEND = name
    settings.CACHEOPS_KEY_PREFIX = prefix
    if name == "momento":
        server = request.getfixturevalue("momento_local")
        settings.MOMENTO_LOCAL = f"{server.host}:{server.port}"
        settings.MOMENTO_CACHE_NAME = MOMENTO_TEST_CACHE
        view = MomentoView(request.getfixturevalue("momento_connect")(server), server, prefix)
    else:
        view = RedisView(settings.CACHEOPS_REDIS_URL, prefix)
    backend_reset()
    yield view
    backend_reset()
    view.close()


@pytest.fixture(params=BACKENDS)
def engine(request, settings):
    """The engine on each backend in turn; yields plain access to this test's keys."""
    yield from _engine_use(request, settings, request.param)


@pytest.fixture
def redis_engine(request, settings):
    """The engine on Redis; yields plain redis-py access to this test's keys."""
    yield from _engine_use(request, settings, "redis")


def reassemble(view, family: str = "catalog") -> tuple[dict, bytes]:
    """Read a family's manifest and chunks straight from the cache and verify them with hashlib only."""
    manifest = json.loads(view.get(f"{view.prefix}:{family}:manifest"))
    parts = []
    for entry in manifest["chunks"]:
        data = view.get(entry["key"])
        assert data is not None, f"chunk {entry['index']} is gone"
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        parts.append(data)
    stream = b"".join(parts)
    assert hashlib.sha256(stream).hexdigest() == manifest["sha256"]
    assert len(stream) == manifest["compressed_bytes"]
    return manifest, stream


def body_of(manifest: dict, stream: bytes) -> bytes:
    """Decode a compressed stream with the standard libraries only."""
    body = gzip.decompress(stream) if manifest["codec"] == "gzip" else zstandard.ZstdDecompressor().decompress(stream)
    assert len(body) == manifest["raw_bytes"]
    return body


@dataclass
class Show:
    program: object
    season: object
    episodes: list


def show_create(title: str, slug: str, episodes=("第1話",), *, season_status="published", **program_fields) -> Show:
    """A program with one season and numbered episodes, saved through the services (all published by default)."""
    program_fields.setdefault("status", "published")
    program = services.program_create(user="test", title=title, slug=slug, genre="anime", **program_fields)
    season = services.season_create(user="test", program_id=program.id, title=f"{title} 第1期", status=season_status)
    made = [
        services.episode_create(
            user="test",
            program_id=program.id,
            season_id=season.id,
            number=number,
            title=episode_title,
            duration_s=1440,
            synopsis=f"{title}の{episode_title}。",
            status="published",
        )
        for number, episode_title in enumerate(episodes, 1)
    ]
    return Show(program, season, made)


def process_stop(proc: subprocess.Popen) -> None:
    """Stop a server process started by a test: politely first, then for good."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def staff_client(client, group: str = "Editors"):
    """Log `client` in as a staff member of `group`; return it."""
    user = User.objects.create_user("eri", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


def process_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Environment for a Django process sharing this test's servers and key prefix, with its own SQLite file."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "cms.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL,
        "DYNAMODB_TABLE_PREFIX": settings.DYNAMODB_TABLE_PREFIX,
        "CACHEOPS_BACKEND": "redis",
        "CACHEOPS_REDIS_URL": settings.CACHEOPS_REDIS_URL,
        "CACHEOPS_KEY_PREFIX": settings.CACHEOPS_KEY_PREFIX,
        "LOG_LEVEL": "WARNING",
    }
    return env | overrides


def wait_for(condition, timeout_s: float = 30) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes; return whether it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def worker_start(env: dict, log: Path) -> subprocess.Popen:
    """Start a Celery worker of this project logging to `log`, and wait until it consumes."""
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cms", "worker", "--pool=solo", "-l", "info"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    assert wait_for(lambda: "ready." in log.read_text() or worker.poll() is not None), log.read_text()
    assert worker.poll() is None, log.read_text()
    return worker


def kill_when(proc: subprocess.Popen, condition, what: str, timeout_s: float = 30) -> None:
    """SIGKILL `proc` (started with stderr=PIPE) the moment `condition` holds; fail if it exits or waits too long."""
    try:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, what
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


@pytest.fixture
def cloudfront(moto_url):
    """A boto3 CloudFront client on the moto server, to set up and inspect what the code under test sent."""
    return boto3.client("cloudfront", endpoint_url=moto_url, region_name="us-east-1")


@pytest.fixture
def distribution(settings, moto_url, cloudfront):
    """A distribution of this test's own in moto, configured as the CDN; yields its id."""
    origin = {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": uuid.uuid4().hex,
            "Comment": "airtime test",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [{"Id": "api", "DomainName": "api.example.com", "CustomOriginConfig": origin}],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "api",
                "ViewerProtocolPolicy": "https-only",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            },
        }
    )
    settings.CACHEOPS_CDN_DISTRIBUTION_ID = created["Distribution"]["Id"]
    settings.CACHEOPS_CDN_ENDPOINT_URL = moto_url
    return created["Distribution"]["Id"]


def catalog_published_twice() -> SimpleNamespace:
    """The catalog published twice: v1 with one episode, then v2 with a second one added (show, added, v1, v2)."""
    show = show_create("葬送のフリーレン", "frieren", ("旅立ち",))
    v1 = operations.catalog_rebuild(requested_by="test", full=True).version_after
    added = services.episode_create(
        user="test",
        program_id=show.program.id,
        season_id=show.season.id,
        number=2,
        title="魔法使いの隠し事",
        duration_s=1440,
        synopsis="第2話。",
        status="published",
    )
    v2 = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert v1 != v2
    return SimpleNamespace(show=show, added=added, v1=v1, v2=v2)


def get(port: int, path: str, timeout_s: float = 60) -> tuple[int, dict, bytes]:
    """One GET over a fresh connection: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def web_start(env: dict, log, workers: int = 3, *, open_files: int | None = None) -> tuple[subprocess.Popen, int]:
    """Start the production server configuration with several workers; wait until it answers. `open_files`: the
    soft limit on open files it starts with, as a system's default would give it."""
    port = free_port()
    proc = _serve(env, f"127.0.0.1:{port}", log, workers, open_files)

    def answers() -> bool:
        try:
            get(port, "/metrics", timeout_s=2)
        except OSError:
            return False
        return True

    assert wait_for(lambda: answers() or proc.poll() is not None, 30) and proc.poll() is None
    return proc, port


def listening(port: int) -> bool:
    """Whether a process accepts connections on `port` of this machine."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def stack_env(tmp_path: Path, broker: str) -> dict[str, str]:
    """Environment of a stack of processes over the private `broker`: quick readers, a metrics folder of its own
    (the web server's workers add up there) and a migrated SQLite file."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = process_env(
        tmp_path,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        CACHEOPS_READER_POLL_SECONDS="0.2",
        CACHEOPS_READER_MISS_WAIT_SECONDS="30",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=settings.BASE_DIR, env=env, check=True)
    return env


def session_script(username: str, group: str) -> str:
    """A script that makes staff user `username` of `group` in a process's own database and prints the key of a
    session logged in as them (to pass as the sessionid cookie to that process's web server)."""
    return f"""
import django

django.setup()
from django.contrib.auth.models import Group, User
from django.test import Client

user = User.objects.create_user({username!r}, is_staff=True)
user.groups.add(Group.objects.get(name={group!r}))
client = Client()
client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
print(client.cookies["sessionid"].value)
"""


def server_start(env: dict, url: str, log: Path, workers: int = 1) -> subprocess.Popen:
    """Start the production server on `url` (http://127.0.0.1:port), logging to `log`."""
    with log.open("w") as out:
        return _serve(env, url.removeprefix("http://"), out, workers)


def _serve(env: dict, address: str, out, workers: int, open_files: int | None = None) -> subprocess.Popen:
    """`python -m cms.serve` on `address` (host:port) with `workers` workers, its output to the file `out`."""

    def limits() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    return subprocess.Popen(
        [sys.executable, "-m", "cms.serve"],
        cwd=settings.BASE_DIR,
        env=env | {"WEB_BIND": address, "WEB_CONCURRENCY": str(workers)},
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=limits,
    )
