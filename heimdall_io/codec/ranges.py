"""Sized bundles: the exact length of a plain bundle before it is written, and any byte
range of it without encoding what comes before.

A plain (uncompressed) bundle whose payload size and checksums are known in advance (an
export from a registry) is ``head + base64(payload) + tail``, where ``head`` and ``tail``
depend only on the metadata and the declared checksums. Its length is therefore known
before a payload byte is read, which lets an HTTP server send ``Content-Length`` and
serve ``Range`` requests: a range is cut from the head, the base64 text and the tail. The
base64 of bytes ``3k..`` starts at character ``4k``, so a range inside the payload starts
reading the payload at the 3-byte boundary before it (a seek on a seekable object; read
and dropped, never encoded, otherwise).

A range is not verified: only the whole payload can be checked against its digests, which
is what a client that assembles the ranges does at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pybase64

from .compression import NONE
from .encoder import BundleEncoder
from .streams import is_seekable

__all__ = ["base64_length", "iter_range", "plain_length"]


def base64_length(size: int) -> int:
    """Characters of padded base64 for ``size`` bytes.

    >>> base64_length(17)
    24
    """
    return 4 * ((size + 2) // 3)


def plain_length(encoder: BundleEncoder) -> int | None:
    """The exact byte length ``encoder`` will produce, or None if it is not known in
    advance (a compressed bundle, or size/MD5/SHA-256 not all given)."""
    known = encoder.known
    if encoder.compression != NONE or any(v is None for v in known.values()):
        return None
    size = known["onnx_size_bytes"]
    return len(encoder.head()) + base64_length(size) + len(encoder.tail())


def iter_range(encoder: BundleEncoder, start: int, stop: int) -> Iterator[bytes]:
    """Bytes ``start..stop-1`` of the plain bundle ``encoder`` describes (not verified).

    The encoder's payload must be positioned at the payload's first byte; it is read only
    as far as the range needs. ``plain_length(encoder)`` must not be None.
    """
    total = plain_length(encoder)
    if total is None:
        raise ValueError("only a plain bundle with size and checksums known in advance has ranges")
    if not 0 <= start <= stop <= total:
        raise ValueError(f"range {start}-{stop} outside 0-{total}")
    head = encoder.head()
    size = encoder.known["onnx_size_bytes"]
    text_end = len(head) + base64_length(size)
    if start < len(head):
        yield head[start : min(stop, len(head))]
    a, b = max(start, len(head)) - len(head), min(stop, text_end) - len(head)
    if a < b:
        yield from _base64_range(encoder, a, b, size)
    if stop > text_end:
        tail = encoder.tail()
        yield tail[max(start, text_end) - text_end : stop - text_end]


def _base64_range(encoder: BundleEncoder, a: int, b: int, size: int) -> Iterator[bytes]:
    """Characters ``a..b-1`` of the payload's base64 text."""
    payload, chunk_size = encoder.payload, encoder.chunk_size
    raw_start, drop = (a // 4) * 3, a % 4
    raw_stop = min(size, -(-b // 4) * 3)
    if raw_start and is_seekable(payload):
        payload.seek(payload.tell() + raw_start)
    else:
        _discard(payload, raw_start)
    left, want = raw_stop - raw_start, b - a
    carry = b""
    while want > 0:
        if left > 0:
            chunk = payload.read(min(chunk_size, left))
            if not chunk:
                raise EOFError(f"payload ended {left} bytes early")
            left -= len(chunk)
            data = carry + chunk if carry else bytes(chunk)
        elif carry:
            data = carry
        else:
            break
        carry = b""
        if left > 0 and len(data) % 3:  # encode whole 3-byte groups until the last read
            cut = len(data) - len(data) % 3
            data, carry = data[:cut], data[cut:]
        if not data:
            continue
        text = pybase64.b64encode(data)
        if drop:
            text, drop = text[drop:], 0
        if len(text) > want:
            text = text[:want]
        want -= len(text)
        if text:
            yield text


def _discard(payload: object, n: int) -> None:
    read = payload.read  # type: ignore[attr-defined]
    while n > 0:
        got = read(min(n, 1 << 20))
        if not got:
            raise EOFError(f"payload ended {n} bytes early")
        n -= len(got)
