"""Models built with onnx, and the file wrappers, shared by the tests of heimdall_io.onnx."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.onnx.wire import SeekableBinary
from tests.support.synthetic import write_synthetic_model


def graph_model(graph: onnx.GraphProto) -> bytes:
    """``graph`` in a ModelProto with onnx's IR version and default opset 17."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def make_value(
    name: str, shape: list[int | str | None] | None, elem: int = TensorProto.FLOAT
) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def two_headed_model() -> bytes:
    """The upstream Heimdall's heads: X [1, 2] to position and uncertainty, both [1, 2]."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["position"]),
         helper.make_node("Identity", ["X"], ["uncertainty"])],
        "heads", [make_value("X", [1, 2])],
        [make_value("position", [1, 2]), make_value("uncertainty", [1, 2])],
    )  # fmt: skip
    return helper.make_model(graph).SerializeToString()


def rich_model() -> onnx.ModelProto:
    """Several inputs, dynamic and unknown dims, custom domain, initializers of all kinds."""
    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "W")
    scalar = numpy_helper.from_array(np.array(2.0, np.float32), "scale")
    empty = numpy_helper.from_array(np.zeros((0, 5), np.float32), "empty")
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Mul", ["XW", "scale"], ["S"]),
            helper.make_node("Add", ["S", "bias"], ["Y"]),
            helper.make_node("Custom", ["mask"], ["Z"], domain="com.example"),
        ],
        name="rich",
        inputs=[
            make_value("X", ["batch", 4]),
            make_value("mask", [None, "seq", 7], TensorProto.BOOL),
            make_value("bias", [3]),  # also an initializer: not a model input
            make_value("unshaped", None, TensorProto.INT64),
        ],
        outputs=[make_value("Y", ["batch", 3]), make_value("Z", [])],
        initializer=[
            weight,
            scalar,
            empty,
            numpy_helper.from_array(np.zeros(3, np.float32), "bias"),
        ],
    )
    return helper.make_model(
        graph,
        producer_name="pytorch",
        opset_imports=[helper.make_opsetid("com.example", 3), helper.make_opsetid("", 13)],
    )


RICH = rich_model().SerializeToString()


# -- cost -----------------------------------------------------------------------------------


class CountingReader:
    """Wraps a binary file and counts the bytes read through it."""

    def __init__(self, fileobj: SeekableBinary) -> None:
        self._fileobj = fileobj
        self.bytes_read = 0
        self.reads = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._fileobj.read(size)
        self.bytes_read += len(data)
        self.reads += 1
        return data

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        return self._fileobj.tell()


def big_model(tmp_path: Path) -> Path:
    """A 64 MiB synthetic model in ``tmp_path``: too large to read whole unnoticed."""
    path = tmp_path / "big.onnx"
    with path.open("wb") as out:
        write_synthetic_model(out, 64 << 20, seed=3)
    return path


@contextlib.contextmanager
def counting_reader(path: Path) -> Iterator[CountingReader]:
    """``path`` opened unbuffered, so that every byte read from the disk is counted."""
    with path.open("rb", buffering=0) as raw:
        yield CountingReader(raw)
