"""The publish protocol on every backend: keys, manifest, versions, TTLs, locks, crashes of the lock holder."""

import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from cacheops.build import lock, operations
from cacheops.errors import BuildBusy, PublishError
from cacheops.manifest import manifest_version_read, snapshot_read
from cacheops.release import families, release_actions, releases, versions
from cacheops.release.families import families_read
from tests.cacheops.conftest import body_of, reassemble

pytestmark = pytest.mark.django_db

AS_OF = datetime(2026, 11, 26, 14, 45, tzinfo=UTC)
MANIFEST_FIELDS = {
    "name", "version", "codec", "raw_bytes", "compressed_bytes", "sha256", "chunks",
    "as_of", "built_at", "expires_at", "next_boundary", "previous_version", "staged", "stale",
    "pinned", "revision", "purged",
}  # fmt: skip


def catalog(label: str, programs: int = 200) -> bytes:
    """A catalog body that compresses to a few kilobytes (random ids keep gzip honest)."""
    items = [{"id": os.urandom(8).hex(), "title": f"{label} 第{n}話"} for n in range(programs)]
    return json.dumps({"programs": items}, ensure_ascii=False, separators=(",", ":")).encode()


def publish(body: bytes, family: str = "catalog", progress=None) -> releases.Published:
    with lock.build_lock(family):
        generation = families.generation_take(family)
        return operations.version_publish(
            family, body, as_of=AS_OF, generation=generation, next_boundary=None, progress=progress
        )


def raw_manifest(engine, family: str = "catalog") -> dict | None:
    raw = engine.get(f"{engine.prefix}:{family}:manifest")
    return json.loads(raw) if raw else None


def chunk_keys(engine) -> set[str]:
    return {k for k in engine.keys() if ":chunk:" in k}


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def assert_manifest_dies_first(engine, family: str = "catalog") -> dict:
    """The manifest's TTL in the cache and its expires_at are never later than any of its chunks' TTLs."""
    manifest = raw_manifest(engine, family)
    chunk_left = min(engine.ttl_left(c["key"]) for c in manifest["chunks"])
    manifest_left = engine.ttl_left(f"{engine.prefix}:{family}:manifest")
    now = datetime.now(UTC)  # read after the chunks' TTLs: a late clock only favours the chunks
    assert 0 < manifest_left <= chunk_left
    assert parse(manifest["expires_at"]) <= now + timedelta(seconds=chunk_left)
    return manifest


def test_publish_stores_chunks_and_a_manifest_under_the_published_keys(engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 1000
    body = catalog("A")
    before = datetime.now(UTC).replace(microsecond=0)

    result = publish(body)

    manifest, stream = reassemble(engine)
    zsha = hashlib.sha256(stream).hexdigest()[:16]
    assert set(manifest) == MANIFEST_FIELDS
    assert manifest["name"] == "catalog"
    assert manifest["version"] == result.version == hashlib.sha256(body).hexdigest()[:16]
    assert manifest["codec"] == "gzip" and body_of(manifest, stream) == body
    assert manifest["raw_bytes"] == len(body) and manifest["compressed_bytes"] == len(stream)
    assert len(manifest["chunks"]) == -(-len(stream) // 1000) > 1
    assert [c["index"] for c in manifest["chunks"]] == list(range(len(manifest["chunks"])))
    assert [c["key"] for c in manifest["chunks"]] == [
        f"{engine.prefix}:catalog:chunk:{zsha}:{i}" for i in range(len(manifest["chunks"]))
    ]
    assert all(c["bytes"] <= 1000 for c in manifest["chunks"])
    assert manifest["as_of"] == "2026-11-26T14:45:00Z"
    built = parse(manifest["built_at"])
    assert before <= built <= datetime.now(UTC)
    ttl = timedelta(seconds=settings.CACHEOPS_TTL_SECONDS)
    assert before + ttl <= parse(manifest["expires_at"]) <= built + ttl  # from the chunks' write, not the swap
    assert manifest["previous_version"] is None and manifest["staged"] is None and manifest["stale"] is False
    assert_manifest_dies_first(engine)
    assert chunk_keys(engine) == {c["key"] for c in manifest["chunks"]}
    assert f"{engine.prefix}:catalog:lock" not in engine.keys()


def test_the_same_content_again_rewrites_nothing_while_every_chunk_is_there(engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 300
    body = catalog("A")
    publish(body)
    chunks_before = raw_manifest(engine)["chunks"]
    keys = engine.keys()
    settings.CACHEOPS_CHUNK_BYTES = 200  # chunks written anew would be cut differently

    again = publish(body)

    assert again.outcome == "unchanged"
    assert raw_manifest(engine)["chunks"] == chunks_before
    assert engine.keys() == keys
    manifest, stream = reassemble(engine)
    assert len(manifest["chunks"]) > 1 and body_of(manifest, stream) == body


def test_the_same_content_is_published_again_when_a_chunk_was_evicted(engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 300
    body = catalog("A")
    version = publish(body).version
    evicted = raw_manifest(engine)["chunks"][1]["key"]
    engine.delete(evicted)

    again = publish(body)

    assert (again.outcome, again.version) == ("published", version)
    manifest, stream = reassemble(engine)
    assert evicted in {c["key"] for c in manifest["chunks"]}
    assert body_of(manifest, stream) == body
    assert_manifest_dies_first(engine)


def test_a_new_version_remembers_the_previous_one_and_rollback_restores_it_with_chunks_as_long_lived(engine, settings):
    settings.CACHEOPS_TTL_SECONDS = 60
    body_a, body_b = catalog("A"), catalog("B")
    first = publish(body_a)
    second = publish(body_b)
    assert raw_manifest(engine)["previous_version"] == first.version
    assert second.previous == first.version

    settings.CACHEOPS_TTL_SECONDS = 3600  # a rollback gives the old version a whole lifetime again
    rolled = release_actions.rollback(family="catalog", requested_by="ops")

    assert (rolled.result, rolled.version_after) == ("pinned", first.version)
    manifest, stream = reassemble(engine)
    assert manifest["version"] == first.version
    assert manifest["previous_version"] == second.version
    assert body_of(manifest, stream) == body_a
    assert snapshot_read("catalog")[1] == body_a
    assert assert_manifest_dies_first(engine) == manifest
    assert all(engine.ttl_left(c["key"]) > 3500 for c in manifest["chunks"])  # written again, not outlived


def test_soft_invalidation_keeps_the_old_version_readable_until_a_rebuild_and_never_past_its_chunks(engine, settings):
    settings.CACHEOPS_TTL_SECONDS = 60
    body = catalog("A")
    version = publish(body).version
    expires_at = raw_manifest(engine)["expires_at"]

    settings.CACHEOPS_TTL_SECONDS = 3600  # the invalidation must not lend the manifest a life its chunks lack
    releases.stale_marked("catalog")

    manifest, stream = reassemble(engine)
    assert manifest["stale"] is True and manifest["version"] == version
    assert body_of(manifest, stream) == body
    assert assert_manifest_dies_first(engine)["expires_at"] == expires_at

    rebuilt = publish(body)

    assert rebuilt.outcome == "published"
    manifest, stream = reassemble(engine)
    assert manifest["stale"] is False and manifest["version"] == version
    assert body_of(manifest, stream) == body
    assert_manifest_dies_first(engine)


def test_hard_invalidation_removes_the_pointer(engine):
    version = publish(catalog("A")).version
    old_chunks = chunk_keys(engine)

    releases.removed("catalog")

    assert raw_manifest(engine) is None
    with pytest.raises(PublishError, match="catalog has no current version"):
        snapshot_read("catalog")
    # A reader still holding the old manifest can finish reading it.
    assert chunk_keys(engine) == old_chunks
    assert manifest_version_read("catalog", version)["version"] == version


def test_a_build_whose_lock_was_taken_over_loses_to_the_newer_build_and_leaves_its_lock(engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 200
    body_b = catalog("B")
    lock = f"{engine.prefix}:catalog:lock"
    newer = []

    def taken_over(stage, done, total):
        # The lock ran out mid-write; the build that took it over read later content and publishes first.
        if stage == "write" and done == 1:
            engine.delete(lock)
            engine.set(lock, b"another-build", 60)
            generation = families.generation_take("catalog")
            newer.append(
                operations.version_publish("catalog", body_b, as_of=AS_OF, generation=generation, next_boundary=None)
            )

    late = publish(catalog("A"), progress=taken_over)

    assert (newer[0].outcome, late.outcome) == ("published", "superseded")
    manifest, stream = reassemble(engine)
    assert manifest["version"] == newer[0].version == late.version
    assert body_of(manifest, stream) == body_b
    assert engine.get(lock) == b"another-build"  # the loser leaves the new holder's lock alone


def test_a_dead_workers_lock_blocks_builds_only_until_it_expires(engine, settings):
    settings.CACHEOPS_LOCK_SECONDS = 1
    engine.set(f"{engine.prefix}:catalog:lock", b"dead-worker", 1)

    with pytest.raises(BuildBusy, match="another build of catalog"):
        publish(catalog("A"))
    assert raw_manifest(engine) is None

    time.sleep(1.2)
    result = publish(catalog("A"))

    assert raw_manifest(engine)["version"] == result.version


def test_ttl_refresh_pushes_expiry_later_and_keeps_the_family_listed(engine, settings):
    settings.CACHEOPS_TTL_SECONDS = 60
    body = catalog("A")
    publish(body)
    before = raw_manifest(engine)

    settings.CACHEOPS_TTL_SECONDS = 3600
    operations.ttl_refresh("catalog")

    manifest, stream = reassemble(engine)
    assert parse(manifest["expires_at"]) >= parse(before["expires_at"]) + timedelta(seconds=3500)
    assert body_of(manifest, stream) == body
    assert all(engine.ttl_left(c["key"]) > 3500 for c in manifest["chunks"])
    assert engine.ttl_left(f"{engine.prefix}:catalog:manifest") > 3500
    assert_manifest_dies_first(engine)
    assert manifest_version_read("catalog", manifest["version"]) == versions.facts_of(manifest)
    assert families_read() == ["catalog"]


def test_small_chunks_make_many_pieces_that_reassemble(engine, settings):
    settings.CACHEOPS_CHUNK_BYTES = 100
    body = catalog("A", programs=300)

    publish(body)

    manifest, stream = reassemble(engine)
    assert len(manifest["chunks"]) == -(-len(stream) // 100) >= 30
    assert all(c["bytes"] == 100 for c in manifest["chunks"][:-1])
    assert body_of(manifest, stream) == body


def test_zstd_can_be_chosen(engine, settings):
    settings.CACHEOPS_CODEC = "zstd"
    body = catalog("A")

    publish(body)

    manifest, stream = reassemble(engine)
    assert manifest["codec"] == "zstd"
    assert body_of(manifest, stream) == body
    assert snapshot_read("catalog")[1] == body


def test_the_family_row_keeps_the_current_manifest_for_pages_that_must_not_read_the_cache(engine, settings):
    publish(catalog("A"))
    row = families.Family.objects.get(name="catalog")
    first = reassemble(engine)[0]
    assert row.manifest == first

    settings.CACHEOPS_TTL_SECONDS = 3600  # a refresh with another lifetime: the row follows it
    operations.ttl_refresh("catalog")
    refreshed = reassemble(engine)[0]
    row.refresh_from_db()
    assert refreshed["expires_at"] != first["expires_at"]
    assert row.manifest["expires_at"] == refreshed["expires_at"] == reassemble(engine)[0]["expires_at"]

    releases.removed("catalog")
    row.refresh_from_db()
    assert row.manifest is None and row.current_version == ""
