"""The read API against its OpenAPI document: real answers from a live server over HTTP, and schemathesis."""

import copy
import gzip
import hashlib
import http.client
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.conf import settings as django_settings
from openapi_spec_validator import validate as openapi_validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from cacheops.backends import backend_reset
from cacheops.build import operations
from cacheops.keys import chunk_path
from cacheops.read.reader import reader_get, readers_stop
from cacheops.release import release_actions
from cms import services
from tests.cacheops.conftest import reassemble, show_create, wait_for

DOCUMENT_PATH = Path(django_settings.BASE_DIR) / "cacheops" / "read" / "openapi.json"
DOCUMENT = json.loads(DOCUMENT_PATH.read_bytes())
BASE = "urn:airtime:openapi"
APP_ORIGIN = "https://app.example.jp"


def _absolute(node):
    """The document with every local reference made absolute, so any part of it validates on its own."""
    if isinstance(node, dict):
        return {k: BASE + v if k == "$ref" and v.startswith("#") else _absolute(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node


ABSOLUTE = _absolute(DOCUMENT)
REGISTRY = Registry().with_resource(BASE, DRAFT202012.create_resource(ABSOLUTE))


def schema_check(instance, schema: dict) -> None:
    """Raise jsonschema.ValidationError unless `instance` matches `schema` (a part of the document)."""
    jsonschema.Draft202012Validator(schema, registry=REGISTRY).validate(instance)


def _resolved(node: dict) -> dict:
    while "$ref" in node:
        node = REGISTRY.resolver().lookup(node["$ref"]).contents
    return node


def _template(path: str) -> str:
    for template in ABSOLUTE["paths"]:
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
            return template
    raise AssertionError(f"the document has no path for {path}")


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes


def get(base_url: str, path: str, method: str = "GET", **headers: str) -> Answer:
    """One request over a fresh connection, the body as sent (never decoded)."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = connection.getresponse()
        return Answer(response.status, response.msg, response.read())
    finally:
        connection.close()


def documented(answer: Answer, path: str):
    """Check an answer to GET `path` against the document (status, headers, content type, body); return its body,
    parsed when it is JSON."""
    responses = ABSOLUTE["paths"][_template(path)]["get"]["responses"]
    assert str(answer.status) in responses, f"GET {path} answered {answer.status}, which the document does not list"
    spec = _resolved(responses[str(answer.status)])
    for name, header in spec.get("headers", {}).items():
        header = _resolved(header)
        value = answer.headers.get(name)
        assert value is not None or not header.get("required"), f"GET {path} ({answer.status}) lacks {name}"
        if value is not None:
            schema_check(value, header["schema"])
    if "content" not in spec:
        assert answer.body == b"", f"GET {path} ({answer.status}) has a body the document does not describe"
        return None
    media = answer.headers.get_content_type()
    assert media in spec["content"], f"GET {path} ({answer.status}) answered {media}"
    if media != "application/json":
        return answer.body
    body = gzip.decompress(answer.body) if answer.headers.get("Content-Encoding") == "gzip" else answer.body
    parsed = json.loads(body)
    schema_check(parsed, spec["content"][media]["schema"])
    return parsed


def sorted_as_documented(items: list[dict], schema: str, field: str) -> bool:
    """Whether `items` are in the order the document's x-sorted-by names for `schema`.`field`."""
    keys = DOCUMENT["components"]["schemas"][schema]["properties"][field]["x-sorted-by"]
    order = [tuple(item[key] for key in keys) for item in items]
    return order == sorted(order)


@pytest.fixture
def served(live_server, redis_engine, dynamodb, settings):
    """The live server's read API on Redis, polling every 50 ms; yields (base URL, the cache's raw view)."""
    settings.CACHEOPS_READER_POLL_SECONDS = 0.05
    settings.CACHEOPS_READER_MISS_WAIT_SECONDS = 2
    settings.CACHEOPS_CORS_ORIGINS = [APP_ORIGIN]
    readers_stop()
    yield SimpleNamespace(url=live_server.url, view=redis_engine)
    readers_stop()


def catalog_publish() -> SimpleNamespace:
    """Publish a catalog using every field: items created out of order, bounds set and open, lists full and empty."""
    now = datetime.now(UTC).replace(microsecond=0)
    frieren = services.program_create(
        user="test", title="葬送のフリーレン", slug="frieren", status="published", genre="anime",
        title_kana="そうそうのフリーレン", description="勇者一行の、その後。\n千年を生きる魔法使いの旅。",
        key_art="https://img.example.jp/key-art/frieren.webp", sort_order=20,
        publish_at=now - timedelta(days=1), expire_at=now + timedelta(days=30),
    )  # fmt: skip
    later = services.season_create(user="test", program_id=frieren.id, title="第2期", status="published", sort_order=2)
    first = services.season_create(
        user="test", program_id=frieren.id, title="第1期", status="published", sort_order=1,
        publish_at=now - timedelta(days=1), expire_at=now + timedelta(days=60),
    )  # fmt: skip
    for number in (2, 1):
        services.episode_create(
            user="test", program_id=frieren.id, season_id=first.id, number=number, title=f"第{number}話",
            synopsis=f"第{number}話のあらすじ。\n続き。", duration_s=1440 + number,
            thumbnail=f"thumbnails/frieren-{number}.webp",
            video_url=f"https://video.example.jp/hls/frieren/s01e{number:03d}/master.m3u8",
            tags=["ファンタジー", "旅"], cast=["種﨑敦美", "市ノ瀬加那"], status="published",
            publish_at=now - timedelta(hours=number), expire_at=now + timedelta(days=90),
        )  # fmt: skip
    services.episode_create(
        user="test", program_id=frieren.id, season_id=later.id, number=1, title="次の旅", duration_s=1440,
        status="draft",
    )  # fmt: skip
    news = show_create("ニュース7", "news7", ("今夜のニュース",), sort_order=10)
    operations.catalog_rebuild(requested_by="test", full=True)
    return SimpleNamespace(program_ids=[frieren.id, news.program.id])


def serving(base_url: str, version: str) -> bool:
    return get(base_url, "/api/catalog", Accept_Encoding="gzip").headers.get("ETag") == f'"{version}"'


def test_the_document_is_openapi_3_1_served_as_committed(served):
    openapi_validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1.")

    answer = get(served.url, "/api/openapi.json", Origin=APP_ORIGIN)
    assert answer.status == 200 and answer.body == DOCUMENT_PATH.read_bytes()
    assert documented(answer, "/api/openapi.json") == DOCUMENT
    assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    again = get(served.url, "/api/openapi.json", If_None_Match=answer.headers["ETag"])
    assert again.status == 304 and documented(again, "/api/openapi.json") is None
    preflight = get(served.url, "/api/openapi.json", "OPTIONS", Origin=APP_ORIGIN)
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD"


def test_the_readme_example_of_the_catalog_matches_the_document():
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    example = json.loads(readme.split("**The catalog's body**", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])
    schema_check(example, ABSOLUTE["components"]["schemas"]["Catalog"])

    def keys_sorted(value) -> bool:
        if isinstance(value, dict):
            return list(value) == sorted(value) and all(map(keys_sorted, value.values()))
        return all(map(keys_sorted, value)) if isinstance(value, list) else True

    assert keys_sorted(example)  # as the canonical body is


def test_every_endpoint_answers_as_the_document_says(served, settings):
    settings.CACHEOPS_CHUNK_BYTES = 300  # several chunks, even for a small catalog
    published = catalog_publish()
    manifest, stream = reassemble(served.view)
    assert len(manifest["chunks"]) >= 3
    version = manifest["version"]
    assert wait_for(lambda: serving(served.url, version), 10)

    compressed = get(served.url, "/api/catalog", Accept_Encoding="gzip")
    assert compressed.status == 200 and compressed.headers["Content-Encoding"] == "gzip"
    catalog = documented(compressed, "/api/catalog")
    identity = get(served.url, "/api/catalog")
    assert identity.status == 200 and "Content-Encoding" not in identity.headers
    assert documented(identity, "/api/catalog") == catalog and gzip.decompress(compressed.body) == identity.body
    assert [p["id"] for p in catalog["programs"]] == published.program_ids[::-1]
    assert sorted_as_documented(catalog["programs"], "Catalog", "programs")
    for program in catalog["programs"]:
        assert sorted_as_documented(program["seasons"], "Program", "seasons")
        for season in program["seasons"]:
            assert sorted_as_documented(season["episodes"], "Season", "episodes")
    frieren = catalog["programs"][1]
    assert [s["title"] for s in frieren["seasons"]] == ["第1期", "第2期"]
    assert [e["number"] for e in frieren["seasons"][0]["episodes"]] == [1, 2]
    assert frieren["seasons"][1]["episodes"] == []  # its only episode is a draft
    for tag in (compressed.headers["ETag"], identity.headers["ETag"]):
        encoding = "gzip" if tag == compressed.headers["ETag"] else "identity"
        unchanged = get(served.url, "/api/catalog", Accept_Encoding=encoding, If_None_Match=tag)
        assert unchanged.status == 304 and documented(unchanged, "/api/catalog") is None

    public = get(served.url, "/api/catalog/manifest")
    listed = documented(public, "/api/catalog/manifest")
    assert listed["version"] == version and listed["sha256"] == manifest["sha256"]
    assert get(served.url, "/api/catalog/manifest", If_None_Match=public.headers["ETag"]).status == 304
    assert sorted_as_documented(listed["chunks"], "Manifest", "chunks")
    # The protocol the document gives clients: fetch, verify each chunk, join, verify, decode, verify.
    parts = []
    for entry in listed["chunks"]:
        chunk = get(served.url, entry["url"])
        data = documented(chunk, entry["url"])
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        parts.append(data)
    joined = b"".join(parts)
    assert len(joined) == listed["compressed_bytes"] and hashlib.sha256(joined).hexdigest() == listed["sha256"]
    body = gzip.decompress(joined)
    assert len(body) == listed["raw_bytes"] and hashlib.sha256(body).hexdigest()[:16] == version
    assert body == identity.body and joined == stream == compressed.body
    first = listed["chunks"][0]["url"]
    assert documented(get(served.url, first, If_None_Match=f'"{first.rsplit("/", 1)[1]}"'), first) is None

    for program in catalog["programs"]:
        path = f"/api/programs/{program['id']}"
        one = get(served.url, path)
        assert documented(one, path) == {"program": program}
        assert get(served.url, path, If_None_Match=one.headers["ETag"]).status == 304

    unknown = published.program_ids[0][:-4] + "0000"
    wrong_digest = chunk_path(version, {"index": 0, "sha256": "0" * 64})
    for path in (
        f"/api/programs/{unknown}",
        "/api/programs/not-an-id",
        wrong_digest,
        f"/api/catalog/chunks/{version}/01/{listed['chunks'][1]['sha256'][:16]}",  # no leading zeros
        f"/api/catalog/chunks/{version}/{len(listed['chunks'])}/{listed['chunks'][0]['sha256'][:16]}",
    ):
        missing = get(served.url, path)
        assert missing.status == 404 and documented(missing, path)["error"]["status"] == 404

    refused = get(served.url, "/api/catalog", Accept_Encoding="gzip", If_Match='"0000000000000000"')
    assert refused.status == 412 and documented(refused, "/api/catalog")["error"]["status"] == 412

    health = get(served.url, "/healthz")
    assert health.status == 200 and documented(health, "/healthz")["version"] == version

    # The schemas name every field: a field renamed in an answer no longer matches.
    renamed = copy.deepcopy(catalog)
    episode = renamed["programs"][1]["seasons"][0]["episodes"][0]
    episode["duration"] = episode.pop("duration_s")
    with pytest.raises(jsonschema.ValidationError):
        schema_check(renamed, ABSOLUTE["components"]["schemas"]["Catalog"])
    moved = {**listed, "built": listed["built_at"]}
    del moved["built_at"]
    with pytest.raises(jsonschema.ValidationError):
        schema_check(moved, ABSOLUTE["components"]["schemas"]["Manifest"])


def test_a_staged_version_is_embargoed_and_a_purged_one_is_gone(served, settings):
    settings.CACHEOPS_EDGE_TOKEN = "edge-secret"
    show = show_create("葬送のフリーレン", "frieren", ("旅立ち",))
    current = operations.catalog_rebuild(requested_by="test", full=True).version_after
    assert wait_for(lambda: serving(served.url, current), 10)
    services.episode_create(
        user="test", program_id=show.program.id, season_id=show.season.id, number=2, title="魔法使いの隠し事",
        duration_s=1440, status="published", publish_at=datetime.now(UTC) + timedelta(minutes=5),
    )  # fmt: skip
    operations.catalog_rebuild(requested_by="test", full=True)
    staged = json.loads(served.view.get(f"{served.view.prefix}:catalog:manifest"))["staged"]
    assert staged is not None
    assert wait_for(lambda: (reader_get().staged() or SimpleNamespace(version="")).version == staged["version"], 10)

    url = chunk_path(staged["version"], staged["chunks"][0])
    embargoed = get(served.url, url)
    assert embargoed.status == 404 and documented(embargoed, url)["error"]["status"] == 404
    edge = get(served.url, url, X_Edge_Token="edge-secret")
    assert edge.status == 200 and hashlib.sha256(documented(edge, url)).hexdigest() == staged["chunks"][0]["sha256"]
    public = documented(get(served.url, "/api/catalog/manifest"), "/api/catalog/manifest")
    assert public["version"] != staged["version"] and public["next_boundary"] == staged["activate_at"]

    # A newer version, then purged: its chunk URLs answer 410 while the one before is served again.
    show_create("ダンジョン飯", "dungeon")
    operations.catalog_rebuild(requested_by="test", full=True)
    bad, _ = reassemble(served.view)
    assert wait_for(lambda: serving(served.url, bad["version"]), 10)
    release_actions.purge(family=operations.CATALOG, requested_by="ops")
    assert wait_for(lambda: bad["version"] in reader_get().purged, 10)
    gone_url = chunk_path(bad["version"], bad["chunks"][0])
    gone = get(served.url, gone_url)
    assert gone.status == 410 and documented(gone, gone_url)["error"]["status"] == 410
    assert documented(get(served.url, "/api/catalog"), "/api/catalog")["programs"]


def test_a_process_with_nothing_to_serve_answers_503_as_documented(served, settings):
    settings.CACHEOPS_READER_MISS_WAIT_SECONDS = 0.3
    settings.CACHEOPS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    backend_reset()
    paths = (
        "/api/catalog",
        "/api/catalog/manifest",
        "/api/programs/01JDX8Y0ZK6Q8N6Y4M5T3R2W1V",
        "/api/catalog/chunks/0123456789abcdef/0/0123456789abcdef",
        "/healthz",
    )
    for path in paths:
        answer = get(served.url, path)
        assert answer.status == 503, path
        assert documented(answer, path)


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(served, tmp_path):
    show_create("葬送のフリーレン", "frieren", ("旅立ち", "魔法使いの隠し事"))
    manifest = operations.catalog_rebuild(requested_by="test", full=True)
    assert wait_for(lambda: serving(served.url, manifest.version_after), 10)

    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(DOCUMENT_PATH), "--url", served.url]
        + ["--checks", "all", "--max-examples", "10", "--seed", "20261205", "--generation-database", "none"]
        + ["--request-timeout", "10", "--no-color"]
        # The events stream never ends: tests/cacheops/test_events.py holds it to the document.
        + ["--exclude-path", "/api/catalog/events"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
