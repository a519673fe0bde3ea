"""The 360-program demo catalog is as large and as hard to compress as a real broadcaster's."""

from datetime import UTC, datetime

import pytest

from cacheops.build.snapshot import catalog_body, sources_build
from cacheops.chunks import compress, split
from cms import demo, validation

PROGRAMS = 360
CHUNK_BYTES = 1_000_000
# On the hour, so it is the generator's reference instant: no item goes live or expires near it.
NOW = datetime(2026, 11, 26, 14, tzinfo=UTC)


def generate(seed: int) -> demo.DemoContent:
    """The demo content for `seed`, in memory."""
    return demo.demo_generate(seed=seed, programs=PROGRAMS, now=NOW)


def catalog(content: demo.DemoContent) -> bytes:
    """The catalog JSON of `content` as of the reference instant."""
    sources = sources_build((content.programs, content.seasons, content.episodes))
    return catalog_body(sources.values(), NOW)


@pytest.fixture(scope="module")
def content() -> demo.DemoContent:
    return generate(1)


@pytest.fixture(scope="module")
def body(content) -> bytes:
    return catalog(content)


def test_the_catalog_is_about_ten_megabytes(body):
    assert 9_000_000 <= len(body) <= 11_000_000


def test_gzip_shrinks_it_three_to_four_and_a_half_times_into_at_least_three_chunks(body):
    compressed = compress(body, "gzip")

    assert 3 <= len(body) / len(compressed) <= 4.5
    assert len(split(compressed, CHUNK_BYTES)) >= 3


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(body):
    assert catalog(generate(1)) == body
    assert catalog(generate(2)) != body


def test_every_item_passes_the_editorial_rules(content):
    for program in content.programs:
        validation.program_validate(program)
    for season in content.seasons:
        validation.season_validate(season)
    for episode in content.episodes:
        validation.episode_validate(episode)
