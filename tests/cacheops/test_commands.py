"""The cache commands as an operator runs them: rebuild_catalog, catalog_status, prewarm."""

import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cacheops.build import operations
from cacheops.management.commands import rebuild_catalog
from tests.cacheops.conftest import body_of, reassemble, show_create

pytestmark = pytest.mark.django_db


def run(capsys, *args) -> str:
    """Run a command; return everything it printed on stdout."""
    capsys.readouterr()
    call_command(*args)
    return capsys.readouterr().out


def test_rebuild_then_status_json_is_one_document_with_catalog_first(dynamodb, engine, capsys):
    show = show_create("鬼滅の刃", "kimetsu", ["残酷", "育手"])
    family = f"program:{show.program.id}"

    program_line = run(capsys, "rebuild_catalog", "--sync", "--family", family)
    catalog_line = run(capsys, "rebuild_catalog", "--sync")
    out = run(capsys, "catalog_status", "--json")

    manifest, stream = reassemble(engine)
    assert catalog_line.startswith(f"catalog: published {manifest['version']} (")
    assert program_line.startswith(f"{family}: published ")
    assert "残酷" in body_of(manifest, stream).decode()
    assert out.endswith("\n") and out.count("\n") == 1
    status = json.loads(out)
    assert [f["name"] for f in status["families"]] == ["catalog", family]
    assert status["families"][0]["manifest"] == manifest
    assert status["families"][1]["manifest"] == reassemble(engine, family)[0]
    assert all(0 < f["ttl_left_s"] <= 86400 for f in status["families"])


def test_status_for_people_lists_every_chunk_key_with_its_size(dynamodb, redis_engine, settings, capsys):
    settings.CACHEOPS_CHUNK_BYTES = 200
    show_create("SPY×FAMILY", "spy-family", [f"第{n}話" for n in range(1, 6)])
    run(capsys, "rebuild_catalog", "--sync")

    out = run(capsys, "catalog_status")

    manifest, _ = reassemble(redis_engine)
    assert out.startswith(f"catalog: version {manifest['version']}, gzip, {manifest['raw_bytes']} bytes raw")
    assert len(manifest["chunks"]) > 1
    for chunk in manifest["chunks"]:
        assert f"  {chunk['key']}  {chunk['bytes']} bytes\n" in out


def test_status_reports_the_ttl_the_cache_keeps_and_a_refresh_never_lets_the_manifest_outlive_a_chunk(
    dynamodb, redis_engine, settings, capsys
):
    settings.CACHEOPS_CHUNK_BYTES = 200
    show_create("SPY×FAMILY", "spy-family", [f"第{n}話" for n in range(1, 6)])
    run(capsys, "rebuild_catalog", "--sync", "--full")
    manifest, _ = reassemble(redis_engine)
    redis_engine.client.pexpire(manifest["chunks"][1]["key"], 500_000)  # the cache will drop this chunk first

    [catalog] = [f for f in json.loads(run(capsys, "catalog_status", "--json"))["families"] if f["name"] == "catalog"]

    assert 490 <= catalog["ttl_left_s"] <= 500  # the manifest claims a day; the version is readable for 500 s
    assert 490 <= int(re.search(r"^catalog: .*TTL left (\d+) s", run(capsys, "catalog_status"), re.M)[1]) <= 500

    assert "catalog" in operations.ttl_refresh_due()

    manifest, _ = reassemble(redis_engine)
    chunk_left = min(redis_engine.ttl_left(c["key"]) for c in manifest["chunks"])
    assert 86000 < redis_engine.ttl_left(f"{redis_engine.prefix}:catalog:manifest") <= chunk_left
    [catalog] = [f for f in json.loads(run(capsys, "catalog_status", "--json"))["families"] if f["name"] == "catalog"]
    assert 86000 < catalog["ttl_left_s"] <= chunk_left


def test_status_before_anything_is_published(redis_engine, capsys):
    assert run(capsys, "catalog_status") == "nothing published yet\n"
    assert json.loads(run(capsys, "catalog_status", "--json")) == {"families": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "not-a-date"], "CommandError: --as-of 'not-a-date' is not an ISO 8601 time like"),
        (["--as-of", "2026-11-26T23:45:00"], "CommandError: --as-of '2026-11-26T23:45:00' needs a time zone"),
        (["--family", "bogus"], "CommandError: unknown family 'bogus': use catalog or program:<id>"),
    ],
)
def test_bad_rebuild_arguments_exit_non_zero_with_one_line(redis_engine, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        rebuild_catalog.Command().run_from_argv(["manage.py", "rebuild_catalog", "--sync", *args])

    captured = capsys.readouterr()
    assert exit_.value.code != 0
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(message)
    assert redis_engine.keys() == set()


def test_an_unknown_family_is_refused_before_anything_is_queued(redis_engine):
    with pytest.raises(CommandError, match="unknown family 'bogus'"):
        call_command("rebuild_catalog", "--family", "bogus")


def test_prewarm_shows_progress_and_leaves_every_chunk_verified(dynamodb, redis_engine, settings, capsys):
    settings.CACHEOPS_CHUNK_BYTES = 100
    show_create("進撃の巨人", "shingeki", [f"第{n}話" for n in range(1, 6)])

    out = run(capsys, "prewarm")

    manifest, stream = reassemble(redis_engine)
    total = len(manifest["chunks"])
    assert total > 3
    assert f"\rrefresh  [{'#' * 30}] {total}/{total}" in out
    assert f"\rwrite    [{'#' * 30}] {total}/{total}" in out  # built first: nothing was published
    assert out.splitlines()[-1].startswith(f"catalog: done {manifest['version']} in ")
    assert all(redis_engine.ttl_left(c["key"]) > 86000 for c in manifest["chunks"])
    assert "第5話" in body_of(manifest, stream).decode()
