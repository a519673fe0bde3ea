"""Real servers for the suite: AWS's DynamoDB Local, a moto server for S3, Redis, SQL."""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import boto3
import pytest
import redis
from django.conf import settings

from cms.store.local import dynamodb_local_start, free_port, moto_server_start
from cms.store.local import paused as paused  # tests import it from here

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@contextlib.contextmanager
def server(started: tuple[subprocess.Popen, str]):
    """Yield a started server's URL; stop it afterwards, even if it was left paused."""
    proc, url = started
    try:
        yield url
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_url():
    """A moto server for the S3 API (uploads)."""
    with server(moto_server_start()) as url:
        yield url


@pytest.fixture(scope="session")
def dynamodb_url():
    """AWS's DynamoDB Local, in memory."""
    with server(dynamodb_local_start()) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def dynamodb_tables(dynamodb_url, django_db_blocker):
    """Point the content store at DynamoDB Local and create the tables once."""
    from cms.store.models import models_configure
    from cms.store.tables import tables_create

    settings.DYNAMODB_ENDPOINT_URL = dynamodb_url
    models_configure()
    tables_create()
    yield dynamodb_url


@pytest.fixture
def dynamodb(dynamodb_tables):
    """An empty content store for this test."""
    from cms.store.tables import tables_truncate

    tables_truncate()
    return dynamodb_tables


@pytest.fixture
def raw_number(dynamodb):
    """Return a function writing a number straight into a content item with boto3, as stored before the rules."""
    client = boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )

    def write(table: str, item_id: str, field: str, value: int) -> None:
        client.update_item(
            TableName=settings.DYNAMODB_TABLE_PREFIX + table,
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": {"N": str(value)}},
        )

    return write


@pytest.fixture(scope="session", autouse=True)
def media_root_cleanup():
    """Remove the suite's temporary media folder when the session ends."""
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@contextlib.contextmanager
def store_at(url: str):
    """Point the content store at `url` for a while, then back at the session's server."""
    from cms.store.models import models_configure

    session_url = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = url
    models_configure()
    try:
        yield
    finally:
        settings.DYNAMODB_ENDPOINT_URL = session_url
        models_configure()


@pytest.fixture(scope="session")
def _spare_dynamodb(dynamodb_tables):
    """A second DynamoDB Local with the content tables, for tests that pause their store."""
    from cms.store.tables import tables_create

    started = dynamodb_local_start()
    with server(started) as url:
        with store_at(url):
            tables_create()
        yield started


@pytest.fixture
def private_dynamodb(_spare_dynamodb):
    """An empty content store of this test's own, whose server process it may pause; yields the process."""
    from cms.store.tables import tables_truncate

    proc, url = _spare_dynamodb
    with store_at(url):
        tables_truncate()
        try:
            yield proc
        finally:
            os.kill(proc.pid, signal.SIGCONT)


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server process of this test's own (which it may pause); yields (process, url)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        yield proc, url
    finally:
        client.close()
        if proc.poll() is None:  # a test may have stopped it already
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=10)


@contextlib.contextmanager
def transaction_kept():
    """As Django's test client does around a request: the test's own transaction must outlive it, so no connection
    is closed when the request starts or finishes."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class ApiResponse:
    """An answer of the read side: status, headers (any case) and body, read the way Django's test responses are."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes) -> None:
        from django.utils.datastructures import CaseInsensitiveMapping

        self.status_code = int(status.split()[0])
        self.headers = CaseInsensitiveMapping(dict(headers))
        self.header_list = headers
        self.content = content

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self):
        return json.loads(self.content)


class ApiClient:
    """Requests sent through the WSGI application the servers run (the read side in front of Django), in this
    process, with headers named as Django's test client names them (HTTP_ACCEPT_ENCODING=...)."""

    def __init__(self, app) -> None:
        self.app = app

    def generic(self, method: str, path: str, **extra: str) -> ApiResponse:
        from urllib.parse import unquote_to_bytes

        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method.upper(),
            # As a server hands it over: percent-decoded, its bytes as latin-1.
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            **{name: value.encode().decode("latin-1") for name, value in extra.items()},
        }
        started = {}

        def start_response(status, headers, exc_info=None):
            started.update(status=status, headers=headers)

        with transaction_kept():
            chunks = self.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        return ApiResponse(started["status"], started["headers"], body)

    def get(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("GET", path, **extra)

    def head(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("HEAD", path, **extra)

    def options(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("OPTIONS", path, **extra)

    def post(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("POST", path, **extra)

    def put(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("PUT", path, **extra)

    def delete(self, path: str, **extra: str) -> ApiResponse:
        return self.generic("DELETE", path, **extra)


class AsgiClient(ApiClient):
    """The same requests sent through the ASGI application (the read side in front of Django's ASGI handler), each
    on an event loop of its own, as an ASGI server would."""

    def generic(self, method: str, path: str, raw: list[tuple[bytes, bytes]] = (), **extra: str) -> ApiResponse:
        """`raw`: headers sent as they are, after those named in `extra`."""
        import asyncio

        path, _, query = path.partition("?")
        headers = [
            (name.removeprefix("HTTP_").lower().replace("_", "-").encode(), value.encode())
            for name, value in extra.items()
        ] + list(raw)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        }  # fmt: skip
        sent: list[dict] = []
        asked: list[bool] = []

        async def receive() -> dict:
            if not asked:
                asked.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            while not any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent):
                await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}  # the client goes once it has the whole answer

        async def send(message: dict) -> None:
            sent.append(message)

        failed: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(self.app(scope, receive, send))
            except BaseException as exc:
                failed.append(exc)

        with transaction_kept():
            # On a thread of its own, as a server's loop is: the test's thread may run an event loop already
            # (Playwright's sync API keeps one there).
            thread = threading.Thread(target=serve)
            thread.start()
            thread.join(60)
        if failed:
            raise failed[0]
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        status = str(start["status"])
        return ApiResponse(status, [(k.decode(), v.decode("latin-1")) for k, v in start["headers"]], body)


def servers_application(django_app):
    """What the servers run (cms.wsgi): the read side in front of `django_app`."""
    from cacheops.read.app import ReadSide

    return ReadSide(django_app)


@pytest.fixture
def api_client(db):
    """A client of the read API through the application the servers run."""
    from django.core.handlers.wsgi import WSGIHandler

    return ApiClient(servers_application(WSGIHandler()))


@pytest.fixture
def asgi_client(db):
    """A client of the read API through the ASGI application (cms.asgi)."""
    from django.core.asgi import get_asgi_application

    from cacheops.read.asgi import ReadSideAsgi

    return AsgiClient(ReadSideAsgi(get_asgi_application()))


@pytest.fixture(scope="session")
def live_server(request):
    """Django's live server running what the servers run: the read side in front of Django (and its static files)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    live = LiveServer(addr, start=False)
    live.thread.static_handler = lambda app: servers_application(StaticFilesHandler(app))
    live.start()
    yield live
    live.stop()
