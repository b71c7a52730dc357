"""check_model_file: the skeleton check gives the plain checker's verdict and message."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from heimdall_io.errors import InvalidModelError
from heimdall_io.onnx import checker as onnx_check
from heimdall_io.onnx.checker import check_model_file
from tests.support.imports import assert_imported_lazily
from tests.support.synthetic import synthetic_model_bytes, write_synthetic_model

from .wire_format import len_field

OPSET = [helper.make_opsetid("", 17)]
PLAIN = 1 << 62  # plain_check_max_bytes that sends every model to the plain checker


def outcome(path: Path, **kwargs: int) -> str | None:
    """None if the model passes, else the InvalidModelError message."""
    try:
        check_model_file(str(path), **kwargs)
    except InvalidModelError as e:
        return str(e)
    return None


def plain(path: Path) -> str | None:
    return outcome(path, plain_check_max_bytes=PLAIN)


def skeleton(path: Path, min_external_bytes: int = 1) -> str | None:
    return outcome(path, plain_check_max_bytes=0, min_external_bytes=min_external_bytes)


@pytest.fixture
def rewrites(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the skeleton check did: 'external', 'marker' or 'whole' per tensor; 'plain'."""
    seen: list[str] = []
    real_write, real_check = onnx_check.write_onnx_skeleton, onnx_check._check

    def write(plan, fileobj, out, rewrites):  # type: ignore[no-untyped-def]
        seen.extend(
            "whole" if r is None else "marker" if 1 in r.drop else "external" for r in rewrites
        )
        return real_write(plan, fileobj, out, rewrites)

    def check(checker, path, **kwargs):  # type: ignore[no-untyped-def]
        if not kwargs:
            seen.append("plain")
        return real_check(checker, path, **kwargs)

    monkeypatch.setattr(onnx_check, "write_onnx_skeleton", write)
    monkeypatch.setattr(onnx_check, "_check", check)
    return seen


# -- the corpus ------------------------------------------------------------------------------


def raw(name: str, data_type: int, dims: list[int], data: bytes, **fields: object) -> TensorProto:
    return TensorProto(name=name, data_type=data_type, dims=dims, raw_data=data, **fields)


def floats(name: str, *shape: int, extra: int = 0) -> TensorProto:
    """A float32 tensor; ``extra`` bytes more (or fewer, if negative) raw_data than its shape."""
    count = int(np.prod(shape))
    data = np.arange(count, dtype="<f4").tobytes()
    return raw(name, TensorProto.FLOAT, list(shape), (data + b"\0" * extra)[: len(data) + extra])


def model(
    nodes: list[onnx.NodeProto] | None = None,
    initializer: list[TensorProto] | None = None,
    *,
    name: str = "g",
    outputs: list[str] | None = None,
    inputs: list[onnx.ValueInfoProto] | None = None,
    **kwargs: object,
) -> onnx.ModelProto:
    """X[2, 4] -> MatMul W[4, 3] -> Y by default; nodes and initializers can be replaced."""
    if nodes is None:
        nodes = [helper.make_node("MatMul", ["X", "W"], ["Y"])]
    if initializer is None:
        initializer = [floats("W", 4, 3)]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 4])]
        if inputs is None
        else inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 3]) for o in outputs or ["Y"]],
        initializer,
    )
    kwargs.setdefault("opset_imports", OPSET)
    return helper.make_model(graph, **kwargs)  # type: ignore[arg-type]


def untyped_input() -> onnx.ValueInfoProto:
    """X with a shape but no elem_type."""
    value = onnx.ValueInfoProto(name="X")
    value.type.tensor_type.shape.dim.add().dim_value = 2
    return value


def constant(output: str, tensor: TensorProto) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [output], value=tensor)


def with_unused(*tensors: TensorProto) -> onnx.ModelProto:
    """The default model with extra initializers nothing uses (the checker allows that)."""
    return model(initializer=[floats("W", 4, 3), *tensors])


def if_model(branch_tensor: TensorProto) -> onnx.ModelProto:
    """An If whose branches read a Constant and an initializer of their own."""

    def branch(tag: str) -> onnx.GraphProto:
        add = helper.make_node("Add", [f"c_{tag}", f"i_{tag}"], [f"o_{tag}"])
        return helper.make_graph(
            [constant(f"c_{tag}", branch_tensor), add],
            f"branch_{tag}",
            [],
            [helper.make_tensor_value_info(f"o_{tag}", TensorProto.FLOAT, None)],
            [floats(f"i_{tag}", 4, 3)],
        )

    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node(
        "If", ["cond"], ["Y"], then_branch=branch("then"), else_branch=branch("else")
    )
    return model([node], [cond], inputs=[])


def function_model(tensor: TensorProto, ir_version: int = 10) -> onnx.ModelProto:
    """A model-local function whose body holds a Constant of ``tensor``."""
    body = [constant("c", tensor), helper.make_node("Add", ["x", "c"], ["y"])]
    function = helper.make_function("local", "AddConst", ["x"], ["y"], body, OPSET)
    node = helper.make_node("AddConst", ["XW"], ["Y"], domain="local")
    matmul = helper.make_node("MatMul", ["X", "W"], ["XW"])
    opsets = [*OPSET, helper.make_opsetid("local", 1)]
    return model([matmul, node], functions=[function], opset_imports=opsets, ir_version=ir_version)


def tensor_of(data_type: int, dims: list[int], nbytes: int, fill: int = 0) -> TensorProto:
    return raw("T", data_type, dims, bytes([fill]) * nbytes)


def twice(first: TensorProto, second: TensorProto) -> bytes:
    """An initializer serialized as two concatenated messages: protobuf merges them."""
    data = with_unused(floats("T", 2)).SerializeToString()
    whole = floats("T", 2).SerializeToString()
    merged = first.SerializeToString() + second.SerializeToString()
    return _replace_field(data, whole, merged)


def with_graph(data: bytes, graph: bytes) -> bytes:
    """The model ``data`` with its graph replaced by the serialized GraphProto ``graph``."""
    model_proto = onnx.ModelProto.FromString(data)
    model_proto.ClearField("graph")
    return model_proto.SerializeToString() + len_field(7, graph)


def _replace_field(data: bytes, payload: bytes, new_payload: bytes) -> bytes:
    """Replace a length-delimited payload inside the graph, fixing the graph's length."""
    graph = onnx.ModelProto.FromString(data).graph.SerializeToString()
    assert graph.count(payload) == 1
    at = graph.index(payload)
    assert len(payload) < 128 and len(new_payload) < 128  # one-byte length varints
    new_graph = (
        graph[: at - 1] + bytes([len(new_payload)]) + new_payload + graph[at + len(payload) :]
    )
    return with_graph(data, new_graph)


def not_utf8_name(tensor: TensorProto) -> bytes:
    """An unused initializer named b"T\xb1": pybind cannot decode a message that quotes it."""
    data = with_unused(tensor).SerializeToString()
    assert data.count(b"\x42\x02Tx") == 1
    return data.replace(b"\x42\x02Tx", b"\x42\x02T\xb1")


def external_model(tmp: Path, *, with_file: bool) -> onnx.ModelProto:
    weight = floats("W", 4, 3)
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="weights.bin")
    if with_file:
        (tmp / "weights.bin").write_bytes(floats("W", 4, 3).raw_data)
    return model(initializer=[weight, floats("big", 300)])


def sparse_model() -> onnx.ModelProto:
    values = floats("S", 3)
    indices = numpy_helper.from_array(np.array([1, 5, 9], np.int64), "S_indices")
    sparse = helper.make_sparse_tensor(values, indices, [10])
    result = model()
    result.graph.sparse_initializer.append(sparse)
    return result


def duplicated_attribute_tensor(second: TensorProto) -> bytes:
    """A Constant whose ``value`` tensor comes in two occurrences that protobuf merges."""
    first = raw("C", TensorProto.FLOAT, [3], b"\0" * 12)
    node = constant("C", first)
    data = model([node, helper.make_node("Add", ["X", "C"], ["Y"])], []).SerializeToString()
    attribute = node.attribute[0].SerializeToString()
    assert attribute.count(len_field(5, first.SerializeToString())) == 1  # t
    new_attribute = attribute + len_field(5, second.SerializeToString())
    new_node = node.SerializeToString().replace(
        len_field(5, attribute),
        len_field(5, new_attribute),  # attribute
    )
    graph = onnx.ModelProto.FromString(data).graph.SerializeToString()
    new_graph = graph.replace(len_field(1, node.SerializeToString()), len_field(1, new_node))
    return with_graph(data, new_graph)


F6 = TensorProto.FLOAT6E2M3
ENTRY = onnx.StringStringEntryProto(key="k", value="v")
Build = Callable[[], onnx.ModelProto | bytes]
VALID: dict[str, Build] = {
    "valid": model,
    "valid_larger_tensor": lambda: model(initializer=[floats("W", 4, 3)], ir_version=8),
    "raw_data_longer_than_needed": lambda: with_unused(floats("T", 8, extra=5)),
    "constant_node": lambda: model(
        [constant("C", floats("C", 2, 4)), helper.make_node("Add", ["X", "C"], ["Y"])], []
    ),
    "if_subgraphs": lambda: if_model(floats("c", 4, 3)),
    "local_function": lambda: function_model(floats("c", 3)),
    "sparse_initializer": sparse_model,
    "typed_float_data": lambda: with_unused(
        helper.make_tensor("T", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    ),
    "tensor_with_doc_and_metadata": lambda: with_unused(
        raw("T", 1, [2], b"\0" * 8, doc_string="doc", metadata_props=[ENTRY])
    ),
    "explicit_default_location": lambda: with_unused(raw("T", 1, [2], b"\0" * 8, data_location=0)),
    "external_entries_without_external_location": lambda: with_unused(
        raw(
            "T",
            1,
            [2],
            b"\0" * 8,
            external_data=[onnx.StringStringEntryProto(key="location", value="x")],
        )
    ),
    "op_input_of_wrong_elem_type": lambda: model(
        inputs=[helper.make_tensor_value_info("X", TensorProto.STRING, [2, 4])]
    ),  # types are only inferred with full_check
    "unknown_data_type_with_raw": lambda: with_unused(tensor_of(99, [4], 4)),
    "every_dtype_exact": lambda: with_unused(
        *(raw(f"T{dt}", dt, [3, 5], b"\0" * n) for dt, n in EXACT_BYTES.items())
    ),
    "float6_zero_padding": lambda: with_unused(tensor_of(F6, [3], 3)),
    "raw_twice_last_long": lambda: twice(floats("T", 2, extra=-4), TensorProto(raw_data=b"\0" * 8)),
    "attribute_tensor_twice_valid": lambda: duplicated_attribute_tensor(
        TensorProto(doc_string="2")
    ),
    "function_not_checked_before_ir8": lambda: function_model(
        floats("c", 3, extra=-4), ir_version=7
    ),
}
INVALID: dict[str, Build] = {
    "op_not_in_opset": lambda: model(
        [helper.make_node("Gelu", ["X"], ["Y"])], opset_imports=[helper.make_opsetid("", 13)]
    ),
    "input_not_produced": lambda: model([helper.make_node("MatMul", ["X", "Q"], ["Y"])]),
    "duplicate_outputs": lambda: model(
        [helper.make_node("Relu", ["X"], ["Y"]), helper.make_node("Relu", ["X"], ["Y"])]
    ),
    "raw_data_too_short": lambda: model(initializer=[floats("W", 4, 3, extra=-4)]),
    "raw_data_too_short_unused": lambda: with_unused(floats("T", 300, extra=-1)),
    "undefined_data_type": lambda: with_unused(tensor_of(TensorProto.UNDEFINED, [4], 16)),
    "missing_data_type": lambda: with_unused(TensorProto(name="T", dims=[4], raw_data=b"\0" * 16)),
    "missing_elem_type": lambda: model(inputs=[untyped_input()]),
    "missing_graph_name": lambda: model(name=""),
    "ir_version_zero": lambda: model(ir_version=0),
    "ir_version_too_high": lambda: model(ir_version=onnx.IR_VERSION + 1),
    "string_in_raw_data": lambda: with_unused(tensor_of(TensorProto.STRING, [4], 16)),
    "negative_dim": lambda: with_unused(tensor_of(TensorProto.FLOAT, [4, -1], 16)),
    "dims_overflow": lambda: with_unused(tensor_of(TensorProto.FLOAT, [1 << 40, 1 << 30, 0], 16)),
    "zero_elements_with_data": lambda: with_unused(tensor_of(TensorProto.FLOAT, [4, 0], 16)),
    "too_large_for_type": lambda: with_unused(
        tensor_of(TensorProto.DOUBLE, [1 << 31, 1 << 31], 16)
    ),
    "float6_too_large": lambda: with_unused(tensor_of(F6, [1 << 31, 1 << 31], 16)),
    "float6_padding_bits": lambda: with_unused(tensor_of(F6, [3], 3, fill=0xFF)),
    "float6_too_short": lambda: with_unused(tensor_of(F6, [3], 2)),
    "int4_too_short": lambda: with_unused(tensor_of(TensorProto.INT4, [5], 2)),
    "int2_too_short": lambda: with_unused(tensor_of(TensorProto.INT2, [9], 2)),
    "complex128_too_short": lambda: with_unused(tensor_of(TensorProto.COMPLEX128, [2], 31)),
    "raw_and_float_data": lambda: with_unused(
        TensorProto(name="T", data_type=1, dims=[2], raw_data=b"\0" * 8, float_data=[1.0, 2.0])
    ),
    "duplicate_initializer_name": lambda: with_unused(floats("W", 4, 3, extra=-4)),
    "first_of_two_errors": lambda: with_unused(floats("A", 8, extra=-4), tensor_of(0, [4], 16)),
    "checker_error_before_tensor": lambda: model(
        [helper.make_node("MatMul", ["X", "Q"], ["Y"])], [floats("W", 4, 3, extra=-4)], name=""
    ),
    "constant_too_short": lambda: model(
        [constant("C", floats("C", 2, 4, extra=-4)), helper.make_node("Add", ["X", "C"], ["Y"])], []
    ),
    "subgraph_constant_too_short": lambda: if_model(floats("c", 4, 3, extra=-8)),
    "function_constant_too_short": lambda: function_model(floats("c", 3, extra=-4)),
    "raw_twice_last_short": lambda: twice(floats("T", 2), TensorProto(raw_data=b"\0" * 4)),
    "attribute_tensor_twice_invalid": lambda: duplicated_attribute_tensor(TensorProto(dims=[7])),
    "name_with_newline": lambda: with_unused(floats("two\nlines): 2130706432", 3, extra=-1)),
    "name_not_utf8": lambda: not_utf8_name(floats("Tx", 3, extra=-1)),
    "name_with_nul": lambda: with_unused(floats("nul\0): 2130706432", 3, extra=-1)),
    "not_protobuf": lambda: b"\x0a\x05ab",
    "empty_file": lambda: b"",
    "truncated": lambda: model().SerializeToString()[:-3],
}
# Exact raw_data sizes of a [3, 5] tensor of each type (15 elements).
EXACT_BYTES = {
    **{dt: 15 for dt in (2, 3, 9, 17, 18, 19, 20, 24)},
    **{dt: 30 for dt in (4, 5, 10, 16)},
    **{dt: 60 for dt in (1, 6, 12)},
    **{dt: 120 for dt in (7, 11, 13, 14)},
    15: 240,
    21: 8, 22: 8, 23: 8, 25: 4, 26: 4, 27: 12, 28: 12,
}  # fmt: skip
CORPUS = {**VALID, **INVALID}


def write(tmp_path: Path, case: str) -> Path:
    built = CORPUS[case]()
    path = tmp_path / f"{case}.onnx"
    path.write_bytes(built if isinstance(built, bytes) else built.SerializeToString())
    return path


@pytest.mark.parametrize("case", CORPUS)
def test_skeleton_check_matches_plain(tmp_path: Path, case: str, rewrites: list[str]) -> None:
    path = write(tmp_path, case)
    expected = plain(path)
    assert (expected is None) == (case in VALID), expected
    rewrites.clear()
    assert skeleton(path) == expected
    # Small raw_data stays inline: the same verdict again.
    assert skeleton(path, min_external_bytes=1024) == expected
    assert "plain" not in rewrites or case == "empty_file"  # 0 bytes <= the threshold


def test_corpus_goes_through_the_skeleton(tmp_path: Path, rewrites: list[str]) -> None:
    """The corpus exercises external rewrites, marker rewrites and whole tensors."""
    kinds: dict[str, set[str]] = {}
    for case in CORPUS:
        rewrites.clear()
        skeleton(write(tmp_path, case))
        kinds[case] = set(rewrites)
    assert kinds["valid"] == {"external"}
    assert kinds["raw_data_too_short"] == {"marker"}
    assert kinds["subgraph_constant_too_short"] == {"external", "marker"}
    assert kinds["function_constant_too_short"] == {"external", "marker"}
    assert kinds["attribute_tensor_twice_invalid"] == set()  # merged: kept whole
    assert "marker" in kinds["name_with_newline"]
    assert kinds["name_with_nul"] == {"external", "whole"}  # the message stops at the NUL
    assert kinds["raw_and_float_data"] <= {"external"}  # T itself is kept whole
    assert [case for case, k in kinds.items() if "plain" in k] == ["empty_file"]


def test_marker_message_keeps_the_tensor_name(tmp_path: Path) -> None:
    path = write(tmp_path, "raw_data_too_short")
    assert skeleton(path) == (
        "invalid ONNX model: TensorProto (tensor name: W) raw_data size (44 bytes) is too small "
        "for the declared shape and type (48 bytes required)."
    )


@pytest.mark.parametrize("with_file", [False, True])
def test_model_with_external_data_is_checked_whole(
    tmp_path: Path, with_file: bool, rewrites: list[str]
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(external_model(tmp_path, with_file=with_file).SerializeToString())
    expected = plain(path)
    assert (expected is None) == with_file
    rewrites.clear()
    assert skeleton(path) == expected
    assert rewrites == ["plain"]


def group_model() -> bytes:
    """A graph with an unknown field encoded as a group: protobuf skips it, we do not read it."""
    data = model(initializer=[floats("W", 4, 3)]).SerializeToString()
    graph = onnx.ModelProto.FromString(data).graph.SerializeToString()
    group = b"\xfb\x06" + b"\x08\x01" + b"\xfc\x06"  # field 111: start group, varint, end
    return with_graph(data, graph + group)


def test_unusual_encoding_is_checked_whole(tmp_path: Path, rewrites: list[str]) -> None:
    path = tmp_path / "group.onnx"
    path.write_bytes(group_model())
    assert plain(path) is None
    rewrites.clear()
    assert skeleton(path) is None
    assert rewrites == ["plain"]


@pytest.mark.parametrize("size", [4096, 100_000, 1 << 20])
@pytest.mark.parametrize("compressible", [False, True])
def test_synthetic_models(tmp_path: Path, size: int, compressible: bool) -> None:
    path = tmp_path / "synthetic.onnx"
    path.write_bytes(synthetic_model_bytes(size, compressible=compressible))
    assert plain(path) is None
    assert skeleton(path) is None
    assert skeleton(path, min_external_bytes=1024) is None


@pytest.mark.parametrize("cut", [1, 100, 10_000])
def test_truncated_synthetic_model(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "synthetic.onnx"
    path.write_bytes(synthetic_model_bytes(100_000)[:-cut])
    expected = plain(path)
    assert expected == f"invalid ONNX model: Unable to parse proto from file: {path}. " + (
        "Please check if it is a valid protobuf file of proto."
    )
    assert skeleton(path) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_models(data: st.DataObject) -> None:
    """Random byte edits of a model with several rewritable tensors: same verdicts."""
    base = CORPUS[
        data.draw(st.sampled_from(["valid", "constant_node", "if_subgraphs", "raw_data_too_short"]))
    ]()
    blob = bytearray(base.SerializeToString() if isinstance(base, onnx.ModelProto) else base)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(blob) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        if action == "set":
            blob[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=3))
        elif action == "delete":
            del blob[at]
        else:
            del blob[at:]
        if not blob:
            break
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(bytes(blob))
        assert skeleton(path) == plain(path)


# -- the file system -------------------------------------------------------------------------


def digest(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, info.st_ino


@pytest.mark.parametrize("case", ["valid", "raw_data_too_short", "not_protobuf"])
def test_temporary_files_are_removed_and_the_model_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = write(tmp_path, case)
    before = digest(path)
    skeleton(path)
    assert digest(path) == before
    assert list(scratch.iterdir()) == []


def test_temporary_files_are_removed_when_the_checker_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    real = onnx.checker.check_model

    def boom(model: str | bytes, full_check: bool = False) -> None:
        if isinstance(model, bytes):  # the probes of _rules_match_checker
            return real(model)
        assert Path(model).parent.parent == scratch  # it runs on the skeleton
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx.checker, "check_model", boom)
    with pytest.raises(KeyboardInterrupt):
        skeleton(write(tmp_path, "valid"))
    assert list(scratch.iterdir()) == []


def test_rules_are_probed_against_the_installed_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rewrites: list[str]
) -> None:
    onnx_check._rules_match_checker.cache_clear()
    assert onnx_check._rules_match_checker()
    # As with an onnx that does not check raw_data sizes: the skeleton would be stricter.
    monkeypatch.setattr(onnx_check, "_raw_data_error", lambda tensor, model: None)
    onnx_check._rules_match_checker.cache_clear()
    try:
        path = write(tmp_path, "raw_data_too_short")
        expected = plain(path)
        rewrites.clear()
        assert skeleton(path) == expected
        assert rewrites == ["plain"]
    finally:
        onnx_check._rules_match_checker.cache_clear()


def test_missing_and_odd_paths_get_the_plain_message(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.onnx", tmp_path):
        assert skeleton(path) == plain(path)
        assert skeleton(path) is not None


def test_over_two_gib_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:
        f.truncate(2 << 30)  # sparse
    assert skeleton(path) == (
        f"invalid ONNX model: Unable to parse proto from file: {path}. "
        "Please check if it is a valid protobuf file of proto."
    )


@pytest.mark.slow
def test_over_two_gib_plain_message(tmp_path: Path) -> None:
    """The plain checker reads all 2 GiB (of a sparse file) to say the same thing."""
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:
        f.truncate(2 << 30)
    assert plain(path) == skeleton(path)


def test_default_threshold_sends_small_models_to_the_plain_checker(
    tmp_path: Path, rewrites: list[str]
) -> None:
    path = tmp_path / "small.onnx"
    path.write_bytes(synthetic_model_bytes(1 << 20))
    check_model_file(str(path))
    assert rewrites == ["plain"]
    rewrites.clear()
    check_model_file(str(path), plain_check_max_bytes=(1 << 20) - 1)
    assert rewrites == ["external"]


# -- memory ----------------------------------------------------------------------------------

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking (pytest) process.
PEAK_RSS = """
import sys
from heimdall_io.onnx.checker import check_model_file
check_model_file(sys.argv[1])
status = open("/proc/self/status").read().splitlines()
print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
def test_peak_rss_of_a_256_mib_model(tmp_path: Path) -> None:
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:
        write_synthetic_model(f, 256 << 20)
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(path)],
        capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    peak_kib = int(result.stdout.split()[-1])
    assert peak_kib < 80 << 10, f"peak RSS {peak_kib} KiB"


def test_preload_imports_the_checker() -> None:
    # In a fresh interpreter: this test process has imported onnx long ago.
    assert_imported_lazily(
        "onnx.checker", "from heimdall_io.onnx.checker import preload", until="preload().join(60)"
    )
