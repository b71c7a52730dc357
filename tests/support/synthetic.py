"""Synthetic but valid ONNX models of an exact size, written as a stream.

Tests and benchmarks need models from a few KiB to several GiB. Building those with
``onnx.helper`` would hold every weight in memory, so only the tiny graph
(``X -> Flatten -> MatMul W -> Add B -> Reshape -> Y``) is built with ``onnx``; the bulk is
one or more unused float32 initializers ``padding_<i>`` whose wire format is written by hand
and whose raw data is generated and written in 1 MiB chunks.

Protobuf needs every length before its payload, so the layout is planned first (the sizes
of all headers are known up front) and written second. Models over 2 GiB are valid protobuf
framing but exceed what ``onnx.load`` can parse; :mod:`heimdall_io.onnx.metadata` reads them.

Command line: ``python -m tests.support.synthetic OUT.onnx --size 64MiB [--seed N]``
(``--compressible`` for zeros-heavy weights)
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import helper, numpy_helper

from heimdall_io.onnx.wire import encode_varint, len_key

__all__ = ["synthetic_model_bytes", "write_external_model", "write_synthetic_model"]

_CHUNK_BYTES = 1 << 20
# Each padding tensor stays far below protobuf's 2 GiB limit; the last one takes the rest
# (so it is between 1x and 2x this).
_MAX_PADDING_BYTES = 512 << 20
_PRODUCER_NAME = "heimdall-io-synthetic"
# Distinct float32 values in compressible data: 4 bits of entropy per 32-bit weight.
_PALETTE_SIZE = 16

Shape = Sequence[int | str]


class SupportsWrite(Protocol):
    def write(self, data: bytes, /) -> object: ...


def write_synthetic_model(
    fileobj: SupportsWrite,
    size_bytes: int,
    *,
    seed: int = 0,
    compressible: bool = False,
    opset: int = 17,
    input_shape: Shape = (1, 16),
    output_shape: Shape = (1, 2),
) -> None:
    """Write a valid ONNX model of exactly ``size_bytes`` bytes to ``fileobj``.

    The graph maps float input ``X[input_shape]`` to ``Y[output_shape]``. The first dim of
    each shape is the batch (an int, equal in both, or a ``str`` dim_param); the others must
    be positive ints. The same arguments always give the same bytes. ``compressible`` data
    draws weights from a small palette so it compresses several-fold instead of not at all.
    Raises ``ValueError`` for bad shapes, an unknown opset, or a size below the minimum.
    """
    plan = _plan(size_bytes, seed, opset, input_shape, output_shape)
    _write(plan, fileobj, seed, compressible)


def synthetic_model_bytes(size_bytes: int, **kwargs: Any) -> bytes:
    """:func:`write_synthetic_model` into memory, for small test models."""
    buffer = io.BytesIO()
    write_synthetic_model(buffer, size_bytes, **kwargs)
    return buffer.getvalue()


@dataclass(frozen=True)
class _Padding:
    """One padding initializer: its wire bytes up to raw_data's payload, then data_bytes."""

    header: bytes
    data_bytes: int

    @property
    def size(self) -> int:
        return len(self.header) + self.data_bytes


@dataclass(frozen=True)
class _Plan:
    model_head: bytes  # ModelProto fields before the graph
    graph_head: bytes  # GraphProto: nodes, name, the real initializers
    paddings: list[_Padding]
    graph_tail: bytes  # GraphProto: inputs and outputs
    model_tail: bytes  # ModelProto: opset_import

    @property
    def graph_size(self) -> int:
        return len(self.graph_head) + sum(p.size for p in self.paddings) + len(self.graph_tail)

    @property
    def size(self) -> int:
        graph_field = len(len_key(7)) + len(encode_varint(self.graph_size)) + self.graph_size
        return len(self.model_head) + graph_field + len(self.model_tail)


def _padding(index: int, name_width: int, floats: int) -> _Padding:
    # Widening the zero-padded index adds one byte at a time: that is how the size is exact.
    name = f"padding_{index:0{name_width}d}"
    head = onnx.TensorProto(dims=[floats], data_type=onnx.TensorProto.FLOAT, name=name)
    data_bytes = 4 * floats
    tensor_head = head.SerializeToString() + len_key(9) + encode_varint(data_bytes)
    header = len_key(5) + encode_varint(len(tensor_head) + data_bytes) + tensor_head
    return _Padding(header, data_bytes)


def _check_shapes(input_shape: Shape, output_shape: Shape) -> tuple[int, int]:
    """Validate the shapes; return the flattened feature counts (K inputs, M outputs)."""
    for label, shape in (("input_shape", input_shape), ("output_shape", output_shape)):
        if len(shape) < 2:
            raise ValueError(f"{label} needs a batch dim and at least one more: {shape!r}")
        batch, *features = shape
        if not (isinstance(batch, str) or (type(batch) is int and batch > 0)):
            raise ValueError(f"{label}: the batch dim must be a positive int or a name")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in features):
            raise ValueError(f"{label}: dims after the first must be positive ints")
    in_batch, out_batch = input_shape[0], output_shape[0]
    if isinstance(in_batch, int) and isinstance(out_batch, int) and in_batch != out_batch:
        raise ValueError(f"batch dims differ: {in_batch} in, {out_batch} out")
    return math.prod(int(d) for d in input_shape[1:]), math.prod(int(d) for d in output_shape[1:])


def _plan(size_bytes: int, seed: int, opset: int, input_shape: Shape, output_shape: Shape) -> _Plan:
    if not 7 <= opset <= onnx.defs.onnx_opset_version():
        # Add broadcasts from opset 7; newer opsets than the installed onnx cannot be checked.
        raise ValueError(f"opset {opset} not in 7..{onnx.defs.onnx_opset_version()}")
    in_features, out_features = _check_shapes(input_shape, output_shape)
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((in_features, out_features)) * 0.1).astype(np.float32)
    bias = (rng.standard_normal(out_features) * 0.1).astype(np.float32)
    # Reshape's 0 copies the batch dim from its input, so a named batch dim keeps working.
    target_shape = np.array([0, *output_shape[1:]], dtype=np.int64)
    opsets = [helper.make_opsetid("", opset)]
    graph_head = helper.make_graph(
        nodes=[
            helper.make_node("Flatten", ["X"], ["X_flat"], axis=1),
            helper.make_node("MatMul", ["X_flat", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Y_flat"]),
            helper.make_node("Reshape", ["Y_flat", "Y_shape"], ["Y"]),
        ],
        name="synthetic",
        inputs=[],
        outputs=[],
        initializer=[
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(bias, "B"),
            numpy_helper.from_array(target_shape, "Y_shape"),
        ],
    )
    graph_tail = onnx.GraphProto(
        input=[helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, list(input_shape))],
        output=[helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, list(output_shape))],
    )
    # IR 4 is the first that lets initializers stay out of the graph inputs.
    ir_version = max(4, helper.find_min_ir_version_for(opsets))
    model_head = onnx.ModelProto(ir_version=ir_version, producer_name=_PRODUCER_NAME)
    model_tail = onnx.ModelProto(opset_import=opsets)
    parts = [m.SerializeToString() for m in (model_head, graph_head, graph_tail, model_tail)]

    def plan_with(paddings: list[_Padding]) -> _Plan:
        return _Plan(parts[0], parts[1], paddings, parts[2], parts[3])

    # All padding tensors but the last hold _MAX_PADDING_BYTES; the last absorbs the rest.
    smallest = plan_with([_padding(0, 1, 0)]).size
    full_count = max(0, (size_bytes - smallest) // _MAX_PADDING_BYTES - 1)
    full = [_padding(i, 1, _MAX_PADDING_BYTES // 4) for i in range(full_count)]
    last = full_count
    # First guess at the last tensor's float count, from its size when empty; longer varints
    # make the guess overshoot by a few bytes, so step down a little and widen the name.
    rest = size_bytes - plan_with([*full, _padding(last, 1, 0)]).size
    guess = max(0, rest // 4)
    for floats in range(guess + 4, max(-1, guess - 12), -1):
        for extra_width in range(8):
            candidate = plan_with([*full, _padding(last, len(str(last)) + extra_width, floats)])
            if candidate.size == size_bytes:
                return candidate
    # Rarely a length varint grows right where the target lies (e.g. 525 bytes): an empty
    # extra tensor shifts the boundary.
    for floats in range(guess + 4, max(-1, guess - 12), -1):
        for extra_width in range(8):
            tail = [_padding(last, len(str(last)) + extra_width, floats), _padding(last + 1, 1, 0)]
            candidate = plan_with([*full, *tail])
            if candidate.size == size_bytes:
                return candidate
    raise ValueError(f"size_bytes={size_bytes} is below the smallest such model, {smallest} bytes")


def _write(plan: _Plan, fileobj: SupportsWrite, seed: int, compressible: bool) -> None:
    fileobj.write(plan.model_head + len_key(7) + encode_varint(plan.graph_size) + plan.graph_head)
    # A separate stream from the one that made W and B, so the planning order does not matter.
    rng = np.random.default_rng([seed, 1])
    palette = rng.standard_normal(_PALETTE_SIZE).astype("<f4")
    for padding in plan.paddings:
        fileobj.write(padding.header)
        for chunk in _data_chunks(rng, padding.data_bytes, palette if compressible else None):
            fileobj.write(chunk)
    fileobj.write(plan.graph_tail + plan.model_tail)


def _data_chunks(
    rng: np.random.Generator, data_bytes: int, palette: np.ndarray | None
) -> Iterator[bytes]:
    """Raw float32 data, 1 MiB at a time: random bytes, or palette values if given."""
    remaining = data_bytes
    while remaining:
        size = min(_CHUNK_BYTES, remaining)  # both multiples of 4
        if palette is None:
            yield rng.bytes(size)
        else:
            indices = rng.integers(0, len(palette), size // 4, dtype=np.uint8)
            yield palette[indices].tobytes()
        remaining -= size


def write_external_model(
    directory: Path | str,
    total_bytes: int,
    *,
    files: int = 4,
    seed: int = 0,
    model_file: str = "model.onnx",
    subdir: str | None = None,
) -> dict[str, int]:
    """A model saved with external data, as ``onnx.save_model(...,
    save_as_external_data=True)`` lays it out: ``directory/model_file`` (small) and
    ``files`` data files (``weights_<i>.bin``, under ``subdir`` if given) holding
    ``total_bytes`` of float32 tensors together (rounded down to a multiple of 4 per
    file). Each file holds two tensors (``padding_<i>a`` and ``b``, at offset 0 and half
    way), so offsets are exercised. Written in 1 MiB chunks: any size, flat memory.

    Returns the file sizes by path relative to ``directory``.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    plan = _plan(1 << 12, seed, 17, (1, 16), (1, 2))
    model = onnx.ModelProto()
    graph_size = plan.graph_size - sum(p.size for p in plan.paddings)
    model.ParseFromString(plan.model_head + len_key(7) + encode_varint(graph_size)
                          + plan.graph_head + plan.graph_tail + plan.model_tail)  # fmt: skip
    per_file = (total_bytes // max(1, files)) // 8 * 8
    sizes: dict[str, int] = {}
    rng = np.random.default_rng([seed, 2])
    for i in range(files):
        location = f"weights_{i}.bin" if subdir is None else f"{subdir}/weights_{i}.bin"
        half = per_file // 2
        for part, offset in (("a", 0), ("b", half)):
            tensor = onnx.TensorProto(name=f"padding_{i}{part}", dims=[half // 4],
                                      data_type=onnx.TensorProto.FLOAT)  # fmt: skip
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", offset), ("length", half)):
                tensor.external_data.add(key=key, value=str(value))
            model.graph.initializer.append(tensor)
        path = root / location
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            for chunk in _data_chunks(rng, per_file, None):
                f.write(chunk)
        sizes[location] = per_file
    data = model.SerializeToString()
    (root / model_file).write_bytes(data)
    sizes[model_file] = len(data)
    return sizes


def _size_arg(text: str) -> int:
    from heimdall_io.sizes import parse_size  # only the command line parses sizes

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use bytes or a KiB/MiB/GiB suffix"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic model file; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.synthetic",
        description="Write a valid synthetic ONNX model of an exact size.",
    )
    parser.add_argument("output", type=Path, help="the .onnx file to write")
    parser.add_argument("--size", required=True, type=_size_arg, help="e.g. 4096, 64MiB, 2GiB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compressible", action="store_true", help="low-entropy weights")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    try:
        plan = _plan(args.size, args.seed, args.opset, (1, 16), (1, 2))
    except ValueError as exc:
        parser.error(str(exc))
    try:
        with open(args.output, "wb") as fileobj:
            _write(plan, fileobj, args.seed, args.compressible)
    except OSError as exc:
        print(f"error: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        args.output.unlink(missing_ok=True)  # a partial model would look valid to nothing
        return 1
    print(f"wrote {args.output} ({plan.size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
