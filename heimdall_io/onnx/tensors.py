"""Every stored tensor of an ONNX model, found by walking the wire format, weights unread.

Weights are not only in ``graph.initializer``: exporters such as spox put them in the
``value`` attributes of ``Constant`` nodes, and control flow (``If``, ``Loop``, ``Scan``)
carries whole subgraphs, with initializers and Constant nodes of their own, in graph
attributes. :func:`model_tensors` yields all of them with their name, type and shape;
their data is skipped by seeking, unless a hash of each tensor's bytes is asked for, in
which case the bytes are streamed through SHA-256 in large reads (never held).

What :attr:`TensorInfo.parameters` counts, and so ``parameters_count``: the elements of
every initializer (any depth; a scalar counts 1), the stored values of sparse
initializers, and the elements of the tensors held by Constant nodes that have at least
one dimension. A 0-d Constant is a literal of the graph (a sample rate an ``If``
compares, an axis), not a weight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .wire import FIXED32, FIXED64, LEN, MAX_INLINE_BYTES, VARINT, Reader, SeekableBinary, fields

__all__ = ["MAX_GRAPH_DEPTH", "TensorInfo", "model_tensors", "node_tensors"]

#: Subgraphs nested deeper than this are refused (protobuf's own recursion limit is 100
#: messages; each graph level is three: graph, node, attribute).
MAX_GRAPH_DEPTH = 32
# TensorProto fields holding data: float, int32, string, int64, raw, double, uint64.
_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})
_EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 13, 14, 1
_STREAM = 1 << 20
_INLINE_HASH = 1 << 16


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor: where it sits in the model, its type and shape, its bytes' hash.

    ``key`` is unique within the model (``W``; ``If_0/then_branch/W`` inside a subgraph;
    a Constant by the value it outputs). ``sha256`` covers the tensor's data fields, and
    is None unless hashing was asked for; ``external`` tensors keep their data in another
    file, so their hash covers only the reference.
    """

    key: str
    name: str
    kind: str  # "initializer", "sparse_initializer" or "constant"
    data_type: int | None
    dims: tuple[int, ...]
    elements: int
    sha256: str | None = None
    external: bool = False

    @property
    def parameters(self) -> int:
        """What this tensor adds to ``parameters_count`` (see the module docstring)."""
        if self.kind == "constant" and not self.dims:
            return 0
        return self.elements


@dataclass
class _Tensor:
    name: str = ""
    data_type: int | None = None
    dims: list[int] = field(default_factory=list)
    external: bool = False
    hash: Any = None
    stored: int | None = None  # of a sparse tensor: its stored values

    @property
    def elements(self) -> int:
        if self.stored is not None:
            return self.stored
        n = 1
        for d in self.dims:
            n *= d
        return n


class _Walk:
    """The walk over one model; ``hashing`` streams each tensor's data through SHA-256."""

    def __init__(self, reader: Reader, fileobj: SeekableBinary | None, base: int) -> None:
        self.reader = reader
        self.fileobj = fileobj  # set when hashing
        self.base = base

    def graph(self, end: int, prefix: str, depth: int) -> Iterator[TensorInfo]:
        if depth > MAX_GRAPH_DEPTH:
            self.reader.fail(f"subgraphs nested deeper than {MAX_GRAPH_DEPTH}", self.reader.pos)
        index = 0
        for start, number, wire_type, value in fields(self.reader, end):
            if number not in (1, 5, 15):  # node, initializer, sparse_initializer
                continue
            self._expect(start, number, wire_type, LEN)
            field_end = self.reader.pos + value
            if number == 1:
                yield from self.node(field_end, prefix, depth, index)
                index += 1
            elif number == 5:
                t = self.tensor(field_end)
                yield self._info(prefix + t.name, t.name, "initializer", t, t.elements)
            else:
                yield self.sparse(field_end, prefix)

    def node(self, end: int, prefix: str, depth: int, index: int) -> Iterator[TensorInfo]:
        """The tensors of one node: a Constant's value, and those of its subgraphs."""
        op_type = name = output = ""
        constants: list[_Tensor] = []
        subgraphs: list[tuple[str, int, int]] = []  # (attribute label, start, end)
        for start, number, wire_type, value in fields(self.reader, end):
            if number in (2, 3, 4, 5):  # output, name, op_type, attribute
                self._expect(start, number, wire_type, LEN)
            if number == 2 and not output:
                output = self._string(start, value)
            elif number == 3:
                name = self._string(start, value)
            elif number == 4:
                op_type = self._string(start, value)
            elif number == 5:
                self._attribute(self.reader.pos + value, constants, subgraphs)
        label = name or output or f"node{index}"
        if op_type == "Constant":
            for t in constants:
                key = prefix + (output or label)
                yield self._info(key, output or t.name, "constant", t, t.elements)
        for attr, g_start, g_end in subgraphs:
            self.reader.pos = g_start
            yield from self.graph(g_end, f"{prefix}{label}/{attr}/", depth + 1)

    def _attribute(
        self, end: int, constants: list[_Tensor], subgraphs: list[tuple[str, int, int]]
    ) -> None:
        attr = ""
        graphs: list[tuple[int, int]] = []
        for start, number, wire_type, value in fields(self.reader, end):
            if number == 1 and wire_type == LEN:
                attr = self._string(start, value)
            elif number in (5, 22) and wire_type == LEN:  # t, sparse_tensor
                field_end = self.reader.pos + value
                if number == 5:
                    constants.append(self.tensor(field_end))
                else:
                    constants.append(self._sparse_tensor(field_end))
            elif number in (6, 11) and wire_type == LEN:  # g, graphs
                graphs.append((self.reader.pos, self.reader.pos + value))
        for i, (g_start, g_end) in enumerate(graphs):
            subgraphs.append((attr if len(graphs) == 1 else f"{attr}[{i}]", g_start, g_end))

    def sparse(self, end: int, prefix: str) -> TensorInfo:
        t = self._sparse_tensor(end)
        return self._info(prefix + t.name, t.name, "sparse_initializer", t, t.elements)

    def _sparse_tensor(self, end: int) -> _Tensor:
        # values, indices (TensorProto each), dims: the stored values are what count.
        out = _Tensor()
        out.hash = self._new_hash()
        out.stored = 0
        dims: list[int] = []
        for start, number, wire_type, value in fields(self.reader, end):
            if number in (1, 2) and wire_type == LEN:
                part = self.tensor(self.reader.pos + value, out.hash)
                if number == 1:
                    out.name, out.data_type, out.stored = part.name, part.data_type, part.elements
                out.external |= part.external
            elif number == 3:
                dims.extend(self._dims(start, wire_type, value))
        out.dims = dims
        return out

    def tensor(self, end: int, digest: Any = None) -> _Tensor:
        """Dims, type, name; the data fields are hashed when hashing, else skipped."""
        t = _Tensor()
        t.hash = digest if digest is not None else self._new_hash()
        for start, number, wire_type, value in fields(self.reader, end):
            if number == 1:
                t.dims.extend(self._dims(start, wire_type, value))
            elif number == 2 and wire_type == VARINT:
                t.data_type = value & 0xFFFFFFFF
            elif number == 8:
                self._expect(start, number, wire_type, LEN)
                t.name = self._string(start, value)
            elif number == _DATA_LOCATION and wire_type == VARINT:
                t.external = value == _EXTERNAL
            elif t.hash is not None and (number in _DATA_FIELDS or number == _EXTERNAL_DATA):
                self._hash_field(t.hash, number, wire_type, value)
        return t

    # -- helpers ---------------------------------------------------------------------------

    def _new_hash(self) -> Any:
        return hashlib.sha256() if self.fileobj is not None else None

    def _hash_field(self, digest: Any, number: int, wire_type: int, value: int) -> None:
        digest.update(b"%d:%d:" % (number, wire_type))
        if wire_type == VARINT:
            digest.update(b"%d;" % value)
        elif wire_type in (FIXED32, FIXED64):
            digest.update(self.reader.take(4 if wire_type == FIXED32 else 8))
        elif wire_type == LEN:
            digest.update(b"%d;" % value)
            if value <= _INLINE_HASH:
                digest.update(self.reader.take(value))
                return
            assert self.fileobj is not None
            self.fileobj.seek(self.base + self.reader.pos)
            left = value
            while left:
                chunk = self.fileobj.read(min(left, _STREAM))
                if not chunk:
                    self.reader.fail("file shrank while reading", self.reader.pos + value - left)
                digest.update(chunk)
                left -= len(chunk)

    def _dims(self, start: int, wire_type: int, value: int) -> list[int]:
        if wire_type == VARINT:
            return [self._dim(start, value)]
        if wire_type != LEN:
            self._expect(start, 1, wire_type, VARINT)
        if value > MAX_INLINE_BYTES:
            self.reader.fail(f"packed dims of {value} bytes", start)
        packed_end = self.reader.pos + value
        dims = []
        while self.reader.pos < packed_end:
            dims.append(self._dim(start, self.reader.varint(packed_end)))
        return dims

    def _dim(self, start: int, value: int) -> int:
        dim = value - (1 << 64) if value >= 1 << 63 else value
        if dim < 0:
            self.reader.fail(f"negative tensor dimension {dim}", start)
        return dim

    def _string(self, start: int, length: int) -> str:
        if length > MAX_INLINE_BYTES:
            self.reader.fail(f"string of {length} bytes", start)
        return self.reader.take(length).decode("utf-8", "replace")

    def _expect(self, start: int, number: int, wire_type: int, expected: int) -> None:
        if wire_type != expected:
            what = f"field {number} has wire type {wire_type}, expected {expected}"
            self.reader.fail(what, start)

    def _info(self, key: str, name: str, kind: str, t: _Tensor, elements: int) -> TensorInfo:
        digest = t.hash.hexdigest() if t.hash is not None else None
        return TensorInfo(key, name, kind, t.data_type, tuple(t.dims), elements, digest,
                          t.external)  # fmt: skip


def node_tensors(reader: Reader, end: int, depth: int = 1) -> Iterator[TensorInfo]:
    """The tensors a NodeProto in ``[reader.pos, end)`` holds (no hashing), for metadata.

    ``depth`` is the nesting level of the graph the node belongs to (1: the main graph).
    """
    yield from _Walk(reader, None, 0).node(end, "", depth, 0)


def model_tensors(fileobj: SeekableBinary, *, hashes: bool = False) -> Iterator[TensorInfo]:
    """Every stored tensor of the ONNX model from the current position of ``fileobj`` on.

    With ``hashes``, each tensor's data is streamed through SHA-256 (``TensorInfo.sha256``);
    without, nothing but headers is read. Keys are made unique (``#2``, ``#3``, ... for a
    repeated key). Raises :class:`~heimdall_io.errors.InvalidModelError` for bytes that are
    not a ModelProto.

    Example:

    ```python
    from heimdall_io.onnx.tensors import model_tensors

    with open("model.onnx", "rb") as f:
        for t in model_tensors(f, hashes=True):
            print(t.key, t.dims, t.sha256[:12])
    ```
    """
    base = fileobj.tell()
    reader = Reader.to_end(fileobj)
    walk = _Walk(reader, fileobj if hashes else None, base)
    seen: dict[str, int] = {}
    for _, number, wire_type, value in fields(reader, reader.size):
        if number != 7 or wire_type != LEN:  # ModelProto.graph
            continue
        for info in walk.graph(reader.pos + value, "", 1):
            count = seen.get(info.key, 0) + 1
            seen[info.key] = count
            if count > 1:
                info = TensorInfo(f"{info.key}#{count}", info.name, info.kind, info.data_type,
                                  info.dims, info.elements, info.sha256, info.external)  # fmt: skip
            yield info
