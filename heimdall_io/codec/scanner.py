"""An incremental JSON scanner for the skeleton of a bundle.

It walks the top-level object and the ``model`` object key by key and hands every other
value to the C JSON parser as one bounded slice. The one string that may be huge
(``model.onnx_model_base64``) is streamed from the same buffer by :mod:`.payload`. All
searching is done by ``re`` and ``bytes.find`` in C; Python runs once per token of
*metadata*, never per payload byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import (
    DuplicateKeyError,
    LimitExceededError,
    MalformedBundleError,
    MetadataLimitError,
    TruncatedBundleError,
)
from ..sizes import format_size

_WS = re.compile(rb"[ \t\r\n]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
# What matters inside a container value: brackets, and quotes (strings may hold brackets).
_STRUCTURE = re.compile(rb'["\[\]{}]')
_SCALAR = re.compile(rb"[-+.0-9A-Za-z]+")
_MAX_KEY = 4096
# Every byte but the three that count as JSON values (see Limits.max_metadata_values).
_NOT_VALUES = bytes(b for b in range(256) if b not in b",[{")


def count_values(buf: bytes, start: int, end: int) -> int:
    """The JSON values in ``buf[start:end]`` as :class:`Limits` counts them, in C."""
    if end - start < 64:
        return (
            buf.count(b",", start, end) + buf.count(b"[", start, end) + buf.count(b"{", start, end)
        )
    return len(buf[start:end].translate(None, _NOT_VALUES))


@dataclass(frozen=True)
class Limits:
    """Safety bounds for reading untrusted bundles.

    Example::

        info = read_bundle(src, sink, limits=Limits(max_payload_bytes=8 << 30))
    """

    #: All bytes outside the payload (metadata, whitespace) together.
    max_metadata_bytes: int = 16 << 20
    #: JSON values outside the payload, counted as the bytes ``,``, ``[`` and ``{`` (an
    #: array or object of n items has n - 1 commas and one bracket). Bounds the memory of
    #: parsed metadata; counted in C before each value is parsed.
    max_metadata_values: int = 1_000_000
    #: Members of the top-level object, and of ``model``: the walk visits them one by one.
    max_members: int = 10_000
    #: Nesting depth of any JSON value, counted from the document root.
    max_depth: int = 64
    #: Largest decoded payload; None for no limit.
    max_payload_bytes: int | None = None
    #: Largest expansion of a compressed bundle (see compression.MAX_RATIO).
    max_ratio: int = 1024


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return obj


def _no_constants(name: str) -> Any:
    raise MalformedBundleError(f"non-standard JSON number {name}")


def loads(raw: bytes | memoryview, where: str) -> Any:
    """Parse one JSON value, refusing duplicate keys and NaN/Infinity; errors name ``where``."""
    try:
        return json.loads(
            bytes(raw), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except MalformedBundleError as e:
        raise MalformedBundleError(f"{e} in {where}: JSON has no NaN or Infinity") from None
    except DuplicateKeyError as e:
        raise DuplicateKeyError(f"{e} (in {where})") from None
    except (ValueError, RecursionError) as e:
        raise MalformedBundleError(f"invalid JSON in {where}: {e}") from None


class Scanner:
    """A forward-only cursor over a byte stream, with bounded lookahead.

    ``buf[pos:]`` is what has been read and not yet consumed; ``base`` is the offset of
    ``buf[0]`` in the stream. Metadata is consumed through the token methods, which count
    it against ``limits.max_metadata_bytes``; the payload module moves ``pos`` itself,
    since the payload does not count.
    """

    def __init__(self, stream: BinaryIO, limits: Limits, prefix: bytes = b"") -> None:
        self.stream = stream
        self.limits = limits
        self.buf = prefix
        self.pos = 0
        self.base = 0  # absolute offset of buf[0] in the (decompressed) stream
        self.eof = False
        self.metadata_bytes = 0
        self.metadata_values = 0

    # -- buffer management -------------------------------------------------------------

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self, size: int = 1 << 13) -> bool:
        """Read up to ``size`` more bytes, dropping what lies before ``pos``. False at EOF."""
        if self.eof:
            return False
        data = self.stream.read(size)
        if not data:
            self.eof = True
            return False
        self.base += self.pos
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def reset(self, offset: int) -> None:
        """Forget the buffer; the caller has positioned the stream at ``offset``."""
        self.buf, self.pos, self.base, self.eof = b"", 0, offset, False

    def _consume(self, n: int, where: str = "metadata", values: int | None = None) -> None:
        """Move past ``n`` bytes of metadata holding ``values`` JSON values (None: count
        them), checking both budgets."""
        start = self.pos
        self.pos += n
        self.metadata_bytes += n
        if self.metadata_bytes > self.limits.max_metadata_bytes:
            raise MetadataLimitError(
                f"metadata larger than {format_size(self.limits.max_metadata_bytes)} "
                "(outside the payload)"
            )
        if values is None:
            values = count_values(self.buf, start, self.pos) if n else 0
        self.metadata_values += values
        if self.metadata_values > self.limits.max_metadata_values:
            raise self._too_many_values(where)

    def _too_many_values(self, where: str) -> MetadataLimitError:
        return MetadataLimitError(
            f"metadata holds more than {self.limits.max_metadata_values:,} JSON values "
            f"(outside the payload; in {where})"
        )

    def truncated(self, where: str) -> TruncatedBundleError:
        """The error for input that ends inside ``where``, at the current offset."""
        return TruncatedBundleError(f"bundle truncated at byte {self.offset} ({where})")

    # -- tokens --------------------------------------------------------------------------

    def skip_ws(self) -> None:
        while True:
            m = _WS.match(self.buf, self.pos)
            assert m is not None
            self._consume(m.end() - self.pos)
            if self.pos < len(self.buf) or not self.fill():
                return

    def peek(self, where: str) -> int:
        """The next non-blank byte, not consumed."""
        self.skip_ws()
        if self.pos >= len(self.buf):
            raise self.truncated(where)
        return self.buf[self.pos]

    def expect(self, char: bytes, where: str) -> None:
        c = self.peek(where)
        if c != char[0]:
            raise MalformedBundleError(
                f"expected {char.decode()!r} at byte {self.offset} ({where}), found {chr(c)!r}"
            )
        self._consume(1, where)

    def accept(self, char: bytes, where: str) -> bool:
        """Consume ``char`` if it is the next non-blank byte; say whether it was."""
        if self.peek(where) != char[0]:
            return False
        self._consume(1, where)
        return True

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.buf)

    def read_key(self, where: str) -> str:
        if self.peek(where) != ord('"'):
            raise MalformedBundleError(
                f"expected a key at byte {self.offset} ({where}), found {chr(self.buf[self.pos])!r}"
            )
        while (m := _STRING.match(self.buf, self.pos)) is None:
            if len(self.buf) - self.pos > _MAX_KEY:
                raise LimitExceededError(f"key longer than {_MAX_KEY} bytes ({where})")
            if not self.fill():
                raise self.truncated(where)
        key = loads(self.buf[self.pos : m.end()], where)
        self._consume(m.end() - self.pos, where)
        return key

    def members(self, where: str) -> Iterator[str]:
        """Keys of an object whose ``{`` was consumed; each value must be read by the caller."""
        first, count = True, 0
        while True:
            c = self.peek(where)
            if c == ord("}"):
                self._consume(1, where)
                return
            if not first:
                if c != ord(","):
                    raise MalformedBundleError(
                        f"expected ',' or '}}' at byte {self.offset} ({where}), found {chr(c)!r}"
                    )
                self._consume(1, where)
            count += 1
            if count > self.limits.max_members:
                raise MetadataLimitError(
                    f"{where} has more than {self.limits.max_members:,} members"
                )
            key = self.read_key(where)
            self.expect(b":", where)
            first = False
            yield key

    def read_value(self, where: str, depth: int) -> Any:
        """Read and parse one complete JSON value starting at the cursor."""
        c = self.peek(where)
        if c in b"{[":
            end, values = _container_end(self, where, depth)
        else:
            end, values = self._value_end(c, where), None
        raw = self.buf[self.pos : end]
        self._consume(end - self.pos, where, values)  # counted before they are parsed
        return loads(raw, where)

    def _value_end(self, c: int, where: str) -> int:
        """Index in ``buf`` just past the scalar starting at the cursor, reading as needed.

        Scanning resumes where it stopped after each read (never from the value's start)
        and reads grow geometrically, so a value of n bytes costs O(n) however it is cut.
        """
        if c == ord('"'):
            i = self.pos + 1
            while (e := _string_end(self.buf, i)) < 0:
                i = self._more(len(self.buf), where)
            return e
        i = self.pos
        while True:
            m = _SCALAR.match(self.buf, i)
            end = m.end() if m else i
            if end == self.pos:
                raise MalformedBundleError(f"unexpected {chr(c)!r} at byte {self.offset} ({where})")
            if end < len(self.buf):
                return end
            try:
                i = self._more(end, where)
            except TruncatedBundleError:
                return end  # a number at the very end: the caller reports what is missing

    def _more(self, i: int, where: str) -> int:
        """Read more of the value that starts at ``pos``; return ``i`` shifted to match."""
        limit = self.limits.max_metadata_bytes
        have = len(self.buf) - self.pos
        if have > limit:
            raise MetadataLimitError(f"{where} larger than {format_size(limit)}")
        rel = i - self.pos
        # Double what is held (at least 64 KiB), but never read far past the limit.
        if not self.fill(max(1 << 16, min(have, limit + 1 - have))):
            raise self.truncated(where)
        return self.pos + rel


def _container_end(scan: Scanner, where: str, depth: int) -> tuple[int, int]:
    """:meth:`Scanner._value_end` of an object or array, and the values in it.

    Python steps from bracket to quote to bracket, over bytes whose values
    :func:`_look_ahead` has counted (after the first read).
    """
    max_depth = scan.limits.max_depth
    search = _STRUCTURE.search
    level, i, in_string = 0, scan.pos, False
    counted_to, ahead = scan.base + scan.pos, 0  # values in [offset, counted_to)
    while True:
        buf = scan.buf
        while True:
            if in_string:  # _string_end, inlined: strings are most of the tokens
                q = buf.find(b'"', i)
                while q > 0 and buf[q - 1] == 0x5C and is_escaped(buf, q):
                    q = buf.find(b'"', q + 1)
                if q < 0:
                    i = len(buf)
                    break
                i, in_string = q + 1, False
            m = search(buf, i)
            if m is None:
                i = len(buf)
                break
            i = m.end()
            tok = buf[i - 1]
            if tok == 0x22:  # '"'
                in_string = True
            elif tok in b"{[":
                level += 1
                if depth + level > max_depth:
                    raise LimitExceededError(
                        f"JSON nested deeper than {max_depth} levels ({where})"
                    )
            else:
                level -= 1
                if level == 0:
                    counted = counted_to - scan.base
                    if counted <= i:
                        return i, ahead + count_values(buf, counted, i)
                    return i, ahead - count_values(buf, i, counted)
        i = scan._more(i, where)
        i, counted_to, ahead = _look_ahead(scan, i, counted_to, ahead, where)


def _look_ahead(
    scan: Scanner, i: int, counted_to: int, ahead: int, where: str
) -> tuple[int, int, int]:
    """Count the values just read, before Python scans them: fail when those from
    ``scan.offset`` on are too many; while they are many (an eighth of the budget), read on
    first, up to what the metadata limit leaves, so that a flood of tiny values is
    refused having scanned few of them.

    ``counted_to`` (a stream offset) and ``ahead`` say how far values are counted and
    how many there are from ``scan.offset``; returned updated, with ``i`` (an index in
    ``buf``) moved with the buffer. Every buffered byte is metadata, or payload (whose
    base64 has no ``,``, ``[`` or ``{``), or bytes that make the bundle invalid anyway.
    """
    limit = scan.limits.max_metadata_values
    room = scan.limits.max_metadata_bytes - scan.metadata_bytes
    while True:
        buf, pos = scan.buf, scan.pos
        ahead += count_values(buf, counted_to - scan.base, len(buf))
        counted_to = scan.base + len(buf)
        if scan.metadata_values + ahead > limit:
            raise scan._too_many_values(where)
        have = len(buf) - pos
        if scan.metadata_values + ahead <= limit >> 3 or have > room or not scan.fill(have):
            return i, counted_to, ahead
        i -= pos  # fill() moved the buffer's start to pos


def _string_end(buf: bytes, i: int) -> int:
    """Index just past the first unescaped ``"`` at or after ``i``; -1 if there is none.

    ``i`` must lie inside a string (after its opening quote, not inside an escape).
    """
    while (q := buf.find(b'"', i)) >= 0:
        if not is_escaped(buf, q):
            return q + 1
        i = q + 1
    return -1


def is_escaped(buf: bytes, q: int) -> bool:
    """True if ``buf[q]`` follows an odd run of backslashes (so a quote there is text)."""
    n, i = 0, q - 1
    while i >= 0 and buf[i] == 0x5C:
        n, i = n + 1, i - 1
    return n % 2 == 1
