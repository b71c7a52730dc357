"""read_onnx_info against onnx.load, on valid, odd and broken models."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.errors import FileAccessError, InvalidModelError, NotFoundError
from heimdall_io.onnx.metadata import OnnxInfo, TensorSpec, read_onnx_info, read_onnx_info_path
from tests.support.synthetic import synthetic_model_bytes

from .models import RICH, big_model, counting_reader, graph_model, make_value
from .wire_format import MINIMAL_GRAPH, key, len_field, varint

# -- what onnx.load says -----------------------------------------------------------------


def _spec(value_info: onnx.ValueInfoProto) -> TensorSpec:
    member = value_info.type.WhichOneof("value")
    if member not in ("tensor_type", "sparse_tensor_type"):
        return TensorSpec(value_info.name, None, None)
    tensor_type = getattr(value_info.type, member)
    shape: list[int | str | None] | None = None
    if tensor_type.HasField("shape"):
        shape = [
            dim.dim_value
            if dim.HasField("dim_value")
            else dim.dim_param
            if dim.HasField("dim_param")
            else None
            for dim in tensor_type.shape.dim
        ]
    return TensorSpec(value_info.name, tensor_type.elem_type, shape)


def expected_info(data: bytes) -> OnnxInfo:
    """The metadata as computed from the fully parsed model."""
    model = onnx.load_from_string(data)
    graph = model.graph
    constants = {t.name for t in graph.initializer}
    constants |= {s.values.name for s in graph.sparse_initializer}
    opset = None
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            opset = entry.version
    tensors = [*graph.initializer, *(s.values for s in graph.sparse_initializer)]
    return OnnxInfo(
        ir_version=model.ir_version if model.HasField("ir_version") else None,
        producer_name=model.producer_name if model.HasField("producer_name") else None,
        opset=opset,
        inputs=[_spec(v) for v in graph.input if v.name not in constants],
        outputs=[_spec(v) for v in graph.output],
        parameters_count=sum(int(np.prod(t.dims, dtype=object)) for t in tensors),
        size_bytes=len(data),
    )


def info_of(data: bytes) -> OnnxInfo:
    return read_onnx_info(io.BytesIO(data))


def assert_matches_onnx(data: bytes) -> OnnxInfo:
    info = info_of(data)
    assert info == expected_info(data)
    return info


# -- valid models ------------------------------------------------------------------------


def test_rich_model_matches_onnx() -> None:
    info = assert_matches_onnx(RICH)
    assert info.opset == 13
    assert info.producer_name == "pytorch"
    assert [spec.name for spec in info.inputs] == ["X", "mask", "unshaped"]
    # Several inputs or outputs: one shape per tensor (None: no shape recorded).
    assert info.input_shape == [["batch", 4], [None, "seq", 7], None]
    assert info.inputs[1].shape == [None, "seq", 7]
    assert info.inputs[2] == TensorSpec("unshaped", TensorProto.INT64, None)
    assert info.output_shape == [["batch", 3], []]
    assert (info.input_names, info.output_names) == (["X", "mask", "unshaped"], ["Y", "Z"])
    assert info.parameters_count == 12 + 1 + 0 + 3


def test_every_initializer_listed_as_input() -> None:
    weight = numpy_helper.from_array(np.ones((8, 2), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "old_style",
        [make_value("W", [8, 2]), make_value("X", [1, 8])],
        [make_value("Y", [1, 2])],
        [weight],
    )
    info = assert_matches_onnx(graph_model(graph))
    assert [spec.name for spec in info.inputs] == ["X"]
    assert info.parameters_count == 16


def test_packed_and_unpacked_dims() -> None:
    # onnx writes dims unpacked; other protobuf writers may pack them.
    unpacked = onnx.TensorProto(dims=[3, 300, 2], data_type=TensorProto.FLOAT, name="T")
    packed = len_field(1, varint(3) + varint(300) + varint(2))
    packed += onnx.TensorProto(data_type=TensorProto.FLOAT, name="P").SerializeToString()
    # Both encodings in one tensor accumulate, as protobuf does.
    mixed = len_field(1, varint(5)) + onnx.TensorProto(dims=[7], name="M").SerializeToString()
    graph = helper.make_graph([], "g", [make_value("X", [1])], [make_value("X", [1])])
    graph_bytes = graph.SerializeToString()
    graph_bytes += len_field(5, unpacked.SerializeToString())
    graph_bytes += len_field(5, packed) + len_field(5, mixed)
    data = (
        onnx.ModelProto(ir_version=8).SerializeToString()
        + len_field(7, graph_bytes)
        + onnx.ModelProto(opset_import=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    info = assert_matches_onnx(data)
    assert info.parameters_count == 1800 + 1800 + 35


def test_scalar_and_zero_sized_initializers() -> None:
    graph = helper.make_graph(
        [],
        "g",
        [make_value("X", [1])],
        [make_value("X", [1])],
        [
            numpy_helper.from_array(np.array(1, np.int64), "scalar"),
            numpy_helper.from_array(np.zeros((2, 0, 3), np.float32), "nothing"),
        ],
    )
    assert assert_matches_onnx(graph_model(graph)).parameters_count == 1


def test_sparse_initializer_counts_stored_values() -> None:
    values = numpy_helper.from_array(np.ones(5, np.float32), "sparse_w")
    indices = numpy_helper.from_array(np.arange(5, dtype=np.int64), "sparse_w_indices")
    sparse = helper.make_sparse_tensor(values, indices, [100, 100])
    graph = helper.make_graph(
        [],
        "g",
        [make_value("X", [1]), make_value("sparse_w", [100, 100])],
        [make_value("X", [1])],
        sparse_initializer=[sparse],
    )
    info = assert_matches_onnx(graph_model(graph))
    assert info.parameters_count == 5
    assert [spec.name for spec in info.inputs] == ["X"]


def test_external_data_initializer_counts_dims() -> None:
    tensor = onnx.TensorProto(dims=[1000, 1000], data_type=TensorProto.FLOAT, name="ext")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")
    graph = helper.make_graph([], "g", [make_value("X", [1])], [make_value("X", [1])], [tensor])
    assert assert_matches_onnx(graph_model(graph)).parameters_count == 1_000_000


@pytest.mark.parametrize(
    ("opsets", "expected"),
    [
        ([helper.make_opsetid("com.example", 1)], None),
        ([helper.make_opsetid("ai.onnx", 15)], 15),
        ([helper.make_opsetid("ai.onnx.ml", 3), helper.make_opsetid("", 19)], 19),
        ([], None),
    ],
)
def test_opset_of_default_domain(
    opsets: list[onnx.OperatorSetIdProto], expected: int | None
) -> None:
    graph = helper.make_graph([], "g", [make_value("X", [1])], [make_value("X", [1])])
    model = onnx.ModelProto(ir_version=8, graph=graph, opset_import=opsets)
    assert assert_matches_onnx(model.SerializeToString()).opset == expected


def test_absent_header_fields_are_none() -> None:
    graph = helper.make_graph([], "g", [], [])
    info = assert_matches_onnx(onnx.ModelProto(graph=graph).SerializeToString())
    assert (info.ir_version, info.producer_name, info.opset) == (None, None, None)
    assert (info.inputs, info.outputs, info.parameters_count) == ([], [], 0)
    assert (info.input_shape, info.output_shape) == (None, None)


def test_non_tensor_types() -> None:
    sequence = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, [2])
    sparse = helper.make_sparse_tensor_value_info("sp", TensorProto.FLOAT, [3, "n"])
    optional = helper.make_value_info(
        "opt", helper.make_optional_type_proto(helper.make_tensor_type_proto(1, [1]))
    )
    graph = helper.make_graph([], "g", [sequence, sparse, optional], [])
    info = assert_matches_onnx(graph_model(graph))
    assert info.inputs == [
        TensorSpec("seq", None, None),
        TensorSpec("sp", TensorProto.FLOAT, [3, "n"]),
        TensorSpec("opt", None, None),
    ]


def test_concatenated_messages_merge_like_protobuf() -> None:
    # Two serialized ModelProtos back to back are one merged message: the graph's repeated
    # fields accumulate, scalars take the last value.
    second = onnx.ModelProto(ir_version=9, producer_name="second")
    second.graph.input.append(make_value("extra", [5]))
    second.graph.initializer.append(numpy_helper.from_array(np.ones(4, np.float32), "more"))
    data = RICH + second.SerializeToString()
    info = assert_matches_onnx(data)
    assert (info.ir_version, info.producer_name) == (9, "second")
    assert info.inputs[-1].name == "extra"


def test_oneof_last_member_wins() -> None:
    dim_both = len_field(1, key(1, 0) + varint(4) + len_field(2, b"n"))  # value, then param
    tensor_type = key(1, 0) + varint(1) + len_field(2, dim_both)
    type_proto = len_field(4, b"") + len_field(1, tensor_type)  # sequence, then tensor
    value_info = len_field(1, b"X") + len_field(2, type_proto)
    data = len_field(7, len_field(11, value_info))
    assert assert_matches_onnx(data).inputs == [TensorSpec("X", 1, ["n"])]


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        key(900, 0) + varint(2**63)
        + key(901, 1) + b"\x00" * 8
        + key(902, 2) + varint(3) + b"abc"
        + key(903, 5) + b"\x00" * 4
    )  # fmt: skip
    value_info = make_value("X", ["b", 2]).SerializeToString() + unknown
    graph = len_field(11, value_info) + unknown + len_field(12, value_info)
    data = unknown + key(1, 0) + varint(7) + len_field(7, graph) + unknown
    info = assert_matches_onnx(data)
    assert info.ir_version == 7
    assert info.input_shape == ["b", 2]


def test_negative_int32_and_int64_values() -> None:
    tensor_type = key(1, 0) + varint(-3) + len_field(2, len_field(1, key(1, 0) + varint(-1)))
    value_info = len_field(1, b"X") + len_field(2, len_field(1, tensor_type))
    data = key(1, 0) + varint(-2) + len_field(7, len_field(11, value_info))
    info = assert_matches_onnx(data)
    assert info.ir_version == -2
    assert info.inputs == [TensorSpec("X", -3, [-1])]


@pytest.mark.parametrize("size", [414, 4096, 100_000, 3 << 20])
@pytest.mark.parametrize("compressible", [False, True])
def test_synthetic_models(size: int, compressible: bool) -> None:
    data = synthetic_model_bytes(size, seed=size, compressible=compressible)
    info = assert_matches_onnx(data)
    assert (info.input_shape, info.output_shape, info.opset) == ([1, 16], [1, 2], 17)
    assert info.size_bytes == size


def test_synthetic_model_with_dynamic_batch() -> None:
    data = synthetic_model_bytes(5000, input_shape=("N", 3, 4), output_shape=("N", 5), opset=13)
    info = assert_matches_onnx(data)
    assert (info.input_shape, info.output_shape, info.opset) == (["N", 3, 4], ["N", 5], 13)


def test_reads_from_current_position() -> None:
    data = synthetic_model_bytes(2000)
    fileobj = io.BytesIO(b"not part of the model" + data)
    fileobj.seek(21)
    assert read_onnx_info(fileobj) == expected_info(data)


class ShortReads(io.BytesIO):
    """A file that returns at most 3 bytes per read, as pipes and sockets may."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(size if size is None or size < 0 else min(3, size))


def test_short_reads() -> None:
    assert read_onnx_info(ShortReads(RICH)) == expected_info(RICH)


# -- cost ---------------------------------------------------------------------------------


def test_large_model_is_inspected_by_seeking(tmp_path: Path) -> None:
    path = big_model(tmp_path)
    with counting_reader(path) as counting:
        start = time.perf_counter()
        info = read_onnx_info(counting)
        elapsed = time.perf_counter() - start
    assert counting.bytes_read < 64 << 10
    assert elapsed < 0.5
    assert info.size_bytes == 64 << 20
    assert info.parameters_count > (64 << 20) // 4 - 1000
    assert info == expected_info(path.read_bytes())
    onnx.checker.check_model(str(path))


def test_many_nodes_are_skipped_quickly() -> None:
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(10_000)]
    graph = helper.make_graph(
        nodes, "deep", [make_value("t0", [1, 8])], [make_value("t10000", [1, 8])]
    )
    data = graph_model(graph)
    start = time.perf_counter()
    info = info_of(data)
    assert time.perf_counter() - start < 0.5
    assert info == expected_info(data)


# -- paths --------------------------------------------------------------------------------


def test_path(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(RICH)
    assert read_onnx_info_path(path) == expected_info(RICH)
    assert read_onnx_info_path(str(path)) == expected_info(RICH)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_onnx_info_path(tmp_path / "nope.onnx")


def test_directory_path(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError):
        read_onnx_info_path(tmp_path)


# -- invalid input ------------------------------------------------------------------------


def assert_invalid(data: bytes, message: str) -> None:
    with pytest.raises(InvalidModelError) as caught:
        info_of(data)
    text = str(caught.value)
    assert text.startswith("not an ONNX model: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (json.dumps({"model": {"name": "x"}}).encode(), "invalid wire type"),
        (b"\x08", "truncated varint at byte 1"),
        (b"\x08" + b"\xff" * 10 + b"\x01" + MINIMAL_GRAPH, "varint longer than 10 bytes"),
        (b"\x3a\x05\x00", "truncated field 7 at byte 0"),
        (b"\x08\x07", "no graph"),
        (b"\x00\x00" + MINIMAL_GRAPH, "field number 0"),
        (key(1, 2) + varint(0) + MINIMAL_GRAPH, "field 1 has wire type 2, expected 0"),
        (key(7, 0) + varint(1), "field 7 has wire type 0, expected 2"),
        (key(7, 5) + b"abcd", "field 7 has wire type 5, expected 2"),
        (key(5, 3) + MINIMAL_GRAPH, "invalid wire type 3"),
        (MINIMAL_GRAPH + key(9, 4), "invalid wire type 4"),
        (key(9, 6) + MINIMAL_GRAPH, "invalid wire type 6"),
        (key(9, 7) + MINIMAL_GRAPH, "invalid wire type 7"),
        (len_field(7, len_field(11, key(1, 2) + varint(9) + b"X")) + b"\x08\x08", "overruns"),
        (len_field(7, len_field(11, len_field(1, b"\xff\xfe"))), "not UTF-8"),
        (len_field(7, len_field(5, key(1, 0) + varint(-4))), "negative tensor dimension -4"),
        (len_field(7, len_field(5, len_field(1, b"\x80"))), "truncated varint"),
        (len_field(7, key(1, 1) + bytes(8)), "field 1 has wire type 1, expected 2"),
        (RICH[:-1], "truncated"),
    ],
)
def test_invalid(data: bytes, message: str) -> None:
    assert_invalid(data, message)


def test_json_and_text_are_not_models() -> None:
    assert_invalid(b'{"format_version": "1.1.0"}\n', "not an ONNX model")
    assert_invalid(b"ir_version: 8\ngraph { }\n", "not an ONNX model")


def test_every_truncation_of_a_small_model() -> None:
    for end in range(len(RICH)):
        check_prefix_or_garbage(RICH[:end])


def check_prefix_or_garbage(data: bytes) -> None:
    """Either InvalidModelError, or a result equal to what protobuf makes of the bytes."""
    try:
        info = info_of(data)
    except InvalidModelError:
        return
    assert info == expected_info(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(InvalidModelError):
        info_of(data)


@settings(max_examples=500)
@given(st.data())
def test_mutated_model(data: st.DataObject) -> None:
    blob = bytearray(RICH)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    end = data.draw(st.integers(0, len(blob)))
    try:
        info = info_of(bytes(blob[:end]))
    except InvalidModelError:
        return
    try:
        expected = expected_info(bytes(blob[:end]))
    except Exception:  # protobuf rejects what the reader skips (e.g. inside a node)
        return
    assert info == expected
