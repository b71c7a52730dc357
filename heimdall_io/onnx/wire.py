"""The protobuf wire format, read by seeking and written by hand.

ONNX models are serialized ModelProtos. :class:`Reader` and :func:`fields` walk their fields
without parsing the payloads they skip, so reading the header of a multi-GiB model costs a few
small reads (:mod:`heimdall_io.onnx.metadata`, :mod:`heimdall_io.onnx.skeleton`).
:func:`encode_varint`, :func:`field_key` and :func:`len_key` are for writers of the format.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NoReturn, Protocol

from ..errors import InvalidModelError

__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "MAX_INLINE_BYTES",
    "VARINT",
    "Reader",
    "SeekableBinary",
    "SkeletonUnsupported",
    "SupportsWrite",
    "as_int32",
    "as_int64",
    "encode_varint",
    "field_key",
    "fields",
    "len_key",
    "varint_size",
]

# Protobuf wire types; 3 and 4 (groups) are not used by ONNX and are rejected.
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
# Strings and packed dims longer than this are not plausible ONNX metadata.
MAX_INLINE_BYTES = 1 << 20

_MASK64 = (1 << 64) - 1
# How much is read at once: the header of a typical model fits in one read.
_READ_CHUNK = 8 * 1024


class SeekableBinary(Protocol):
    """A binary file object that can seek, such as ``open(path, "rb")`` or ``io.BytesIO``."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


class SupportsWrite(Protocol):
    """A binary file object open for writing."""

    def write(self, data: bytes, /) -> object: ...


class SkeletonUnsupported(Exception):
    """The model is encoded in a way a skeleton cannot stand for exactly.

    Raised for tensors that already use external data (their location is relative to the
    model's directory) and for encodings protobuf may read differently from this module
    (field number 0, groups, non-minimal varints, nesting beyond protobuf's recursion limit).
    It is defined here because :func:`fields` in ``exact`` mode raises it;
    :mod:`heimdall_io.onnx.skeleton` is where it is used.
    """


class Reader:
    """Positioned reads over a window of a file, buffered in small chunks.

    Positions are relative to the start of the model. Skipping a field only moves
    ``pos``; bytes are read when a varint or a short string is actually needed.
    """

    def __init__(self, fileobj: SeekableBinary, base: int, size: int) -> None:
        self.size = size
        self.pos = 0
        self._file = fileobj
        self._base = base
        self._buf = b""
        self._buf_start = 0

    @classmethod
    def to_end(cls, fileobj: SeekableBinary) -> Reader:
        """A reader over ``fileobj`` from its current position to its end.

        Example:

        ```python
        import io
        from heimdall_io.onnx.wire import Reader

        reader = Reader.to_end(io.BytesIO(bytes.fromhex("0807")))
        assert (reader.size, reader.varint(reader.size)) == (2, 8)
        ```
        """
        base = fileobj.tell()
        return cls(fileobj, base, fileobj.seek(0, io.SEEK_END) - base)

    def fail(self, what: str, at: int) -> NoReturn:
        """Raise :class:`InvalidModelError` for ``what`` found at byte ``at``."""
        raise InvalidModelError(f"not an ONNX model: {what} at byte {at}")

    def _load(self, pos: int, count: int) -> int:
        """Make ``[pos, pos + count)`` buffered; return the offset of ``pos`` in the buffer."""
        offset = pos - self._buf_start
        if count == 0:
            return 0  # nothing to read; slicing the buffer at 0 gives b""
        if offset >= 0 and offset + count <= len(self._buf):
            return offset
        self._file.seek(self._base + pos)
        want = min(max(count, _READ_CHUNK), self.size - pos)
        parts: list[bytes] = []
        got = 0
        while got < want:  # raw files may return short reads
            part = self._file.read(want - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        if got < count:
            self.fail("file shrank while reading", pos + got)
        self._buf = b"".join(parts)
        self._buf_start = pos
        return 0

    def varint(self, end: int) -> int:
        """Decode the varint at ``pos``, which must end before ``end``."""
        start = self.pos
        available = min(10, end - start)
        if available <= 0:
            self.fail("truncated varint", start)
        offset = self._load(start, available)
        buf = self._buf
        value = 0
        for i in range(available):
            byte = buf[offset + i]
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                self.pos = start + i + 1
                return value & _MASK64  # as protobuf does, bits past 64 are dropped
        self.fail("truncated varint" if available < 10 else "varint longer than 10 bytes", start)

    def take(self, count: int) -> bytes:
        """The ``count`` bytes at ``pos``, which moves past them."""
        offset = self._load(self.pos, count)
        self.pos += count
        return self._buf[offset : offset + count]


def fields(reader: Reader, end: int, *, exact: bool = False) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_start, number, wire_type, value)`` for the message in ``[pos, end)``.

    ``value`` is the integer of a varint field and the payload length of a length-delimited
    one, with ``reader.pos`` at the payload; fixed-size fields yield 0. After each yield the
    reader is placed past the field, whatever the consumer read, so payloads are skipped by
    moving a position, never by reading them.

    ``exact`` is for rewriting (see :func:`heimdall_io.onnx.skeleton.plan_onnx_skeleton`):
    encodings protobuf may read differently from this reader (field number 0, groups, keys
    over 32 bits, varints longer than needed) raise :class:`SkeletonUnsupported` instead of
    being read or rejected.

    Example:

    ```python
    import io
    from heimdall_io.onnx.wire import LEN, VARINT, Reader, fields

    reader = Reader.to_end(io.BytesIO(bytes.fromhex("0807 1202 6869")))
    assert list(fields(reader, reader.size)) == [(0, 1, VARINT, 7), (2, 2, LEN, 2)]
    ```
    """
    while reader.pos < end:
        start = reader.pos
        key = reader.varint(end)
        if exact and (key > 0xFFFFFFFF or reader.pos - start != varint_size(key)):
            raise SkeletonUnsupported(f"unusual field key at byte {start}")
        number, wire_type = key >> 3, key & 7
        if exact and (number == 0 or wire_type in (3, 4)):
            # protobuf may take tag 0 for the end of the message, and skips groups.
            raise SkeletonUnsupported(f"field {number} of wire type {wire_type} at byte {start}")
        if number == 0:
            reader.fail("field number 0", start)
        if wire_type == VARINT:
            value_start = reader.pos
            value = reader.varint(end)
            if exact and reader.pos - value_start != varint_size(value):
                raise SkeletonUnsupported(f"non-minimal varint at byte {value_start}")
            yield start, number, wire_type, value
            continue
        if wire_type == LEN:
            length_start = reader.pos
            length = reader.varint(end)
            if exact and reader.pos - length_start != varint_size(length):
                raise SkeletonUnsupported(f"non-minimal length at byte {length_start}")
            field_end = reader.pos + length
        elif wire_type == FIXED64:
            length, field_end = 0, reader.pos + 8
        elif wire_type == FIXED32:
            length, field_end = 0, reader.pos + 4
        else:
            reader.fail(f"invalid wire type {wire_type} (field {number})", start)
        if field_end > end:
            if end == reader.size:
                reader.fail(f"truncated field {number}", start)
            reader.fail(f"field {number} overruns its enclosing message", start)
        yield start, number, wire_type, length
        reader.pos = field_end


def as_int64(value: int) -> int:
    """The int64 field value of a decoded varint (two's complement).

    Example:

    ```python
    from heimdall_io.onnx.wire import as_int64

    assert as_int64((1 << 64) - 1) == -1
    ```
    """
    return value - (1 << 64) if value >= 1 << 63 else value


def as_int32(value: int) -> int:
    """The int32 (or enum) field value of a decoded varint.

    Example:

    ```python
    from heimdall_io.onnx.wire import as_int32

    assert as_int32((1 << 64) - 3) == -3
    ```
    """
    # protobuf keeps the low 32 bits of an int32 varint (negatives are sign-extended to 64).
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def varint_size(value: int) -> int:
    """The length of the shortest varint encoding of ``value`` (which is not negative).

    Example:

    ```python
    from heimdall_io.onnx.wire import varint_size

    assert (varint_size(0), varint_size(127), varint_size(128)) == (1, 1, 2)
    ```
    """
    return max(1, (value.bit_length() + 6) // 7)


def encode_varint(value: int) -> bytes:
    """A protobuf varint (for writers of the wire format: skeletons, synthetic models).

    Example:

    ```python
    from heimdall_io.onnx.wire import encode_varint

    assert encode_varint(300).hex() == "ac02"
    ```
    """
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_key(number: int, wire_type: int) -> bytes:
    """The tag (key) of field ``number`` with ``wire_type``.

    Example:

    ```python
    from heimdall_io.onnx.wire import VARINT, field_key

    assert field_key(1, VARINT).hex() == "08"
    ```
    """
    return encode_varint(number << 3 | wire_type)


def len_key(number: int) -> bytes:
    """The tag of length-delimited field ``number``.

    Example:

    ```python
    from heimdall_io.onnx.wire import len_key

    assert len_key(7).hex() == "3a"  # ModelProto.graph
    ```
    """
    return field_key(number, LEN)
