"""codec.streams: the readinto, chunk-stream and seekability helpers the codec shares."""

from __future__ import annotations

import array
import io
import os
from typing import Any

import pytest

from heimdall_io.codec.streams import ChunkStream, ReadStream, is_seekable, readinto_from
from heimdall_io.files.paths import is_seekable as paths_is_seekable


def test_readinto_from_fills_any_writable_buffer() -> None:
    src = io.BytesIO(bytes(range(10)))
    buf = bytearray(4)
    assert readinto_from(src.read, buf) == 4
    assert buf == b"\x00\x01\x02\x03"
    ints = array.array("i", [0, 0])  # itemsize > 1: viewed as bytes
    n = readinto_from(src.read, ints)
    assert n == min(2 * ints.itemsize, 6)
    assert ints.tobytes()[:n] == bytes(range(4, 4 + n))
    assert readinto_from(io.BytesIO().read, bytearray(8)) == 0


class Doubled(ReadStream):
    """Each byte twice: a stream that only knows ``read``."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        half = self._src.read(-1 if size < 0 else max(size // 2, 1))
        return bytes(b for pair in zip(half, half, strict=True) for b in pair)


def test_read_stream_works_under_a_buffered_reader() -> None:
    assert Doubled(b"").readable()
    assert io.BufferedReader(Doubled(b"abc"), 4).read() == b"aabbcc"


def test_chunk_stream_hands_out_whole_chunks_without_copying() -> None:
    chunks = [b"x" * 100, b"y" * 10]
    stream = ChunkStream(iter(chunks))
    first = stream.read(1 << 20)
    assert first is chunks[0]
    assert stream.read(4) == b"yyyy"
    assert stream.read(0) == b""
    assert stream.read() == b"y" * 6
    assert stream.read(1) == b""


def test_chunk_stream_readinto_and_readall() -> None:
    stream = ChunkStream(iter([b"ab", b"", b"cde"]))
    buf = bytearray(3)
    assert stream.readinto(buf) == 2 and buf[:2] == b"ab"
    assert stream.readall() == b"cde"


class NoSeekable:
    pass


def test_is_seekable() -> None:
    assert is_seekable(io.BytesIO())
    closed = io.BytesIO()
    closed.close()
    odd: Any = NoSeekable()
    assert not is_seekable(closed)
    assert not is_seekable(odd)
    r, w = os.pipe()
    with os.fdopen(r, "rb") as pipe, os.fdopen(w, "wb"):
        assert not is_seekable(pipe)
    # files.paths re-exports the same function (the CLI imports it from there).
    assert paths_is_seekable is is_seekable


@pytest.mark.parametrize("size", [1, 7, 1 << 16])
def test_decoder_payload_stream_reads_back_everything(size: int) -> None:
    from heimdall_io import BundleReader, write_bundle

    payload = os.urandom(100_003)
    out = io.BytesIO()
    header = {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
        "model": {"model_name": "m", "version": 1},
    }
    write_bundle(out, header, io.BytesIO(payload))
    stream = BundleReader(io.BytesIO(out.getvalue())).payload
    parts = []
    while part := stream.read(size):
        parts.append(part)
    assert b"".join(parts) == payload
