"""onnx.external: models whose tensors live in other files are found without loading weights,
wherever onnx looks for tensors (issue 8, item 10)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.errors import InvalidModelError
from heimdall_io.onnx import find_external_tensor, reject_external_data
from tests.support.synthetic import synthetic_model_bytes

OPSET = [helper.make_opsetid("", 17)]
SECRET = "../../objects/imported/secret-1-abcdef12.onnx"


def external(name: str = "w", location: str = SECRET) -> TensorProto:
    tensor = numpy_helper.from_array(np.ones((2, 2), np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "16"}.items():
        tensor.external_data.add(key=key, value=value)
    return tensor


def plain(name: str = "p") -> TensorProto:
    return numpy_helper.from_array(np.arange(600, dtype=np.float32), name)  # > 2 KiB


def graph(
    *,
    initializer: list[TensorProto] | None = None,
    nodes: list[onnx.NodeProto] | None = None,
    sparse: list[onnx.SparseTensorProto] | None = None,
    name: str = "g",
) -> onnx.GraphProto:
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 2])
    return helper.make_graph(
        [*(nodes or []), helper.make_node("Identity", ["X"], ["Y"])], name, [x], [y],
        initializer=[plain(), *(initializer or [])], sparse_initializer=sparse or [],
    )  # fmt: skip


def model(g: onnx.GraphProto, **kw: Any) -> bytes:
    return helper.make_model(g, opset_imports=OPSET, **kw).SerializeToString()


def in_initializer() -> bytes:
    return model(graph(initializer=[external("w")]))


def in_constant() -> bytes:
    node = helper.make_node("Constant", [], ["C"], value=external("const value"))
    return model(graph(nodes=[node]))


def in_nested_graph() -> bytes:
    branch = graph(initializer=[external("deep")], name="then")
    node = helper.make_node("If", ["cond"], ["Z"], then_branch=branch, else_branch=graph(name="e"))
    return model(graph(nodes=[node]))


def in_sparse() -> bytes:
    indices = numpy_helper.from_array(np.array([0, 3], np.int64), "sparse_indices")
    sparse = helper.make_sparse_tensor(external("sparse_values"), indices, [2, 2])
    return model(graph(sparse=[sparse]))


def in_function() -> bytes:
    node = helper.make_node("Constant", [], ["c"], value=external("in_function"))
    function = helper.make_function("custom", "f", [], ["c"], [node], OPSET)
    return model(graph(), functions=[function])


def in_training_info() -> bytes:
    data = onnx.ModelProto.FromString(model(graph()))
    info = data.training_info.add()
    info.initialization.CopyFrom(graph(initializer=[external("trained")], name="init"))
    return data.SerializeToString()


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (in_initializer, "'w'"),
        (in_constant, "'const value'"),
        (in_nested_graph, "'deep'"),
        (in_sparse, "'sparse_values'"),
        (in_function, "'in_function'"),
        (in_training_info, "'trained'"),
    ],
)
def test_external_tensors_are_found(build: Callable[[], bytes], name: str) -> None:
    assert find_external_tensor(io.BytesIO(build())) == name


def test_external_data_entries_alone_are_not_external() -> None:
    tensor = plain("listed")
    tensor.external_data.add(key="location", value="elsewhere.bin")  # ignored unless EXTERNAL
    assert find_external_tensor(io.BytesIO(model(graph(initializer=[tensor])))) is None
    assert find_external_tensor(io.BytesIO(synthetic_model_bytes(100_000))) is None


def test_unknown_data_locations_are_kept_aside() -> None:
    """protobuf keeps an unknown enum value aside (a closed enum): EXTERNAL then 7 is still
    EXTERNAL; EXTERNAL then DEFAULT is not external."""
    tensor = external("w").SerializeToString()
    for extra, expected in ((b"\x70\x00", None), (b"\x70\x07", "'w'")):
        data = onnx.ModelProto.FromString(model(graph()))
        data.graph.initializer.append(TensorProto.FromString(tensor + extra))
        assert data.graph.initializer[-1].data_location == (expected is not None)
        assert find_external_tensor(io.BytesIO(data.SerializeToString())) == expected


class CountingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.bytes_read += len(data)
        return data


def test_weights_are_not_read() -> None:
    data = onnx.ModelProto.FromString(synthetic_model_bytes(32 << 20, seed=2))
    data.graph.initializer.append(external("late"))
    counting = CountingFile(data.SerializeToString())
    assert find_external_tensor(counting) == "'late'"
    assert counting.bytes_read < 1 << 20, counting.bytes_read


def test_the_message_names_the_tensor_and_no_path(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(in_initializer())
    with pytest.raises(InvalidModelError) as caught:
        reject_external_data(str(path))
    message = str(caught.value)
    assert message == (
        "model uses external data (tensor 'w'): not supported in a single-file bundle"
    )
    assert str(tmp_path) not in message and "objects" not in message


def test_control_characters_in_a_name_are_escaped() -> None:
    data = model(graph(initializer=[external("a\x1b]0;x\x07b")]))
    assert find_external_tensor(io.BytesIO(data)) == "'a\\x1b]0;x\\x07b'"


def test_unreadable_files_are_left_to_the_checker(tmp_path: Path) -> None:
    reject_external_data(str(tmp_path / "missing.onnx"))
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 10)
    reject_external_data(str(tmp_path / "junk.onnx"))
