"""Skeletons: an ONNX model without its large raw_data, for onnx.checker.

onnx.checker parses the whole ModelProto, weights included. A skeleton is a byte-for-byte
copy of the model in which the raw_data of large tensors is left out and each such tensor
is rewritten by the caller (for instance into an external-data reference, see
:mod:`heimdall_io.onnx.checker`), so the checker sees every other byte and framing exactly as
in the original. Messages are re-framed only on the path to a rewritten tensor; everything
else is copied verbatim in chunks.

:func:`plan_onnx_skeleton` reads the model with :mod:`heimdall_io.onnx.wire`, seeking over
payloads; unlike :mod:`heimdall_io.onnx.metadata` it descends into nodes, attributes and
nested graphs too, never deeper than protobuf's recursion limit. :func:`write_onnx_skeleton`
then writes the skeleton.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InvalidModelError
from .wire import (
    FIXED32,
    FIXED64,
    LEN,
    MAX_INLINE_BYTES,
    VARINT,
    Reader,
    SeekableBinary,
    SkeletonUnsupported,
    SupportsWrite,
    as_int32,
    as_int64,
    encode_varint,
    fields,
    len_key,
    varint_size,
)

__all__ = [
    "RawDataTensor",
    "SkeletonPlan",
    "SkeletonUnsupported",
    "TensorRewrite",
    "plan_onnx_skeleton",
    "write_onnx_skeleton",
]

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
_FIXED_SIZES = {FIXED64: 8, FIXED32: 4}
_COPY_CHUNK = 1 << 20


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

    Example:

    ```python
    from heimdall_io.onnx import plan_onnx_skeleton

    with open("model.onnx", "rb") as f:
        plan = plan_onnx_skeleton(f, min_raw_bytes=1 << 20)
    for tensor in plan.tensors:
        print(tensor.name, tensor.dims, tensor.raw_length)
    ```
    """
    reader = Reader.to_end(fileobj)
    size = reader.size
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

    Example:

    ```python
    from heimdall_io.onnx import TensorRewrite, plan_onnx_skeleton, write_onnx_skeleton

    with open("model.onnx", "rb") as model, open("skeleton.onnx", "wb") as out:
        plan = plan_onnx_skeleton(model)
        model.seek(0)
        # Append nothing: each planned tensor is written without its raw_data.
        write_onnx_skeleton(plan, model, out, [TensorRewrite(b"") for _ in plan.tensors])
    ```
    """
    if len(rewrites) != len(plan.tensors):
        raise ValueError(f"{len(rewrites)} rewrites for {len(plan.tensors)} tensors")
    for rewrite in rewrites:
        if rewrite is not None and not rewrite.drop <= _DROPPABLE:
            raise ValueError(f"cannot drop fields {sorted(rewrite.drop - _DROPPABLE)}")
    reader = Reader.to_end(fileobj)
    if reader.size != plan.size:
        raise InvalidModelError("not an ONNX model: the file changed while it was checked")
    resolved = [_resolve(reader, piece, rewrites) for piece in plan._pieces]
    written = 0
    for chunk in _emit(reader, resolved):
        out.write(chunk)
        written += len(chunk)
    return written


class _Planner:
    def __init__(self, reader: Reader, min_raw_bytes: int) -> None:
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
            count = sum(n == 5 and w == LEN for _, n, w, _ in fields(reader, end, exact=True))
            rewrite_t = count < 2
            reader.pos = start
        pieces: list[_Piece] = []
        copied_to = start
        for field_start, number, wire_type, value in fields(reader, end, exact=True):
            child = children.get(number)
            if child is None or wire_type != LEN:
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
        for _, number, wire_type, value in fields(reader, end, exact=True):
            if number == _T_DIMS and wire_type == VARINT:
                dims.append(as_int64(value))
            elif number == _T_DIMS and wire_type == LEN:
                packed_end = reader.pos + value
                while reader.pos < packed_end:
                    at = reader.pos
                    dim = reader.varint(packed_end)
                    if reader.pos - at != varint_size(dim):
                        raise SkeletonUnsupported(f"non-minimal varint at byte {at}")
                    dims.append(as_int64(dim))
            elif number == _T_DATA_TYPE and wire_type == VARINT:
                data_type = as_int32(value)
            elif number == _T_NAME and wire_type == LEN:
                name = (reader.pos, value)
            elif number == _T_RAW_DATA and wire_type == LEN:
                raw = (reader.pos, value)  # the last occurrence wins
            elif number == _T_DATA_LOCATION and wire_type == VARINT:
                # A closed enum: protobuf keeps unknown values aside, not in the field.
                if as_int32(value) in (0, _EXTERNAL):
                    location = as_int32(value)
            elif number in _T_TYPED_DATA or number == _T_EXTERNAL_DATA:
                whole = True
        if location == _EXTERNAL:
            # Its location is relative to the model's directory, which the skeleton's is not.
            raise SkeletonUnsupported(f"tensor at byte {start} uses external data")
        if not may_rewrite or whole or raw is None or raw[1] < self.min_raw_bytes:
            return None
        if name[1] > MAX_INLINE_BYTES:
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
    return len(piece.key) + varint_size(piece.size) + piece.size


def _resolve(
    reader: Reader, piece: _Piece, rewrites: list[TensorRewrite | None]
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
    for field_start, number, wire_type, value in fields(reader, piece.end):
        if number in drop:
            continue
        field_end = reader.pos + (value if wire_type == LEN else _FIXED_SIZES.get(wire_type, 0))
        if kept and isinstance(kept[-1], tuple) and kept[-1][1] == field_start:
            kept[-1] = (kept[-1][0], field_end)
        else:
            kept.append((field_start, field_end))
    kept.append(rewrite.append)
    return _Sized(piece.key, sum(map(_piece_size, kept)), kept)


def _emit(reader: Reader, pieces: list[tuple[int, int] | bytes | _Sized]) -> Iterator[bytes]:
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
