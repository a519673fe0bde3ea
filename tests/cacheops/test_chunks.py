"""Deterministic compression, chunk boundaries and verified reassembly."""

import gzip
import hashlib
import os
import zlib

import pytest
import zstandard
from django.conf import settings

from cacheops import chunks
from cacheops.chunks import ChunkError

CATALOG = ('{"programs":[{"id":"01J","title":"鬼滅の刃","seasons":[]}]}' * 400).encode()


def entries_for(pieces: list[bytes], family_key: str = "p:catalog:chunk:abc") -> list[dict]:
    """Manifest entries for `pieces`, computed with hashlib only."""
    return [
        {"index": i, "key": f"{family_key}:{i}", "bytes": len(piece), "sha256": hashlib.sha256(piece).hexdigest()}
        for i, piece in enumerate(pieces)
    ]


def test_gzip_gives_the_same_bytes_for_the_same_input_with_no_timestamp():
    first = chunks.compress(CATALOG, "gzip")
    second = chunks.compress(CATALOG, "gzip")

    assert first == second
    assert first[:3] == b"\x1f\x8b\x08"  # gzip, deflate: what browsers decode natively
    assert first[4:8] == b"\x00\x00\x00\x00"  # mtime 0: the build time is not in the stream
    assert len(first) < len(CATALOG) / 10
    assert gzip.decompress(first) == CATALOG
    assert zlib.decompressobj(wbits=31).decompress(first) == CATALOG


def test_zstd_round_trips_deterministically_and_records_its_size():
    first = chunks.compress(CATALOG, "zstd")

    assert first == chunks.compress(CATALOG, "zstd")
    assert first[:4] == b"\x28\xb5\x2f\xfd"
    assert zstandard.frame_content_size(first) == len(CATALOG)
    assert chunks.decompress(first, "zstd") == CATALOG
    assert zstandard.ZstdDecompressor().decompress(first) == CATALOG


def test_an_unknown_codec_is_refused_by_name():
    with pytest.raises(ValueError, match="'brotli'.*gzip, zstd"):
        chunks.compress(CATALOG, "brotli")


def test_empty_data_is_one_empty_chunk():
    [only] = chunks.split(b"", settings.CACHEOPS_CHUNK_BYTES)

    assert (only.index, only.data) == (0, b"")
    assert chunks.join([b""], entries_for([b""]), hashlib.sha256(b"").hexdigest()) == b""


def test_exactly_chunk_bytes_is_one_chunk_and_one_more_byte_makes_two():
    size = settings.CACHEOPS_CHUNK_BYTES
    data = os.urandom(size + 1)

    [whole] = chunks.split(data[:size], size)
    first, second = chunks.split(data, size)

    assert whole.data == data[:size]
    assert (len(first.data), len(second.data)) == (size, 1)
    assert first.data + second.data == data


def test_many_chunks_are_in_order_no_larger_than_the_limit_and_rejoin():
    data = os.urandom(10_050)

    pieces = chunks.split(data, 100)

    assert [c.index for c in pieces] == list(range(101))
    assert all(len(c.data) == 100 for c in pieces[:-1]) and len(pieces[-1].data) == 50
    assert [c.sha256 for c in pieces] == [hashlib.sha256(c.data).hexdigest() for c in pieces]
    joined = chunks.join([c.data for c in pieces], entries_for([c.data for c in pieces]), _sha(data))
    assert joined == data


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        chunks.split(b"data", 0)


def _three():
    data = os.urandom(300)
    pieces = [data[0:100], data[100:200], data[200:300]]
    return data, pieces, entries_for(pieces)


def test_join_names_a_missing_chunk():
    data, pieces, entries = _three()

    with pytest.raises(ChunkError) as error:
        chunks.join([pieces[0], None, pieces[2]], entries, _sha(data))

    assert str(error.value) == "chunk 1 (p:catalog:chunk:abc:1) is missing"


def test_join_names_a_chunk_with_a_flipped_byte():
    data, pieces, entries = _three()
    flipped = bytearray(pieces[2])
    flipped[57] ^= 0x01

    with pytest.raises(ChunkError) as error:
        chunks.join([pieces[0], pieces[1], bytes(flipped)], entries, _sha(data))

    assert str(error.value) == "chunk 2 (p:catalog:chunk:abc:2) is corrupt"


@pytest.mark.parametrize("damage", [lambda b: b[:-1], lambda b: b + b"\x00"], ids=["truncated", "extended"])
def test_join_names_a_chunk_of_the_wrong_length(damage):
    data, pieces, entries = _three()

    with pytest.raises(ChunkError) as error:
        chunks.join([damage(pieces[0]), pieces[1], pieces[2]], entries, _sha(data))

    assert str(error.value) == "chunk 0 (p:catalog:chunk:abc:0) is corrupt"


def test_join_checks_the_whole_stream_against_the_manifest():
    data, pieces, entries = _three()

    with pytest.raises(ChunkError, match="reassembled snapshot does not match its checksum"):
        chunks.join(pieces, entries, _sha(data + b"x"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
