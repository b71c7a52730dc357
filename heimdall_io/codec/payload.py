"""The payload string: its JSON text streamed and unescaped, then its base64 decoded.

``model.onnx_model_base64`` may be gigabytes long, so it is never held whole: the
scanner's buffer is refilled in large reads and handed on in slices (memoryviews, no
copy), and base64 is decoded a whole slice at a time. All searching is ``bytes.find``
in C, and escapes (rare: only other JSON writers produce them) are undone with
``bytes.replace``; Python runs once per read, never per byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator

import pybase64

from ..errors import InvalidBase64Error, PayloadTooLargeError
from .checksums import Digests, Hasher
from .scanner import Scanner, is_escaped

_UNICODE_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def iter_string(scan: Scanner, read_size: int, where: str) -> Iterator[bytes | memoryview]:
    """Content of the string whose opening quote ``scan`` consumed, unescaped, in chunks.

    Only escapes that can occur in base64 text are meaningful (``\\/``, ``\\n``,
    ``\\r``, ``\\t``, ``\\uXXXX``); anything else is passed through for the base64
    decoder to reject. Each chunk is valid until the next one is requested. On return
    ``scan`` is just past the closing quote.

    Example:

    ```python
    import io
    from heimdall_io.codec.payload import iter_string
    from heimdall_io.codec.scanner import Limits, Scanner

    scan = Scanner(io.BytesIO(b'"QUJD\\\\/w==" }'), Limits())
    scan.expect(b'"', "payload")
    assert b"".join(iter_string(scan, 1 << 20, "payload")) == b"QUJD/w=="
    ```
    """
    while True:
        buf, pos = scan.buf, scan.pos
        if len(buf) - pos < 8 and buf.find(b'"', pos) < 0:
            # Too little left to hold a whole escape: read on, keeping the tail.
            if scan.fill(read_size):
                continue
            if pos >= len(buf):
                raise scan.truncated(where)
        q = buf.find(b'"', pos)
        end = q if q >= 0 else len(buf)
        if q >= 0 and q > pos and buf[q - 1] == 0x5C and is_escaped(buf, q):
            raise InvalidBase64Error(f"invalid base64 in {where}: escaped quote")
        if buf.find(b"\\", pos, end) < 0:
            if end > pos:
                yield memoryview(buf)[pos:end]
            scan.pos = end
        else:
            stop = end
            if q < 0 and not scan.eof:
                k = buf.rfind(b"\\", max(pos, end - 6), end)
                tail = end - k
                if k >= 0 and (tail < 2 or (buf[k + 1] == 0x75 and tail < 6)):
                    stop = k  # incomplete escape: finish it with the next read
            yield _unescape(buf[pos:stop])
            scan.pos = stop
        if q >= 0 and scan.pos == q:
            scan.pos = q + 1
            return
        if scan.eof and scan.pos >= len(scan.buf):
            raise scan.truncated(where)


def skip_string(scan: Scanner, read_size: int, where: str) -> None:
    """Move ``scan`` past the string whose opening quote it consumed, without decoding it."""
    for _ in iter_string(scan, read_size, where):
        pass


def decode_base64(
    segments: Iterable[bytes | memoryview], where: str, position: Callable[[], int]
) -> Iterator[bytes]:
    """Strictly decode base64 text cut anywhere into ``segments``; yield non-empty chunks.

    Standard alphabet, ``=`` padding required, nothing after the padding. Each segment is
    decoded whole except its last ``len % 4`` bytes, carried into the next one.

    Args:
        segments (iterable of `bytes` or `memoryview`):
            The text, each piece read before the next is requested.
        where (`str`):
            The field named in error messages.
        position (`Callable[[], int]`):
            The current offset in the bundle, named in error messages.

    Raises:
        InvalidBase64Error: a character outside the alphabet, misplaced padding or a
            length that is not a multiple of 4.

    Example:

    ```python
    from heimdall_io.codec.payload import decode_base64

    chunks = decode_base64([b"QU", b"JDRA=", b"="], "payload", lambda: 0)
    assert b"".join(chunks) == b"ABCD"
    ```
    """
    decode = pybase64.b64decode
    carry = b""
    padded = False
    for seg in segments:
        if padded and len(seg):
            raise InvalidBase64Error(f"invalid base64 in {where}: data after padding")
        if carry:
            need = 4 - len(carry)
            carry += bytes(seg[:need])
            seg = seg[need:]
            if len(carry) < 4:
                continue
            block, carry = carry, b""
            if block[-1] == 0x3D and len(seg):  # '=' then more: padding mid-way
                raise InvalidBase64Error(f"invalid base64 in {where}: data after padding")
        else:
            block = b""
        whole = len(seg) & ~3
        try:
            out = decode(block, validate=True) if block else b""
            if whole:
                out = (
                    out + decode(seg[:whole], validate=True)
                    if out
                    else decode(seg[:whole], validate=True)
                )
        except ValueError:
            raise InvalidBase64Error(f"invalid base64 in {where} near byte {position()}") from None
        carry = bytes(seg[whole:])
        last = seg[whole - 1] if whole else (block[-1] if block else 0)
        padded = last == 0x3D  # '='
        if out:
            yield out
    if carry:
        raise InvalidBase64Error(f"invalid base64 in {where}: length is not a multiple of 4")


def decode_hashed(
    scan: Scanner,
    read_size: int,
    where: str,
    *,
    busy: bool,
    max_size: int | None,
    progress: Callable[[int], None] | None,
    what: str = "model",
) -> Generator[bytes, None, Digests]:
    """The string whose opening quote ``scan`` consumed, base64-decoded and hashed (MD5 and
    SHA-256 on threads; ``busy``: the caller's thread decompresses too); returns its
    digests. PayloadTooLargeError past ``max_size`` decoded bytes."""
    text = iter_string(scan, read_size, where)
    with Hasher(busy_caller=busy) as hasher:
        for out in decode_base64(text, where, lambda: scan.offset):
            hasher.update(out)
            if max_size is not None and hasher.size > max_size:
                raise PayloadTooLargeError(f"{what} larger than the limit of {max_size} bytes")
            if progress is not None:
                progress(len(out))
            yield out
        return hasher.digests()


def _unescape(seg: bytes) -> bytes:
    seg = seg.replace(b"\\n", b"").replace(b"\\r", b"").replace(b"\\/", b"/")
    seg = seg.replace(b"\\t", b"")
    if b"\\u" in seg:
        seg = _UNICODE_ESCAPE.sub(_unicode_escape, seg)
    return seg


def _unicode_escape(m: re.Match[bytes]) -> bytes:
    # \u000A is the same string as \n: line breaks are dropped however they are spelled.
    char = chr(int(m.group(1), 16))
    return b"" if char in "\n\r\t" else char.encode("utf-8", "surrogatepass")
