"""Metadata of an ONNX model read straight from the protobuf wire format.

``onnx.load`` parses every weight into memory; a registry that handles multi-GiB models
must not. This module walks the few ModelProto fields it needs (IR version, producer,
default-domain opset, graph inputs/outputs, initializer shapes) and seeks over everything
else, so the cost is a few reads of a few KiB whatever the size of the model.

Only the fixed path ModelProto -> GraphProto -> ValueInfoProto -> TypeProto -> shape is
descended (never node attributes or nested types), so nesting depth is bounded by design.
Semantics follow protobuf: the last value of a scalar field wins, repeated embedded messages
accumulate, and a singular embedded message that occurs twice is merged.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from heimdall_io.errors import FileAccessError, InvalidModelError, NotFoundError

__all__ = ["OnnxInfo", "SeekableBinary", "TensorSpec", "read_onnx_info", "read_onnx_info_path"]

# Protobuf wire types; 3 and 4 (groups) are not used by ONNX and are rejected.
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1
# How much is read at once: the header of a typical model fits in one read.
_READ_CHUNK = 8 * 1024
# Strings and packed dims longer than this are not plausible ONNX metadata.
_MAX_INLINE_BYTES = 1 << 20

# TypeProto "value" oneof members; only the tensor-like ones carry elem_type and shape.
_TYPE_TENSOR, _TYPE_SPARSE_TENSOR = 1, 8
_TYPE_ONEOF = frozenset({1, 4, 5, 7, 8, 9})
_DEFAULT_DOMAINS = ("", "ai.onnx")


class SeekableBinary(Protocol):
    """A binary file object that can seek, such as ``open(path, "rb")`` or ``io.BytesIO``."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: dims are ``int`` (dim_value), ``str`` (dim_param) or ``None``.

    ``elem_type`` is the ``onnx.TensorProto.DataType`` number and ``shape`` is ``None`` when
    the type has no shape; both are ``None`` when the value is not a (sparse) tensor.
    """

    name: str
    elem_type: int | None
    shape: list[int | str | None] | None


@dataclass(frozen=True)
class OnnxInfo:
    """What the registry records about a model, taken from its ONNX file."""

    ir_version: int | None
    producer_name: str | None
    opset: int | None
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    parameters_count: int
    size_bytes: int

    @property
    def input_shape(self) -> list[int | str | None] | None:
        """Shape of the first model input, if any."""
        return self.inputs[0].shape if self.inputs else None

    @property
    def output_shape(self) -> list[int | str | None] | None:
        """Shape of the first model output, if any."""
        return self.outputs[0].shape if self.outputs else None


def read_onnx_info(fileobj: SeekableBinary) -> OnnxInfo:
    """Read the metadata of the ONNX model stored from the current position to the end.

    Raises :class:`InvalidModelError` when the bytes are not a ModelProto with a graph.
    The file position afterwards is unspecified.
    """
    base = fileobj.tell()
    size = fileobj.seek(0, io.SEEK_END) - base
    if size <= 0:
        raise InvalidModelError("not an ONNX model: the file is empty")
    return _parse_model(_Reader(fileobj, base, size))


def read_onnx_info_path(path: str | os.PathLike[str]) -> OnnxInfo:
    """:func:`read_onnx_info` of a file; a missing or unreadable path is a HeimdallError too."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            # Opening a FIFO would block; a directory or device is not a model.
            raise FileAccessError(f"{os.fspath(path)}: not a regular file")
        with open(path, "rb") as fileobj:
            return read_onnx_info(fileobj)
    except FileNotFoundError as exc:
        raise NotFoundError(f"{os.fspath(path)}: no such file") from exc
    except OSError as exc:
        raise FileAccessError(f"{os.fspath(path)}: {exc.strerror or exc}") from exc


class _Reader:
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

    def fail(self, what: str, at: int) -> NoReturn:
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
        offset = self._load(self.pos, count)
        self.pos += count
        return self._buf[offset : offset + count]


def _fields(reader: _Reader, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_start, number, wire_type, value)`` for the message in ``[pos, end)``.

    ``value`` is the integer of a varint field and the payload length of a length-delimited
    one, with ``reader.pos`` at the payload; fixed-size fields yield 0. After each yield the
    reader is placed past the field, whatever the consumer read, so payloads are skipped by
    moving a position, never by reading them.
    """
    while reader.pos < end:
        start = reader.pos
        key = reader.varint(end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            reader.fail("field number 0", start)
        if wire_type == _VARINT:
            yield start, number, wire_type, reader.varint(end)
            continue
        if wire_type == _LEN:
            length = reader.varint(end)
            field_end = reader.pos + length
        elif wire_type == _FIXED64:
            length, field_end = 0, reader.pos + 8
        elif wire_type == _FIXED32:
            length, field_end = 0, reader.pos + 4
        else:
            reader.fail(f"invalid wire type {wire_type} (field {number})", start)
        if field_end > end:
            if end == reader.size:
                reader.fail(f"truncated field {number}", start)
            reader.fail(f"field {number} overruns its enclosing message", start)
        yield start, number, wire_type, length
        reader.pos = field_end


def _expect(reader: _Reader, start: int, number: int, wire_type: int, expected: int) -> None:
    if wire_type != expected:
        reader.fail(f"field {number} has wire type {wire_type}, expected {expected}", start)


def _string(reader: _Reader, start: int, length: int) -> str:
    if length > _MAX_INLINE_BYTES:
        reader.fail(f"string of {length} bytes", start)
    try:
        return reader.take(length).decode("utf-8")
    except UnicodeDecodeError:
        reader.fail("string is not UTF-8", start)


def _int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _int32(value: int) -> int:
    # protobuf keeps the low 32 bits of an int32 varint (negatives are sign-extended to 64).
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass
class _GraphParts:
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    constant_names: set[str] = field(default_factory=set)
    parameters_count: int = 0


@dataclass
class _TensorHeader:
    name: str = ""
    elements: int = 1  # product of dims; a tensor without dims is a scalar


@dataclass
class _ValueType:
    member: int | None = None  # which TypeProto oneof member was set last
    elem_type: int | None = None
    shape: list[int | str | None] | None = None


def _parse_model(reader: _Reader) -> OnnxInfo:
    ir_version: int | None = None
    producer_name: str | None = None
    opset: int | None = None
    graph: _GraphParts | None = None
    for start, number, wire_type, value in _fields(reader, reader.size):
        if number == 1:  # ir_version
            _expect(reader, start, number, wire_type, _VARINT)
            ir_version = _int64(value)
        elif number == 2:  # producer_name
            _expect(reader, start, number, wire_type, _LEN)
            producer_name = _string(reader, start, value)
        elif number == 7:  # graph; a repeated occurrence merges into the first
            _expect(reader, start, number, wire_type, _LEN)
            graph = graph or _GraphParts()
            _parse_graph(reader, reader.pos + value, graph)
        elif number == 8:  # opset_import
            _expect(reader, start, number, wire_type, _LEN)
            domain, version = _parse_opset_id(reader, reader.pos + value)
            if domain in _DEFAULT_DOMAINS:
                opset = version
    if graph is None:
        reader.fail("no graph", reader.size)
    return OnnxInfo(
        ir_version=ir_version,
        producer_name=producer_name,
        opset=opset,
        # Older exporters list every initializer as a graph input too; those are weights.
        inputs=[spec for spec in graph.inputs if spec.name not in graph.constant_names],
        outputs=graph.outputs,
        parameters_count=graph.parameters_count,
        size_bytes=reader.size,
    )


def _parse_opset_id(reader: _Reader, end: int) -> tuple[str, int]:
    domain, version = "", 0
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:
            _expect(reader, start, number, wire_type, _LEN)
            domain = _string(reader, start, value)
        elif number == 2:
            _expect(reader, start, number, wire_type, _VARINT)
            version = _int64(value)
    return domain, version


def _parse_graph(reader: _Reader, end: int, graph: _GraphParts) -> None:
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:  # node: not needed, skipped whole
            _expect(reader, start, number, wire_type, _LEN)
        elif number == 5:  # initializer
            _expect(reader, start, number, wire_type, _LEN)
            tensor = _TensorHeader()
            _parse_tensor(reader, reader.pos + value, tensor)
            graph.constant_names.add(tensor.name)
            graph.parameters_count += tensor.elements
        elif number in (11, 12):  # input, output
            _expect(reader, start, number, wire_type, _LEN)
            spec = _parse_value_info(reader, reader.pos + value)
            (graph.inputs if number == 11 else graph.outputs).append(spec)
        elif number == 15:  # sparse_initializer: counted by its stored values
            _expect(reader, start, number, wire_type, _LEN)
            tensor = _TensorHeader()
            for v_start, v_number, v_wire_type, v_value in _fields(reader, reader.pos + value):
                if v_number == 1:  # values; a repeated occurrence merges
                    _expect(reader, v_start, v_number, v_wire_type, _LEN)
                    _parse_tensor(reader, reader.pos + v_value, tensor)
            graph.constant_names.add(tensor.name)
            graph.parameters_count += tensor.elements


def _parse_tensor(reader: _Reader, end: int, tensor: _TensorHeader) -> None:
    """Read dims (packed or not) and name; raw_data and the typed data fields are skipped."""
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:  # dims
            if wire_type == _VARINT:
                tensor.elements *= _dim(reader, start, value)
            elif wire_type == _LEN:
                if value > _MAX_INLINE_BYTES:
                    reader.fail(f"packed dims of {value} bytes", start)
                packed_end = reader.pos + value
                while reader.pos < packed_end:
                    tensor.elements *= _dim(reader, start, reader.varint(packed_end))
            else:
                _expect(reader, start, number, wire_type, _VARINT)
        elif number == 8:  # name
            _expect(reader, start, number, wire_type, _LEN)
            tensor.name = _string(reader, start, value)


def _dim(reader: _Reader, start: int, value: int) -> int:
    dim = _int64(value)
    if dim < 0:
        reader.fail(f"negative tensor dimension {dim}", start)
    return dim


def _parse_value_info(reader: _Reader, end: int) -> TensorSpec:
    name = ""
    value_type = _ValueType()
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:
            _expect(reader, start, number, wire_type, _LEN)
            name = _string(reader, start, value)
        elif number == 2:
            _expect(reader, start, number, wire_type, _LEN)
            _parse_type(reader, reader.pos + value, value_type)
    if value_type.member in (_TYPE_TENSOR, _TYPE_SPARSE_TENSOR):
        return TensorSpec(name, value_type.elem_type, value_type.shape)
    return TensorSpec(name, None, None)


def _parse_type(reader: _Reader, end: int, value_type: _ValueType) -> None:
    for start, number, wire_type, value in _fields(reader, end):
        if number not in _TYPE_ONEOF:
            continue
        _expect(reader, start, number, wire_type, _LEN)
        if value_type.member != number:  # setting another oneof member clears the old one
            value_type.member, value_type.elem_type, value_type.shape = number, 0, None
        if number in (_TYPE_TENSOR, _TYPE_SPARSE_TENSOR):
            _parse_tensor_type(reader, reader.pos + value, value_type)


def _parse_tensor_type(reader: _Reader, end: int, value_type: _ValueType) -> None:
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:  # elem_type
            _expect(reader, start, number, wire_type, _VARINT)
            value_type.elem_type = _int32(value)
        elif number == 2:  # shape (TensorShapeProto)
            _expect(reader, start, number, wire_type, _LEN)
            if value_type.shape is None:
                value_type.shape = []
            for d_start, d_number, d_wire_type, d_value in _fields(reader, reader.pos + value):
                if d_number == 1:  # dim
                    _expect(reader, d_start, d_number, d_wire_type, _LEN)
                    value_type.shape.append(_parse_dimension(reader, reader.pos + d_value))


def _parse_dimension(reader: _Reader, end: int) -> int | str | None:
    dim: int | str | None = None
    for start, number, wire_type, value in _fields(reader, end):
        if number == 1:  # dim_value; oneof with dim_param, the last one wins
            _expect(reader, start, number, wire_type, _VARINT)
            dim = _int64(value)
        elif number == 2:  # dim_param
            _expect(reader, start, number, wire_type, _LEN)
            dim = _string(reader, start, value)
    return dim
