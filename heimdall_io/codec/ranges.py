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

A bundle with external data files (format 1.2.0) is laid out the same way, one base64
text per file between literal parts (:func:`plain_layout`): sized when every file's size
and digests are known in advance too.

A range is not verified: only the whole payload can be checked against its digests, which
is what a client that assembles the ranges does at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import pybase64

from .compression import NONE
from .encoder import EXTERNAL_OPEN, BundleEncoder, entry_head, entry_tail
from .streams import is_seekable

__all__ = ["base64_length", "iter_range", "plain_layout", "plain_length"]

#: A part of a plain bundle: literal bytes, or (payload index, size): 0 is the model,
#: ``i`` the ``i``-th external data file, whose base64 text stands there.
Part = bytes | tuple[int, int]


def base64_length(size: int) -> int:
    """Characters of padded base64 for ``size`` bytes.

    >>> base64_length(17)
    24
    """
    return 4 * ((size + 2) // 3)


def plain_layout(encoder: BundleEncoder) -> list[Part] | None:
    """The plain bundle ``encoder`` will produce as literal parts and payload texts, or None
    if it is not known in advance (a compressed bundle, or a size or digest not given)."""
    known = encoder.known
    if encoder.compression != NONE or any(v is None for v in known.values()):
        return None
    if any(s.md5 is None or s.sha256 is None for s in encoder.external):
        return None
    parts: list[Part] = [encoder.head(), (0, known["onnx_size_bytes"])]
    if not encoder.external:
        return [*parts, encoder.tail()]
    literal = EXTERNAL_OPEN  # (it closes the payload's string)
    for i, source in enumerate(encoder.external):
        parts += [literal + entry_head(i, source.entry()), (i + 1, source.size)]
        literal = entry_tail(source.entry(), None)
    return [*parts, literal + b"]" + encoder.closing(None)]


def plain_length(encoder: BundleEncoder) -> int | None:
    """The exact byte length ``encoder`` will produce, or None if it is not known in
    advance (a compressed bundle, or size/MD5/SHA-256 not all given)."""
    layout = plain_layout(encoder)
    if layout is None:
        return None
    return sum(len(p) if isinstance(p, bytes) else base64_length(p[1]) for p in layout)


def iter_range(encoder: BundleEncoder, start: int, stop: int) -> Iterator[bytes]:
    """Bytes ``start..stop-1`` of the plain bundle ``encoder`` describes (not verified).

    The encoder's payload must be positioned at the payload's first byte; it is read only
    as far as the range needs. ``plain_length(encoder)`` must not be None.
    """
    layout = plain_layout(encoder)
    if layout is None:
        raise ValueError("only a plain bundle with size and checksums known in advance has ranges")
    total = sum(len(p) if isinstance(p, bytes) else base64_length(p[1]) for p in layout)
    if not 0 <= start <= stop <= total:
        raise ValueError(f"range {start}-{stop} outside 0-{total}")
    at = 0
    for part in layout:
        length = len(part) if isinstance(part, bytes) else base64_length(part[1])
        a, b = max(start, at) - at, min(stop, at + length) - at
        at += length
        if a >= b:
            continue
        if isinstance(part, bytes):
            yield part[a:b]
        elif part[0] == 0:
            yield from _base64_range(encoder.payload, encoder.chunk_size, a, b, part[1])
        else:
            with encoder.external[part[0] - 1].open() as f:
                yield from _base64_range(f, encoder.chunk_size, a, b, part[1])


def _base64_range(payload: BinaryIO, chunk_size: int, a: int, b: int, size: int) -> Iterator[bytes]:
    """Characters ``a..b-1`` of the base64 text of ``payload`` (``size`` bytes)."""
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
