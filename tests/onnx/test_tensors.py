"""heimdall_io.onnx.tensors and the parameter count: weights in subgraphs and Constant nodes.

The expected values come from onnx itself (the whole model parsed); the real model is
silero-vad's, whose weights all sit in Constant nodes inside If branches.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.errors import InvalidModelError
from heimdall_io.onnx import read_onnx_info, read_onnx_info_path
from heimdall_io.onnx.tensors import MAX_GRAPH_DEPTH, model_tensors
from tests.onnx.models import make_value, two_headed_model
from tests.onnx.wire_format import len_field
from tests.support.public_models import SILERO_VAD_MD5, SILERO_VAD_PARAMETERS, silero_vad_path


def onnx_parameters(model: onnx.ModelProto) -> int:
    """The count as defined, computed from the parsed model."""

    def size(t: onnx.TensorProto) -> int:
        return int(np.prod(t.dims, dtype=object))

    def graph(g: onnx.GraphProto) -> int:
        n = sum(size(t) for t in g.initializer)
        n += sum(size(s.values) for s in g.sparse_initializer)
        for node in g.node:
            for a in node.attribute:
                if node.op_type == "Constant" and a.type == onnx.AttributeProto.TENSOR:
                    n += size(a.t) if len(a.t.dims) else 0
                for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                    n += graph(sub)
        return n

    return graph(model.graph)


def const(name: str, array: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def branch(name: str, weight: np.ndarray) -> onnx.GraphProto:
    """A subgraph with one initializer and one Constant node."""
    return helper.make_graph(
        [const(f"{name}_c", np.ones((2, 3), np.float32)),
         helper.make_node("Add", [f"{name}_w", f"{name}_c"], [f"{name}_out"])],
        name,
        [],
        [make_value(f"{name}_out", [2, 3])],
        [numpy_helper.from_array(weight, f"{name}_w")],
    )  # fmt: skip


def control_flow_model(then_weight: float = 1.0) -> onnx.ModelProto:
    """If (weights in both branches), Loop (body), Scan (body); a scalar Constant."""
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "s_x"], ["s_out"])],
        "scan_body",
        [make_value("s_in", [4]), make_value("s_x", [4])],
        [make_value("s_out", [4])],
        [numpy_helper.from_array(np.zeros((5, 5), np.float32), "scan_unused")],
    )
    loop_body = helper.make_graph(
        [const("l_c", np.arange(7, dtype=np.float32)),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "loop_body",
        [make_value("iter", [], TensorProto.INT64), make_value("cond_in", [], TensorProto.BOOL)],
        [make_value("cond_out", [], TensorProto.BOOL)],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            const("flag", np.array(True)),  # a 0-d literal: not a parameter
            helper.make_node("If", ["flag"], ["y"], name="gate",
                             then_branch=branch("then", np.full((2, 3), then_weight, np.float32)),
                             else_branch=branch("else", np.zeros((2, 3), np.float32))),
            helper.make_node("Loop", ["trip", "flag"], ["cond_final"], body=loop_body),
            helper.make_node("Scan", ["init", "xs"], ["final", "ys"], body=scan_body,
                             num_scan_inputs=1),
        ],
        "control",
        [make_value("trip", [], TensorProto.INT64), make_value("init", [4]),
         make_value("xs", [3, 4])],
        [make_value("y", [2, 3]), make_value("final", [4]), make_value("ys", [3, 4])],
        [numpy_helper.from_array(np.ones(10, np.float32), "top")],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_parameters_in_subgraphs_and_constants() -> None:
    model = control_flow_model()
    onnx.checker.check_model(model)
    info = read_onnx_info(io.BytesIO(model.SerializeToString()))
    # top 10; If: 2 x (initializer 6 + Constant 6); Loop: Constant 7; Scan: initializer 25.
    assert info.parameters_count == onnx_parameters(model) == 10 + 24 + 7 + 25


def test_tensors_are_listed_with_unique_keys() -> None:
    model = control_flow_model()
    tensors = list(model_tensors(io.BytesIO(model.SerializeToString())))
    by_key = {t.key: t for t in tensors}
    assert len(by_key) == len(tensors)
    assert by_key["top"].kind == "initializer" and by_key["top"].dims == (10,)
    assert by_key["gate/then_branch/then_w"].dims == (2, 3)
    assert by_key["gate/else_branch/else_c"].kind == "constant"
    assert by_key["flag"].parameters == 0 and by_key["flag"].elements == 1
    assert by_key["flag"].data_type == TensorProto.BOOL
    assert all(t.sha256 is None for t in tensors)  # no hashing unless asked


def test_tensor_hashes_change_with_the_bytes_only() -> None:
    a = list(model_tensors(io.BytesIO(control_flow_model(1.0).SerializeToString()), hashes=True))
    b = list(model_tensors(io.BytesIO(control_flow_model(2.0).SerializeToString()), hashes=True))
    changed = {x.key for x, y in zip(a, b, strict=True) if x.sha256 != y.sha256}
    assert changed == {"gate/then_branch/then_w"}
    assert all(t.sha256 and len(t.sha256) == 64 for t in a)


def test_large_tensor_is_hashed_by_streaming() -> None:
    big = np.arange(1 << 18, dtype=np.float32)  # 1 MiB of raw_data: read in chunks
    graph = helper.make_graph([], "g", [], [make_value("W", [1 << 18])],
                              [numpy_helper.from_array(big, "W")])  # fmt: skip
    data = helper.make_model(graph).SerializeToString()
    (t,) = model_tensors(io.BytesIO(data), hashes=True)
    raw = big.tobytes()
    expected = hashlib.sha256(b"9:2:%d;" % len(raw) + raw).hexdigest()
    assert (t.elements, t.sha256) == (1 << 18, expected)


def test_duplicate_keys_get_a_suffix() -> None:
    graph = helper.make_graph(
        [],
        "g",
        [],
        [],
        [numpy_helper.from_array(np.ones(2), "W"), numpy_helper.from_array(np.ones(3), "W")],
    )
    keys = [t.key for t in model_tensors(io.BytesIO(helper.make_model(graph).SerializeToString()))]
    assert keys == ["W", "W#2"]


def nested_ifs(depth: int) -> bytes:
    """A model whose graphs nest ``depth`` deep, written by hand (protobuf itself refuses
    to build or parse deep nesting)."""
    graph = b""
    for _ in range(depth - 1):
        attribute = len_field(1, b"then_branch") + len_field(6, graph)
        graph = len_field(1, len_field(4, b"If") + len_field(5, attribute))
    return len_field(7, graph)


def test_subgraph_depth_is_bounded() -> None:
    assert read_onnx_info(io.BytesIO(nested_ifs(MAX_GRAPH_DEPTH))).parameters_count == 0
    with pytest.raises(InvalidModelError, match="nested deeper"):
        read_onnx_info(io.BytesIO(nested_ifs(MAX_GRAPH_DEPTH + 1)))


def test_single_tensor_shapes_stay_flat() -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])],
        "g",
        [make_value("X", ["batch", 4])],
        [make_value("Y", ["batch", 4])],
    )
    info = read_onnx_info(io.BytesIO(helper.make_model(graph).SerializeToString()))
    assert (info.input_shape, info.output_shape) == (["batch", 4], ["batch", 4])
    assert (info.input_names, info.output_names) == (["X"], ["Y"])


def test_two_headed_model_gets_one_shape_per_output() -> None:
    info = read_onnx_info(io.BytesIO(two_headed_model()))
    assert info.output_shape == [[1, 2], [1, 2]]
    assert info.input_shape == [1, 2]


# -- a real model -----------------------------------------------------------------------------


def test_silero_vad_weights_in_if_branches() -> None:
    path = silero_vad_path()
    assert hashlib.md5(path.read_bytes()).hexdigest() == SILERO_VAD_MD5
    info = read_onnx_info_path(path)
    assert info.parameters_count == SILERO_VAD_PARAMETERS
    assert info.parameters_count == onnx_parameters(onnx.load(str(path)))
    assert info.opset == 16
    assert info.input_names == ["input", "state", "sr"]
    assert info.output_names == ["output", "stateN"]
    assert info.input_shape == [[None, None], [2, None, 128], []]
    assert info.output_shape == [[None, 1], [None, None, None]]
    with path.open("rb") as f:
        tensors = list(model_tensors(f, hashes=True))
    assert len(tensors) == 341 and all(t.kind == "constant" for t in tensors)
    assert sum(t.parameters for t in tensors) == SILERO_VAD_PARAMETERS
