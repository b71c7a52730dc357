"""Sized plain bundles: the length is known in advance, and every range is the same bytes
as that slice of the whole bundle (codec.ranges)."""

from __future__ import annotations

import hashlib
import io
import random

import pytest

from heimdall_io.codec import BundleEncoder
from heimdall_io.codec.ranges import base64_length, iter_range, plain_length
from heimdall_io.format.header import new_header


class _Trickle(io.RawIOBase):
    """Not seekable, and short reads: what an S3 response looks like to the encoder."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self._src.read(min(len(buffer), 7))
        buffer[: len(data)] = data
        return len(data)


def _encoder(data: bytes, payload: object, **kw: object) -> BundleEncoder:
    header = new_header({"model_name": "tiny", "version": 1})
    header["bundle_metadata"].update(bundle_id="b", created_at="2025-01-01T00:00:00Z")
    md5, sha256 = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    return BundleEncoder(header, payload, size=len(data), md5=md5, sha256=sha256,  # type: ignore[arg-type]
                         chunk_size=3 * 11, **kw)  # fmt: skip


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 17, 299, 3000, 10_001])
def test_length_and_every_range(size: int) -> None:
    data = random.Random(size).randbytes(size)
    full = b"".join(_encoder(data, io.BytesIO(data)))
    assert plain_length(_encoder(data, io.BytesIO())) == len(full)
    rng = random.Random(size + 1)
    spans = [(0, len(full)), (0, 0), (len(full), len(full)), (len(full) - 1, len(full))]
    spans += [tuple(sorted((rng.randint(0, len(full)), rng.randint(0, len(full)))))
              for _ in range(60)]  # fmt: skip
    for a, b in spans:
        for payload in (io.BytesIO(data), _Trickle(data)):
            got = b"".join(iter_range(_encoder(data, payload), a, b))
            assert got == full[a:b], (size, a, b, type(payload).__name__)


def test_seekable_payload_is_read_only_from_the_boundary() -> None:
    data = bytes(range(256)) * 40
    payload = io.BytesIO(data)
    enc = _encoder(data, payload)
    head = len(enc.head())
    # Characters 4000.. of the base64 text start at byte 3000 of the payload.
    got = b"".join(iter_range(enc, head + 4001, head + 4010))
    full = b"".join(_encoder(data, io.BytesIO(data)))
    assert got == full[head + 4001 : head + 4010]
    assert payload.tell() <= 3000 + 33  # one chunk past the boundary, not from the start


def test_unknown_length() -> None:
    data = b"abc"
    assert plain_length(_encoder(data, io.BytesIO(data), compression="zstd")) is None
    header = new_header({"model_name": "tiny", "version": 1})
    assert plain_length(BundleEncoder(header, io.BytesIO(data), size=3)) is None
    with pytest.raises(ValueError):
        list(iter_range(BundleEncoder(header, io.BytesIO(data), size=3), 0, 1))
    assert base64_length(0) == 0 and base64_length(4) == 8


def test_short_payload_raises() -> None:
    data = b"x" * 100
    enc = _encoder(data, io.BytesIO(data[:50]))
    with pytest.raises(EOFError):
        list(iter_range(enc, 0, plain_length(enc) or 0))
