"""plan_onnx_skeleton and write_onnx_skeleton: the model, byte for byte, but its large raw_data."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.errors import InvalidModelError
from heimdall_io.onnx.skeleton import (
    RawDataTensor,
    SkeletonPlan,
    SkeletonUnsupported,
    TensorRewrite,
    plan_onnx_skeleton,
    write_onnx_skeleton,
)

from .models import RICH, big_model, counting_reader, graph_model, make_value
from .wire_format import MINIMAL_GRAPH, key, len_field, varint


def floats(name: str, count: int) -> TensorProto:
    return numpy_helper.from_array(np.arange(count, dtype=np.float32), name)


def external_fields(offset: int, length: int) -> TensorProto:
    """The fields the test rewrite appends: raw_data at ``offset`` of w.bin."""
    entries = {"location": "w.bin", "offset": str(offset), "length": str(length)}
    return TensorProto(
        data_location=TensorProto.EXTERNAL,
        external_data=[onnx.StringStringEntryProto(key=k, value=v) for k, v in entries.items()],
    )


def externalize(tensor: RawDataTensor) -> TensorRewrite:
    fields = external_fields(tensor.raw_offset, tensor.raw_length).SerializeToString()
    return TensorRewrite(fields, frozenset({14}))


Rewrite = Callable[[RawDataTensor], TensorRewrite | None]


def skeleton_of(
    data: bytes, min_raw_bytes: int = 64, rewrite: Rewrite = externalize
) -> tuple[SkeletonPlan, bytes]:
    plan = plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=min_raw_bytes)
    out = io.BytesIO()
    size = write_onnx_skeleton(plan, io.BytesIO(data), out, [rewrite(t) for t in plan.tensors])
    assert size == len(out.getvalue())
    return plan, out.getvalue()


def moved(tensor: TensorProto, data: bytes) -> None:
    """Rewrite ``tensor`` (from the model ``data``) in place as the test rewrite does."""
    offset = data.index(tensor.raw_data)
    assert data.count(tensor.raw_data) == 1
    length = len(tensor.raw_data)
    tensor.ClearField("raw_data")
    tensor.MergeFrom(external_fields(offset, length))


def nested_model() -> onnx.ModelProto:
    """Large tensors in every place the checker looks, and small ones beside them."""
    rng = np.random.default_rng(7)

    def big(name: str, count: int = 100) -> TensorProto:
        return numpy_helper.from_array(rng.standard_normal(count).astype(np.float32), name)

    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=big("in_branch"))],
        "branch",
        [],
        [make_value("c", [100])],
        [big("branch_init"), floats("branch_small", 2)],
    )
    body = [
        helper.make_node("Constant", [], ["k"], value=big("in_function")),
        helper.make_node("Add", ["x", "k"], ["y"]),
    ]
    function = helper.make_function("local", "F", ["x"], ["y"], body, [helper.make_opsetid("", 17)])
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["C"], value=big("in_node")),
            helper.make_node("Loop", ["", "cond"], ["L"], body=branch),
            helper.make_node("F", ["C"], ["Y"], domain="local"),
        ],
        "nested",
        [],
        [make_value("Y", [100])],
        [big("W", 300), floats("small", 3), numpy_helper.from_array(np.array(True), "cond")],
    )
    sparse = helper.make_sparse_tensor(big("sparse", 50), floats("idx", 50), [100])
    graph.sparse_initializer.append(sparse)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    return helper.make_model(graph, functions=[function], opset_imports=opsets)


def test_skeleton_moves_large_raw_data_wherever_the_checker_looks() -> None:
    model = nested_model()
    data = model.SerializeToString()
    plan, skeleton = skeleton_of(data)
    assert plan.size == len(data)
    names = [t.name.decode() for t in plan.tensors]
    assert sorted(names) == ["W", "branch_init", "in_branch", "in_function", "in_node"]
    for tensor in plan.tensors:
        raw = data[tensor.raw_offset : tensor.raw_offset + tensor.raw_length]
        assert np.array_equal(np.frombuffer(raw, np.float32)[:3], find(model, tensor.name)[:3])
        assert tensor.data_type == TensorProto.FLOAT
    graph = model.graph
    for tensor in (
        graph.initializer[0],
        graph.node[0].attribute[0].t,
        graph.node[1].attribute[0].g.initializer[0],
        graph.node[1].attribute[0].g.node[0].attribute[0].t,
        model.functions[0].node[0].attribute[0].t,
    ):
        moved(tensor, data)
    assert onnx.ModelProto.FromString(skeleton) == model
    assert len(skeleton) < len(data) - 2000  # 2800 bytes of raw_data left


def find(model: onnx.ModelProto, name: bytes) -> np.ndarray:
    """The values of the tensor called ``name`` anywhere in ``model``."""
    found: list[np.ndarray] = []

    def visit(graph: onnx.GraphProto) -> None:
        found.extend(numpy_helper.to_array(t) for t in graph.initializer if t.name.encode() == name)
        for node in graph.node:
            visit_nodes(node)

    def visit_nodes(node: onnx.NodeProto) -> None:
        for attribute in node.attribute:
            if attribute.t.name.encode() == name:
                found.append(numpy_helper.to_array(attribute.t))
            if attribute.HasField("g"):
                visit(attribute.g)

    visit(model.graph)
    for function in model.functions:
        for node in function.node:
            visit_nodes(node)
    assert len(found) == 1
    return found[0]


def test_skeleton_without_large_tensors_is_the_model() -> None:
    data = nested_model().SerializeToString()
    plan, skeleton = skeleton_of(data, min_raw_bytes=10_000)
    assert plan.tensors == []
    assert skeleton == data


def test_skeleton_can_keep_a_planned_tensor_whole() -> None:
    data = nested_model().SerializeToString()
    _, skeleton = skeleton_of(data, rewrite=lambda t: None)
    assert skeleton == data


def test_skeleton_rewrite_drops_fields() -> None:
    data = graph_model(helper.make_graph([], "g", [], [], [floats("W", 100)]))
    marker = TensorProto(dims=[0], data_type=12345).SerializeToString()
    _, skeleton = skeleton_of(data, rewrite=lambda t: TensorRewrite(marker, frozenset({1, 2, 14})))
    tensor = onnx.ModelProto.FromString(skeleton).graph.initializer[0]
    assert tensor == TensorProto(name="W", dims=[0], data_type=12345)


def test_skeleton_dims_and_data_type_as_protobuf_reads_them() -> None:
    tensor = key(1, 0) + varint(3) + len_field(1, varint(5) + varint(-1)) + key(2, 0) + varint(7)
    tensor += key(2, 0) + varint(1 << 33 | 10) + len_field(9, b"\0" * 100) + len_field(8, b"T")
    tensor += key(2, 2) + varint(1) + b"x"  # data_type of the wrong wire type: unknown field
    data = graph_model(helper.make_graph([], "g", [], [])) + len_field(7, len_field(5, tensor))
    (planned,) = plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=100).tensors
    parsed = onnx.ModelProto.FromString(data).graph.initializer[0]
    assert planned.dims == tuple(parsed.dims) == (3, 5, -1)
    assert planned.data_type == parsed.data_type == 10
    assert planned.name == b"T"
    assert planned.raw_length == 100


def test_skeleton_leaves_other_tensors_whole() -> None:
    typed = helper.make_tensor("typed", TensorProto.FLOAT, [100], list(range(100)))
    typed.raw_data = bytes(400)  # two value fields: invalid, and not the skeleton's to judge
    listed = floats("listed", 100)
    listed.external_data.add(key="location", value="elsewhere.bin")  # ignored unless EXTERNAL
    data = graph_model(helper.make_graph([], "g", [], [], [typed, listed]))
    assert plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=64).tensors == []


def test_skeleton_keeps_a_merged_attribute_tensor_whole() -> None:
    node = helper.make_node("Constant", [], ["C"], value=floats("C", 100))
    again = len_field(5, TensorProto(doc_string="merged").SerializeToString())
    attribute = node.attribute[0].SerializeToString() + again
    node_bytes = len_field(4, b"Constant") + len_field(2, b"C") + len_field(5, attribute)
    data = graph_model(helper.make_graph([], "g", [], [])) + len_field(7, len_field(1, node_bytes))
    parsed = onnx.ModelProto.FromString(data).graph.node[0].attribute[0].t
    assert parsed.doc_string == "merged" and len(parsed.raw_data) == 400
    assert plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=64).tensors == []


@pytest.mark.parametrize("min_raw_bytes", [1, 1024])
@pytest.mark.parametrize("where", ["initializer", "attribute"])
def test_skeleton_refuses_models_with_external_data(min_raw_bytes: int, where: str) -> None:
    tensor = TensorProto(name="E", data_type=1, dims=[1], data_location=TensorProto.EXTERNAL)
    tensor.external_data.add(key="location", value="e.bin")
    if where == "initializer":
        graph = helper.make_graph([], "g", [], [], [tensor])
    else:
        graph = helper.make_graph(
            [helper.make_node("Constant", [], ["E"], value=tensor)], "g", [], []
        )
    data = graph_model(graph)
    with pytest.raises(SkeletonUnsupported, match="external data"):
        plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=min_raw_bytes)


def test_skeleton_reads_data_location_as_a_closed_enum() -> None:
    """An unknown value is kept aside by protobuf: the last known one (DEFAULT) stands."""
    tensor = floats("W", 100).SerializeToString() + key(14, 0) + varint(0) + key(14, 0) + varint(7)
    data = graph_model(helper.make_graph([], "g", [], [])) + len_field(7, len_field(5, tensor))
    assert onnx.ModelProto.FromString(data).graph.initializer[0].data_location == 0
    assert len(plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=64).tensors) == 1


def nest(depth: int) -> bytes:
    """A graph ``depth`` If nodes deep, with a large initializer at the bottom (by hand: the
    Python protobuf refuses to build such depths)."""
    graph = helper.make_graph([], "bottom", [], [], [floats("W", 100)]).SerializeToString()
    for level in range(depth):
        attribute = len_field(1, b"then_branch") + key(20, 0) + varint(5) + len_field(6, graph)
        node = len_field(1, b"c") + len_field(4, b"If") + len_field(5, attribute)
        graph = len_field(1, node) + len_field(2, f"level{level}".encode())
    return graph_model(helper.make_graph([], "g", [], [])) + len_field(7, graph)


ODD_ENCODINGS = {
    "group": MINIMAL_GRAPH + key(100, 3) + key(1, 0) + varint(1) + key(100, 4),
    "field_zero": MINIMAL_GRAPH + b"\x00",
    "padded_key": b"\xba\x00" + varint(0),  # field 7, wire type 2, in two bytes
    "padded_length": key(7, 2) + b"\x80\x00",
    "padded_varint": MINIMAL_GRAPH + key(1, 0) + b"\x88\x00",
    "padded_dim": len_field(7, len_field(5, len_field(1, b"\x83\x00") + len_field(9, b"\0" * 99))),
    "key_over_32_bits": MINIMAL_GRAPH + varint(1 << 40 | 5 << 3) + varint(1),
    "too_deep": nest(40),
}


@pytest.mark.parametrize("name", ODD_ENCODINGS)
def test_skeleton_refuses_odd_encodings(name: str) -> None:
    with pytest.raises(SkeletonUnsupported):
        plan_onnx_skeleton(io.BytesIO(ODD_ENCODINGS[name]), min_raw_bytes=1)


def test_skeleton_of_a_deep_but_allowed_model() -> None:
    data = nest(30)
    plan, skeleton = skeleton_of(data)
    assert len(plan.tensors) == 1
    assert len(skeleton) < len(data) - 300


@pytest.mark.parametrize(
    "data",
    [
        RICH[:-1],
        b"\x3a\x05\x00",
        key(9, 7) + MINIMAL_GRAPH,
        len_field(7, len_field(5, b"\x0a\x05")),
    ],
)
def test_skeleton_of_broken_framing_is_invalid(data: bytes) -> None:
    with pytest.raises(InvalidModelError):
        plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=1)


def test_skeleton_rewrite_arguments_are_checked() -> None:
    data = graph_model(helper.make_graph([], "g", [], [], [floats("W", 100)]))
    plan = plan_onnx_skeleton(io.BytesIO(data), min_raw_bytes=64)
    with pytest.raises(ValueError, match="1 tensors"):
        write_onnx_skeleton(plan, io.BytesIO(data), io.BytesIO(), [])
    with pytest.raises(ValueError, match=r"cannot drop fields \[8\]"):
        write_onnx_skeleton(
            plan, io.BytesIO(data), io.BytesIO(), [TensorRewrite(b"", frozenset({8}))]
        )
    with pytest.raises(InvalidModelError, match="changed"):
        write_onnx_skeleton(plan, io.BytesIO(data + b"\x08\x01"), io.BytesIO(), [None])


def test_skeleton_of_a_large_model_reads_little(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    with counting_reader(path) as counting:
        plan = plan_onnx_skeleton(counting)
        out = io.BytesIO()
        counting.seek(0)
        write_onnx_skeleton(plan, counting, out, [externalize(t) for t in plan.tensors])
    assert counting.bytes_read < 64 << 10
    (padding,) = plan.tensors
    assert padding.name.startswith(b"padding_")
    assert padding.raw_length > (64 << 20) - 1024
    expected = onnx.load(str(path))
    expected.graph.initializer[3].ClearField("raw_data")
    expected.graph.initializer[3].MergeFrom(external_fields(padding.raw_offset, padding.raw_length))
    assert onnx.ModelProto.FromString(out.getvalue()) == expected
