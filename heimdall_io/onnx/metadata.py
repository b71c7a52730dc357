"""Metadata of an ONNX model read straight from the protobuf wire format.

``onnx.load`` parses every weight into memory; a registry that handles multi-GiB models
must not. This module walks the few ModelProto fields it needs (IR version, producer,
default-domain opset, graph inputs/outputs, initializer shapes) and seeks over everything
else, so the cost is a few reads of a few KiB whatever the size of the model.

Only the fixed path ModelProto -> GraphProto -> ValueInfoProto -> TypeProto -> shape is
descended (never node attributes or nested types), so nesting depth is bounded by design.
Semantics follow protobuf: the last value of a scalar field wins, repeated embedded messages
accumulate, and a singular embedded message that occurs twice is merged.

:func:`plan_onnx_skeleton` and :func:`write_onnx_skeleton` copy a model with the raw_data of
its large tensors left out (for onnx.checker, see :mod:`heimdall_io.onnx.checker`); they descend
into nodes, attributes and nested graphs too, never deeper than protobuf's recursion limit.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from heimdall_io.errors import FileAccessError, InvalidModelError, NotFoundError

__all__ = [
    "OnnxInfo",
    "RawDataTensor",
    "SeekableBinary",
    "SkeletonPlan",
    "SkeletonUnsupported",
    "SupportsWrite",
    "TensorRewrite",
    "TensorSpec",
    "plan_onnx_skeleton",
    "read_onnx_info",
    "read_onnx_info_path",
    "write_onnx_skeleton",
]

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


class SupportsWrite(Protocol):
    """A binary file object open for writing."""

    def write(self, data: bytes, /) -> object: ...


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


def _fields(
    reader: _Reader, end: int, *, exact: bool = False
) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_start, number, wire_type, value)`` for the message in ``[pos, end)``.

    ``value`` is the integer of a varint field and the payload length of a length-delimited
    one, with ``reader.pos`` at the payload; fixed-size fields yield 0. After each yield the
    reader is placed past the field, whatever the consumer read, so payloads are skipped by
    moving a position, never by reading them.

    ``exact`` is for rewriting (see :func:`plan_onnx_skeleton`): encodings protobuf may read
    differently from this reader (field number 0, groups, keys over 32 bits, varints longer
    than needed) raise :class:`SkeletonUnsupported` instead of being read or rejected.
    """
    while reader.pos < end:
        start = reader.pos
        key = reader.varint(end)
        if exact and (key > 0xFFFFFFFF or reader.pos - start != _varint_size(key)):
            raise SkeletonUnsupported(f"unusual field key at byte {start}")
        number, wire_type = key >> 3, key & 7
        if exact and (number == 0 or wire_type in (3, 4)):
            # protobuf may take tag 0 for the end of the message, and skips groups.
            raise SkeletonUnsupported(f"field {number} of wire type {wire_type} at byte {start}")
        if number == 0:
            reader.fail("field number 0", start)
        if wire_type == _VARINT:
            value_start = reader.pos
            value = reader.varint(end)
            if exact and reader.pos - value_start != _varint_size(value):
                raise SkeletonUnsupported(f"non-minimal varint at byte {value_start}")
            yield start, number, wire_type, value
            continue
        if wire_type == _LEN:
            length_start = reader.pos
            length = reader.varint(end)
            if exact and reader.pos - length_start != _varint_size(length):
                raise SkeletonUnsupported(f"non-minimal length at byte {length_start}")
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


# -- skeleton: the model without its large raw_data ------------------------------------------
#
# onnx.checker parses the whole ModelProto, weights included. A skeleton is a byte-for-byte
# copy of the model in which the raw_data of large tensors is left out and each such tensor
# is rewritten by the caller (for instance into an external-data reference), so the checker
# sees every other byte and framing exactly as in the original. Messages are re-framed only
# on the path to a rewritten tensor; everything else is copied verbatim in chunks.

# Messages the skeleton descends into, and for each the LEN fields that hold one.
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _FUNCTION, _SPARSE, _TENSOR = range(7)
_SUBMESSAGES: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 25: _FUNCTION},  # graph, functions
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},  # node, initializer, sparse_initializer
    _NODE: {5: _ATTRIBUTE},
    # t, g, tensors, graphs, sparse_tensor, sparse_tensors
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _FUNCTION: {7: _NODE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},  # values, indices: looked at, never rewritten
}
# protobuf's default recursion limit; deeper models are left to the full parser.
_MAX_DEPTH = 100
# TensorProto fields: dims, data_type, name, raw_data, external_data, data_location, and the
# typed value fields (float_data, int32_data, string_data, int64_data, double_data, uint64_data).
_T_DIMS, _T_DATA_TYPE, _T_NAME, _T_RAW_DATA, _T_EXTERNAL_DATA, _T_DATA_LOCATION = 1, 2, 8, 9, 13, 14
_T_TYPED_DATA = frozenset({4, 5, 6, 7, 10, 11})
# Fields a rewrite may leave out: scalars and raw bytes, whose framing the planner has read
# whole. Embedded messages (whose content protobuf would parse) always stay.
_DROPPABLE = frozenset({_T_DIMS, _T_DATA_TYPE, _T_RAW_DATA, _T_DATA_LOCATION})
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_FIXED_SIZES = {_FIXED64: 8, _FIXED32: 4}
_COPY_CHUNK = 1 << 20


class SkeletonUnsupported(Exception):
    """The model is encoded in a way a skeleton cannot stand for exactly.

    Raised for tensors that already use external data (their location is relative to the
    model's directory) and for encodings protobuf may read differently from this module
    (field number 0, groups, non-minimal varints, nesting beyond protobuf's recursion limit).
    """


@dataclass(frozen=True)
class RawDataTensor:
    """A TensorProto whose raw_data leaves the skeleton (see :func:`plan_onnx_skeleton`).

    ``name``, ``dims`` and ``data_type`` are as protobuf reads them (``data_type`` is
    ``None`` when unset); ``raw_offset`` and ``raw_length`` locate the raw_data bytes from
    the start of the model. raw_data is the tensor's only value field and it has no
    external_data.
    """

    name: bytes
    dims: tuple[int, ...]
    data_type: int | None
    raw_offset: int
    raw_length: int


@dataclass(frozen=True)
class TensorRewrite:
    """How a :class:`RawDataTensor` is written into the skeleton.

    The tensor's fields are copied in order except raw_data and those in ``drop`` (a subset
    of dims=1, data_type=2, data_location=14), then ``append`` (serialized TensorProto fields,
    which protobuf merges into the tensor) is added at its end.
    """

    append: bytes
    drop: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Framed:
    """A length-delimited field whose payload is rewritten: ``key`` then the new length."""

    key: bytes
    pieces: list[_Piece]


@dataclass(frozen=True)
class _Rewritten:
    """A TensorProto field (``key``, payload ``[start, end)``) rewritten as ``tensors[index]``."""

    key: bytes
    index: int
    start: int
    end: int


# A byte range of the model, bytes to write, or a rewritten field.
_Piece = tuple[int, int] | bytes | _Framed | _Rewritten


@dataclass(frozen=True)
class SkeletonPlan:
    """Where the large raw_data of a model is, and how to write the rest around it."""

    size: int
    tensors: list[RawDataTensor]
    _pieces: list[_Piece]


def plan_onnx_skeleton(fileobj: SeekableBinary, *, min_raw_bytes: int = 1024) -> SkeletonPlan:
    """Find the tensors whose raw_data (of ``min_raw_bytes`` or more) a skeleton leaves out.

    Tensors are looked for where onnx.checker looks at them: graph initializers, tensor
    attributes of nodes (in the graph, nested graphs and model functions). Sparse tensors
    and tensors with any other value field or with external_data entries stay whole.
    Reads the model from the current position to the end, skipping over payloads.

    Raises :class:`InvalidModelError` for framing that protobuf cannot parse either (a
    truncated or overrunning field, wire types 6 and 7) and :class:`SkeletonUnsupported`
    when a skeleton cannot stand for the model exactly.
    """
    base = fileobj.tell()
    size = fileobj.seek(0, io.SEEK_END) - base
    reader = _Reader(fileobj, base, size)
    planner = _Planner(reader, max(1, min_raw_bytes))
    pieces = planner.message(_MODEL, size, 0, rewrite=True)
    return SkeletonPlan(size, planner.tensors, [(0, size)] if pieces is None else pieces)


def write_onnx_skeleton(
    plan: SkeletonPlan,
    fileobj: SeekableBinary,
    out: SupportsWrite,
    rewrites: list[TensorRewrite | None],
) -> int:
    """Write the skeleton of the planned model to ``out``; return its size in bytes.

    ``fileobj`` is the model the plan was made from, at the same position; ``rewrites``
    gives one :class:`TensorRewrite` per ``plan.tensors`` entry, or ``None`` to copy that
    tensor whole after all.
    """
    if len(rewrites) != len(plan.tensors):
        raise ValueError(f"{len(rewrites)} rewrites for {len(plan.tensors)} tensors")
    for rewrite in rewrites:
        if rewrite is not None and not rewrite.drop <= _DROPPABLE:
            raise ValueError(f"cannot drop fields {sorted(rewrite.drop - _DROPPABLE)}")
    base = fileobj.tell()
    if fileobj.seek(0, io.SEEK_END) - base != plan.size:
        raise InvalidModelError("not an ONNX model: the file changed while it was checked")
    reader = _Reader(fileobj, base, plan.size)
    resolved = [_resolve(reader, piece, rewrites) for piece in plan._pieces]
    written = 0
    for chunk in _emit(reader, resolved):
        out.write(chunk)
        written += len(chunk)
    return written


class _Planner:
    def __init__(self, reader: _Reader, min_raw_bytes: int) -> None:
        self.reader = reader
        self.min_raw_bytes = min_raw_bytes
        self.tensors: list[RawDataTensor] = []

    def message(self, kind: int, end: int, depth: int, *, rewrite: bool) -> list[_Piece] | None:
        """Plan the message of ``kind`` in ``[pos, end)``; ``None`` when it stays as it is."""
        if depth > _MAX_DEPTH:
            raise SkeletonUnsupported(f"messages nested deeper than {_MAX_DEPTH}")
        if self.nothing_inside(end):
            return None
        reader = self.reader
        start = reader.pos
        children = _SUBMESSAGES[kind]
        rewrite_t = rewrite
        if kind == _ATTRIBUTE and rewrite:
            # AttributeProto.t is a singular message: repeated occurrences merge into one
            # tensor, which a per-occurrence rewrite would not reproduce.
            count = sum(n == 5 and w == _LEN for _, n, w, _ in _fields(reader, end, exact=True))
            rewrite_t = count < 2
            reader.pos = start
        pieces: list[_Piece] = []
        copied_to = start
        for field_start, number, wire_type, value in _fields(reader, end, exact=True):
            child = children.get(number)
            if child is None or wire_type != _LEN:
                continue
            payload_end = reader.pos + value
            piece: _Piece | None
            if child == _TENSOR:
                may_rewrite = rewrite_t if kind == _ATTRIBUTE and number == 5 else rewrite
                piece = self.tensor(len_key(number), payload_end, may_rewrite=may_rewrite)
            else:
                may_rewrite = rewrite and child != _SPARSE
                sub = self.message(child, payload_end, depth + 1, rewrite=may_rewrite)
                piece = None if sub is None else _Framed(len_key(number), sub)
            if piece is None:
                continue
            if field_start > copied_to:
                pieces.append((copied_to, field_start))
            pieces.append(piece)
            copied_to = payload_end
        if not pieces:
            return None
        if end > copied_to:
            pieces.append((copied_to, end))
        return pieces

    def tensor(self, key: bytes, end: int, *, may_rewrite: bool) -> _Rewritten | None:
        if self.nothing_inside(end):
            return None
        reader = self.reader
        start = reader.pos
        dims: list[int] = []
        data_type: int | None = None
        raw: tuple[int, int] | None = None
        name = (0, 0)
        location: int | None = None
        whole = False  # another value field or external_data entries: keep the tensor whole
        for _, number, wire_type, value in _fields(reader, end, exact=True):
            if number == _T_DIMS and wire_type == _VARINT:
                dims.append(_int64(value))
            elif number == _T_DIMS and wire_type == _LEN:
                packed_end = reader.pos + value
                while reader.pos < packed_end:
                    at = reader.pos
                    dim = reader.varint(packed_end)
                    if reader.pos - at != _varint_size(dim):
                        raise SkeletonUnsupported(f"non-minimal varint at byte {at}")
                    dims.append(_int64(dim))
            elif number == _T_DATA_TYPE and wire_type == _VARINT:
                data_type = _int32(value)
            elif number == _T_NAME and wire_type == _LEN:
                name = (reader.pos, value)
            elif number == _T_RAW_DATA and wire_type == _LEN:
                raw = (reader.pos, value)  # the last occurrence wins
            elif number == _T_DATA_LOCATION and wire_type == _VARINT:
                # A closed enum: protobuf keeps unknown values aside, not in the field.
                if _int32(value) in (0, _EXTERNAL):
                    location = _int32(value)
            elif number in _T_TYPED_DATA or number == _T_EXTERNAL_DATA:
                whole = True
        if location == _EXTERNAL:
            # Its location is relative to the model's directory, which the skeleton's is not.
            raise SkeletonUnsupported(f"tensor at byte {start} uses external data")
        if not may_rewrite or whole or raw is None or raw[1] < self.min_raw_bytes:
            return None
        if name[1] > _MAX_INLINE_BYTES:
            return None  # not a plausible name: it stays where it is
        reader.pos = name[0]
        tensor = RawDataTensor(reader.take(name[1]), tuple(dims), data_type, *raw)
        self.tensors.append(tensor)
        return _Rewritten(key, len(self.tensors) - 1, start, end)

    def nothing_inside(self, end: int) -> bool:
        """Whether ``[pos, end)`` is too short for a rewrite and holds no external tensor.

        A data_location field starts with byte 0x70 (0xF0 if its key is padded). Bytes
        copied verbatim parse in the skeleton as in the model, so they need no reading.
        """
        reader = self.reader
        start = reader.pos
        if end - start >= self.min_raw_bytes:
            return False
        data = reader.take(end - start)
        reader.pos = start
        return b"\x70" not in data and b"\xf0" not in data


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def encode_varint(value: int) -> bytes:
    """A protobuf varint (for writers of the wire format: skeletons, synthetic models)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def len_key(number: int) -> bytes:
    """The tag of length-delimited field ``number``."""
    return encode_varint(number << 3 | _LEN)


@dataclass(frozen=True)
class _Sized:
    """A resolved :class:`_Framed`: its payload size is known."""

    key: bytes
    size: int
    pieces: list[tuple[int, int] | bytes | _Sized]


def _piece_size(piece: tuple[int, int] | bytes | _Sized) -> int:
    if isinstance(piece, tuple):
        return piece[1] - piece[0]
    if isinstance(piece, bytes):
        return len(piece)
    return len(piece.key) + _varint_size(piece.size) + piece.size


def _resolve(
    reader: _Reader, piece: _Piece, rewrites: list[TensorRewrite | None]
) -> tuple[int, int] | bytes | _Sized:
    if isinstance(piece, tuple | bytes):
        return piece
    if isinstance(piece, _Framed):
        pieces = [_resolve(reader, p, rewrites) for p in piece.pieces]
        return _Sized(piece.key, sum(map(_piece_size, pieces)), pieces)
    rewrite = rewrites[piece.index]
    if rewrite is None:
        return _Sized(piece.key, piece.end - piece.start, [(piece.start, piece.end)])
    drop = rewrite.drop | {_T_RAW_DATA}
    kept: list[tuple[int, int] | bytes | _Sized] = []
    reader.pos = piece.start
    for field_start, number, wire_type, value in _fields(reader, piece.end):
        if number in drop:
            continue
        field_end = reader.pos + (value if wire_type == _LEN else _FIXED_SIZES.get(wire_type, 0))
        if kept and isinstance(kept[-1], tuple) and kept[-1][1] == field_start:
            kept[-1] = (kept[-1][0], field_end)
        else:
            kept.append((field_start, field_end))
    kept.append(rewrite.append)
    return _Sized(piece.key, sum(map(_piece_size, kept)), kept)


def _emit(reader: _Reader, pieces: list[tuple[int, int] | bytes | _Sized]) -> Iterator[bytes]:
    for piece in pieces:
        if isinstance(piece, bytes):
            yield piece
        elif isinstance(piece, _Sized):
            yield piece.key + encode_varint(piece.size)
            yield from _emit(reader, piece.pieces)
        else:
            position, end = piece
            while position < end:
                reader.pos = position
                count = min(_COPY_CHUNK, end - position)
                yield reader.take(count)
                position += count
