"""Whole-bundle compression: detection, streaming round trips, truncation, bombs."""

from __future__ import annotations

import gzip
import io
import random
from typing import Any

import pytest
import zstandard

from heimdall_io import BundleReader, Limits, read_bundle, write_bundle
from heimdall_io.codec import compression as comp
from heimdall_io.codec.compression import GZIP, NONE, ZSTD, Decompressed, compress_iter, detect
from heimdall_io.errors import (
    BundleError,
    DecompressionBombError,
    LimitExceededError,
    MalformedBundleError,
    TruncatedBundleError,
)

_rng = random.Random(1)
DATA = b"".join(
    _rng.choice([b"alpha ", b"beta ", b"gamma\n", bytes(range(40)), _rng.randbytes(9)])
    for _ in range(30_000)
)


def decompress_all(
    data: bytes, kind: str | None = None, read_size: int = 65536, **kw: Any
) -> bytes:
    kind = kind or detect(data[:4])
    stream = Decompressed(io.BytesIO(data[4:]), data[:4], kind, **kw)
    parts = []
    while chunk := stream.read(read_size):
        parts.append(chunk)
    stream.close()
    return b"".join(parts)


def chunks_of(data: bytes, sizes: list[int]) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i, k = i + n, k + 1
    return out


def test_detect() -> None:
    assert detect(b"\x28\xb5\x2f\xfd") == ZSTD
    assert detect(zstandard.ZstdCompressor().compress(b"{}")[:4]) == ZSTD
    assert detect(gzip.compress(b"{}")[:4]) == GZIP
    assert detect(b"\x1f\x8b") == GZIP
    for plain in (b"{", b'{"a"', b" \n{}", b"", b"\x28\xb5\x2f", b"\x1f"):
        assert detect(plain) == NONE


@pytest.mark.parametrize("kind", [ZSTD, GZIP])
@pytest.mark.parametrize("sizes", [[1], [7, 1, 300], [65536], [len(DATA)]])
def test_compress_iter_round_trip(kind: str, sizes: list[int]) -> None:
    compressed = b"".join(compress_iter(iter(chunks_of(DATA, sizes)), kind))
    assert detect(compressed[:4]) == kind
    assert decompress_all(compressed) == DATA
    # Any standard tool reads it.
    if kind == ZSTD:
        assert zstandard.ZstdDecompressor().decompressobj().decompress(compressed) == DATA
    else:
        assert gzip.decompress(compressed) == DATA


def test_compress_iter_none_passes_chunks_through() -> None:
    assert list(compress_iter(iter([b"a", b"bc"]), NONE)) == [b"a", b"bc"]


@pytest.mark.parametrize("level", [1, 3, 19])
def test_zstd_levels(level: int) -> None:
    compressed = b"".join(compress_iter(iter([DATA]), ZSTD, level))
    assert decompress_all(compressed) == DATA


def test_bad_compression_arguments() -> None:
    with pytest.raises(ValueError):
        list(compress_iter(iter([b"x"]), "brotli"))
    for level in (0, 20, 22):
        with pytest.raises(ValueError):
            list(compress_iter(iter([b"x"]), ZSTD, level))
    # gzip maps an out-of-range level to the default instead of failing.
    assert gzip.decompress(b"".join(compress_iter(iter([b"x"]), GZIP, 19))) == b"x"


@pytest.mark.parametrize("read_size", [1, 3, 4096, 1 << 20, -1])
def test_read_sizes_and_readinto(read_size: int) -> None:
    compressed = zstandard.ZstdCompressor().compress(DATA)
    if read_size == -1:
        stream = Decompressed(io.BytesIO(compressed[4:]), compressed[:4], ZSTD)
        assert stream.read() + stream.read() == DATA
        return
    if read_size == 1:  # byte by byte is slow: a prefix is enough
        stream = Decompressed(io.BytesIO(compressed[4:]), compressed[:4], ZSTD)
        assert b"".join(stream.read(1) for _ in range(5000)) == DATA[:5000]
        return
    assert decompress_all(compressed, read_size=read_size) == DATA
    stream = Decompressed(io.BytesIO(compressed[4:]), compressed[:4], ZSTD)
    buf = bytearray(read_size)
    parts = []
    while n := stream.readinto(buf):
        parts.append(bytes(buf[:n]))
    assert b"".join(parts) == DATA


# -- zstd frame layouts -------------------------------------------------------------------------


def zstd_layouts() -> dict[str, bytes]:
    half = len(DATA) // 2
    skippable = (0x184D2A5A).to_bytes(4, "little") + (6).to_bytes(4, "little") + b"ignore"
    stream = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    streamed = stream.compress(DATA) + stream.flush()  # content size unknown
    small = zstandard.ZstdCompressor(write_content_size=True, write_checksum=False)
    return {
        "checksum": zstandard.ZstdCompressor(write_checksum=True).compress(DATA),
        "no_checksum": zstandard.ZstdCompressor(write_checksum=False).compress(DATA),
        "streamed": streamed,
        "single_segment_small": small.compress(b"{}"),
        "level19": zstandard.ZstdCompressor(level=19, write_checksum=True).compress(DATA),
        "two_frames": zstandard.ZstdCompressor().compress(DATA[:half])
        + zstandard.ZstdCompressor(write_checksum=True).compress(DATA[half:]),
        "skippable_between": zstandard.ZstdCompressor().compress(DATA[:half])
        + skippable
        + zstandard.ZstdCompressor().compress(DATA[half:]),
        "empty_content": zstandard.ZstdCompressor().compress(b"")
        + zstandard.ZstdCompressor().compress(DATA),
        "raw_blocks": zstandard.ZstdCompressor(level=1, write_checksum=True).compress(
            random.Random(2).randbytes(300_000)
        ),
    }


@pytest.mark.parametrize("layout", list(zstd_layouts()))
def test_zstd_layouts_read_whole(layout: str) -> None:
    data = zstd_layouts()[layout]
    want = b""
    rest = data
    while rest:  # decode frame by frame with the reference decoder
        obj = zstandard.ZstdDecompressor().decompressobj()
        if rest[:4] != comp.ZSTD_MAGIC:  # skippable frame
            size = int.from_bytes(rest[4:8], "little")
            rest = rest[8 + size :]
            continue
        want += obj.decompress(rest)
        rest = obj.unused_data
    assert decompress_all(data) == want


@pytest.mark.parametrize("layout", list(zstd_layouts()))
def test_zstd_cut_anywhere_is_truncated(layout: str) -> None:
    """python-zstandard stops quietly at the end of its input: we must notice a cut frame."""
    data = zstd_layouts()[layout]
    rng = random.Random(len(data))
    cuts = set(range(4, min(len(data), 40))) | set(range(max(4, len(data) - 40), len(data)))
    cuts |= {rng.randrange(4, len(data)) for _ in range(60)}
    boundaries = frame_ends(data)
    for cut in sorted(cuts):
        if cut in boundaries:
            decompress_all(data[:cut], ZSTD)  # a whole number of frames: fine
            continue
        with pytest.raises(BundleError) as info:
            decompress_all(data[:cut], ZSTD)
        assert isinstance(info.value, (TruncatedBundleError, MalformedBundleError)), cut


def frame_ends(data: bytes) -> set[int]:
    """Offsets where a complete stream may end (after a data frame, or a skippable frame
    following one), found with the reference decoder."""
    ends: set[int] = set()
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != comp.ZSTD_MAGIC:
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            pos += 8 + size
            if ends:
                ends.add(pos)
            continue
        obj = zstandard.ZstdDecompressor().decompressobj()
        obj.decompress(data[pos:])
        pos = len(data) - len(obj.unused_data)
        ends.add(pos)
    return ends


def test_zstd_trailing_garbage_is_an_error() -> None:
    data = zstandard.ZstdCompressor().compress(DATA)
    for trailer in (b"garbage!", b"\x00" * 8, b"\x28\xb5"):
        with pytest.raises(BundleError):
            decompress_all(data + trailer)


def test_zstd_corrupt_block() -> None:
    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(DATA))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(MalformedBundleError):
        decompress_all(bytes(data))


def test_zstd_window_over_the_cap_is_a_bomb() -> None:
    params = zstandard.ZstdCompressionParameters(window_log=27)  # 128 MiB > MAX_WINDOW
    obj = zstandard.ZstdCompressor(compression_params=params).compressobj()
    data = obj.compress(b"x" * 1000) + obj.flush()
    with pytest.raises(DecompressionBombError, match="window"):
        decompress_all(data)


# -- gzip -----------------------------------------------------------------------------------------


def test_gzip_multi_member_and_module_output() -> None:
    data = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:], compresslevel=9)
    assert decompress_all(data) == DATA


def test_gzip_truncated_and_corrupt() -> None:
    data = gzip.compress(DATA)
    for cut in (2, 5, 10, 11, 100, len(data) // 2, len(data) - 8, len(data) - 4, len(data) - 1):
        with pytest.raises(BundleError) as info:
            decompress_all(data[:cut])
        assert isinstance(info.value, (TruncatedBundleError, MalformedBundleError)), cut
    bad_crc = bytearray(data)
    bad_crc[-5] ^= 1
    with pytest.raises(MalformedBundleError):
        decompress_all(bytes(bad_crc))
    with pytest.raises(MalformedBundleError):
        decompress_all(b"\x1f\x8b" + b"not really gzip" * 10)


# -- bombs ----------------------------------------------------------------------------------------


@pytest.fixture
def small_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comp, "BOMB_FLOOR", 1 << 20)


@pytest.mark.parametrize("kind", [ZSTD, GZIP])
def test_expansion_ratio_guard(kind: str, small_floor: None) -> None:
    zeros = bytes(16 << 20)
    data = b"".join(compress_iter(iter([zeros]), kind, 9 if kind == GZIP else 3))
    assert len(zeros) / len(data) > 1000
    with pytest.raises(DecompressionBombError, match="expands more than"):
        decompress_all(data)
    # A higher ratio allowance lets the same data through.
    assert decompress_all(data, max_ratio=100_000) == zeros


@pytest.mark.parametrize("kind", [ZSTD, GZIP])
def test_read_all_is_guarded_step_by_step(kind: str, small_floor: None) -> None:
    """``read()`` must not expand a bomb in memory before the ratio is checked."""
    data = b"".join(compress_iter(iter([bytes(32 << 20)]), kind, 9 if kind == GZIP else 3))
    # gzip cannot expand much past 1024x: a lower allowance makes its guard bite early too.
    stream = Decompressed(io.BytesIO(data[4:]), data[:4], kind, max_ratio=64)
    with pytest.raises(DecompressionBombError):
        stream.read()
    assert stream.produced <= (1 << 20) + (2 << 20)  # the floor plus one step


def test_ratio_guard_ignores_small_outputs() -> None:
    """Below BOMB_FLOOR any ratio is fine: a small, very compressible model is no bomb."""
    zeros = bytes(8 << 20)
    data = zstandard.ZstdCompressor().compress(zeros)
    assert len(zeros) / len(data) > 1024
    assert decompress_all(data) == zeros


def test_bundle_reader_honours_limits_max_ratio(small_floor: None) -> None:
    header = {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
        "model": {"model_name": "zeros", "version": 1},
    }
    payload = bytes(12 << 20)
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(payload), compression=ZSTD)
    data = out.getvalue()
    with pytest.raises(DecompressionBombError):
        read_bundle(io.BytesIO(data), io.BytesIO())
    with pytest.raises(LimitExceededError):  # the parent class also catches it
        read_bundle(io.BytesIO(data), io.BytesIO(), limits=Limits(max_ratio=2))
    sink = io.BytesIO()
    read_bundle(io.BytesIO(data), sink, limits=Limits(max_ratio=1 << 30))
    assert sink.getvalue() == payload


@pytest.mark.parametrize("kind", [ZSTD, GZIP])
def test_reader_detects_compression_without_being_told(kind: str) -> None:
    header = {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
        "model": {"model_name": "m", "version": 1},
    }
    plain = io.BytesIO()
    write_bundle(plain, header, io.BytesIO(DATA))
    other_tool = (
        gzip.compress(plain.getvalue())
        if kind == GZIP
        else zstandard.ZstdCompressor(level=19).compress(plain.getvalue())
    )
    for data in (other_tool, b"".join(compress_iter(iter([plain.getvalue()]), kind))):
        reader = BundleReader(io.BytesIO(data))
        assert reader.compression == kind
        sink = io.BytesIO()
        info = reader.copy_payload(sink)
        assert sink.getvalue() == DATA
        assert info.compression == kind
