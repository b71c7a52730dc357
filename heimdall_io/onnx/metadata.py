"""Metadata of an ONNX model read straight from the protobuf wire format.

``onnx.load`` parses every weight into memory; a registry that handles multi-GiB models
must not. This module walks the few ModelProto fields it needs (IR version, producer,
default-domain opset, graph inputs/outputs, initializer shapes) and seeks over everything
else (:mod:`heimdall_io.onnx.wire`), so the cost is a few reads of a few KiB whatever the size
of the model (plus a few bytes per node: weights may sit in Constant nodes and subgraphs).

Inputs and outputs are read on the fixed path ModelProto -> GraphProto -> ValueInfoProto ->
TypeProto -> shape (never nested types); nodes are walked by
:mod:`heimdall_io.onnx.tensors`, whose subgraph depth is bounded (``MAX_GRAPH_DEPTH``).
Semantics follow protobuf: the last value of a scalar field wins, repeated embedded messages
accumulate, and a singular embedded message that occurs twice is merged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import FileAccessError, InvalidModelError, NotFoundError
from .tensors import node_tensors
from .wire import LEN, MAX_INLINE_BYTES, VARINT, Reader, SeekableBinary, as_int32, as_int64, fields

__all__ = ["OnnxInfo", "TensorSpec", "read_onnx_info", "read_onnx_info_path"]

# TypeProto "value" oneof members; only the tensor-like ones carry elem_type and shape.
_TYPE_TENSOR, _TYPE_SPARSE_TENSOR = 1, 8
_TYPE_ONEOF = frozenset({1, 4, 5, 7, 8, 9})
_DEFAULT_DOMAINS = ("", "ai.onnx")


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
    """What the registry records about a model, taken from its ONNX file.

    Example::

        info = read_onnx_info_path("model.onnx")
        print(info.opset, [t.name for t in info.inputs], info.parameters_count)
    """

    ir_version: int | None
    producer_name: str | None
    opset: int | None
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    parameters_count: int
    size_bytes: int

    @property
    def input_shape(self) -> list[Any] | None:
        """The input's shape; with several inputs, a list of shapes (one per input)."""
        return _shapes(self.inputs)

    @property
    def output_shape(self) -> list[Any] | None:
        """The output's shape; with several outputs, a list of shapes (one per output)."""
        return _shapes(self.outputs)

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]


def _shapes(specs: list[TensorSpec]) -> list[Any] | None:
    """A flat shape for one tensor (as the seed writes it), a list of shapes for several."""
    if not specs:
        return None
    if len(specs) == 1:
        return specs[0].shape
    return [spec.shape for spec in specs]


def read_onnx_info(fileobj: SeekableBinary) -> OnnxInfo:
    """Read the metadata of the ONNX model stored from the current position to the end.

    Raises :class:`InvalidModelError` when the bytes are not a ModelProto with a graph.
    The file position afterwards is unspecified.

    Example:

    ```python
    from heimdall_io.onnx import read_onnx_info

    with open("model.onnx", "rb") as f:
        info = read_onnx_info(f)
    print(info.opset, info.input_shape, info.parameters_count)
    ```
    """
    reader = Reader.to_end(fileobj)
    if reader.size <= 0:
        raise InvalidModelError("not an ONNX model: the file is empty")
    return _parse_model(reader)


def read_onnx_info_path(path: str | os.PathLike[str]) -> OnnxInfo:
    """:func:`read_onnx_info` of a file; a missing or unreadable path is a HeimdallError too.

    Example:

    ```python
    from heimdall_io.onnx import read_onnx_info_path

    info = read_onnx_info_path("model.onnx")
    print(info.producer_name, info.size_bytes)
    ```
    """
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


def _expect(reader: Reader, start: int, number: int, wire_type: int, expected: int) -> None:
    if wire_type != expected:
        reader.fail(f"field {number} has wire type {wire_type}, expected {expected}", start)


def _known_fields(
    reader: Reader, end: int, wire_types: dict[int, int]
) -> Iterator[tuple[int, int, int]]:
    """Yield ``(field_start, number, value)`` of the fields numbered in ``wire_types``.

    Each must have the wire type given for its number; other fields are skipped. ``value``
    is as :func:`heimdall_io.onnx.wire.fields` gives it.
    """
    for start, number, wire_type, value in fields(reader, end):
        if number in wire_types:
            _expect(reader, start, number, wire_type, wire_types[number])
            yield start, number, value


def _string(reader: Reader, start: int, length: int) -> str:
    if length > MAX_INLINE_BYTES:
        reader.fail(f"string of {length} bytes", start)
    try:
        return reader.take(length).decode("utf-8")
    except UnicodeDecodeError:
        reader.fail("string is not UTF-8", start)


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


def _parse_model(reader: Reader) -> OnnxInfo:
    ir_version: int | None = None
    producer_name: str | None = None
    opset: int | None = None
    graph: _GraphParts | None = None
    wire_types = {1: VARINT, 2: LEN, 7: LEN, 8: LEN}  # ir_version, producer_name, graph, opsets
    for start, number, value in _known_fields(reader, reader.size, wire_types):
        if number == 1:
            ir_version = as_int64(value)
        elif number == 2:
            producer_name = _string(reader, start, value)
        elif number == 7:  # a repeated occurrence merges into the first
            graph = graph or _GraphParts()
            _parse_graph(reader, reader.pos + value, graph)
        else:
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


def _parse_opset_id(reader: Reader, end: int) -> tuple[str, int]:
    domain, version = "", 0
    for start, number, value in _known_fields(reader, end, {1: LEN, 2: VARINT}):
        if number == 1:
            domain = _string(reader, start, value)
        else:
            version = as_int64(value)
    return domain, version


def _parse_graph(reader: Reader, end: int, graph: _GraphParts) -> None:
    # node (its Constant values and subgraphs), initializer, input, output, sparse_initializer
    wire_types = dict.fromkeys((1, 5, 11, 12, 15), LEN)
    for _, number, value in _known_fields(reader, end, wire_types):
        if number == 1:
            tensors = node_tensors(reader, reader.pos + value)
            graph.parameters_count += sum(t.parameters for t in tensors)
        elif number == 5:
            tensor = _TensorHeader()
            _parse_tensor(reader, reader.pos + value, tensor)
            graph.constant_names.add(tensor.name)
            graph.parameters_count += tensor.elements
        elif number in (11, 12):
            spec = _parse_value_info(reader, reader.pos + value)
            (graph.inputs if number == 11 else graph.outputs).append(spec)
        elif number == 15:  # counted by its stored values
            tensor = _TensorHeader()
            # values; a repeated occurrence merges
            for _, _, v_value in _known_fields(reader, reader.pos + value, {1: LEN}):
                _parse_tensor(reader, reader.pos + v_value, tensor)
            graph.constant_names.add(tensor.name)
            graph.parameters_count += tensor.elements


def _parse_tensor(reader: Reader, end: int, tensor: _TensorHeader) -> None:
    """Read dims (packed or not) and name; raw_data and the typed data fields are skipped."""
    for start, number, wire_type, value in fields(reader, end):
        if number == 1:  # dims
            if wire_type == VARINT:
                tensor.elements *= _dim(reader, start, value)
            elif wire_type == LEN:
                if value > MAX_INLINE_BYTES:
                    reader.fail(f"packed dims of {value} bytes", start)
                packed_end = reader.pos + value
                while reader.pos < packed_end:
                    tensor.elements *= _dim(reader, start, reader.varint(packed_end))
            else:
                _expect(reader, start, number, wire_type, VARINT)
        elif number == 8:  # name
            _expect(reader, start, number, wire_type, LEN)
            tensor.name = _string(reader, start, value)


def _dim(reader: Reader, start: int, value: int) -> int:
    dim = as_int64(value)
    if dim < 0:
        reader.fail(f"negative tensor dimension {dim}", start)
    return dim


def _parse_value_info(reader: Reader, end: int) -> TensorSpec:
    name = ""
    value_type = _ValueType()
    for start, number, value in _known_fields(reader, end, {1: LEN, 2: LEN}):  # name, type
        if number == 1:
            name = _string(reader, start, value)
        else:
            _parse_type(reader, reader.pos + value, value_type)
    if value_type.member in (_TYPE_TENSOR, _TYPE_SPARSE_TENSOR):
        return TensorSpec(name, value_type.elem_type, value_type.shape)
    return TensorSpec(name, None, None)


def _parse_type(reader: Reader, end: int, value_type: _ValueType) -> None:
    for _, number, value in _known_fields(reader, end, dict.fromkeys(_TYPE_ONEOF, LEN)):
        if value_type.member != number:  # setting another oneof member clears the old one
            value_type.member, value_type.elem_type, value_type.shape = number, 0, None
        if number in (_TYPE_TENSOR, _TYPE_SPARSE_TENSOR):
            _parse_tensor_type(reader, reader.pos + value, value_type)


def _parse_tensor_type(reader: Reader, end: int, value_type: _ValueType) -> None:
    # elem_type, shape (TensorShapeProto)
    for _, number, value in _known_fields(reader, end, {1: VARINT, 2: LEN}):
        if number == 1:
            value_type.elem_type = as_int32(value)
            continue
        if value_type.shape is None:
            value_type.shape = []
        for _, _, d_value in _known_fields(reader, reader.pos + value, {1: LEN}):  # dim
            value_type.shape.append(_parse_dimension(reader, reader.pos + d_value))


def _parse_dimension(reader: Reader, end: int) -> int | str | None:
    dim: int | str | None = None
    # dim_value, dim_param: a oneof, the last one wins
    for start, number, value in _known_fields(reader, end, {1: VARINT, 2: LEN}):
        dim = as_int64(value) if number == 1 else _string(reader, start, value)
    return dim
