"""Synthetic models: exact size, valid for onnx.checker, deterministic, streamed."""

from __future__ import annotations

import io
import tracemalloc
import zlib
from pathlib import Path

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import synthetic
from tests.support.synthetic import main, synthetic_model_bytes, write_synthetic_model

SMALLEST = 414  # with the default shapes and opset


def dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    return [
        d.dim_param if d.HasField("dim_param") else d.dim_value
        for d in value_info.type.tensor_type.shape.dim
    ]


def check(data: bytes) -> onnx.ModelProto:
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("size", [SMALLEST, SMALLEST + 1, 1000, 16_384, 1 << 20, (3 << 20) + 7])
@pytest.mark.parametrize("compressible", [False, True])
def test_exact_size_and_valid(size: int, compressible: bool) -> None:
    data = synthetic_model_bytes(size, compressible=compressible)
    assert len(data) == size
    model = check(data)
    assert [v.name for v in model.graph.input] == ["X"]
    assert dims(model.graph.input[0]) == [1, 16]
    assert dims(model.graph.output[0]) == [1, 2]
    assert model.opset_import[0].version == 17


@settings(max_examples=200, deadline=None)
@given(st.integers(SMALLEST, 300_000))
def test_every_size_is_exact(size: int) -> None:
    assert len(synthetic_model_bytes(size)) == size


def test_below_smallest_size() -> None:
    assert len(synthetic_model_bytes(SMALLEST)) == SMALLEST
    with pytest.raises(ValueError, match="smallest"):
        synthetic_model_bytes(SMALLEST - 1)


@pytest.mark.parametrize(
    ("input_shape", "output_shape", "opset"),
    [
        (("N", 3, 4), ("N", 5), 13),
        ((2, 8), (2, 3, 2), 7),
        (("batch", 16), ("batch", 2), onnx.defs.onnx_opset_version()),
    ],
)
def test_shapes_and_opsets(
    input_shape: tuple[int | str, ...], output_shape: tuple[int | str, ...], opset: int
) -> None:
    data = synthetic_model_bytes(
        20_000, input_shape=input_shape, output_shape=output_shape, opset=opset
    )
    model = check(data)
    assert dims(model.graph.input[0]) == list(input_shape)
    assert dims(model.graph.output[0]) == list(output_shape)
    assert model.opset_import[0].version == opset
    # Shape inference agrees with the declared output.
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    assert dims(inferred.graph.output[0]) == list(output_shape)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_shape": (16,)}, "batch dim"),
        ({"input_shape": (1, 0)}, "positive"),
        ({"output_shape": (1, "n")}, "positive"),
        ({"input_shape": (2, 16)}, "batch dims differ"),
        ({"opset": 6}, "opset"),
        ({"opset": 10_000}, "opset"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthetic_model_bytes(10_000, **kwargs)


def test_deterministic_per_seed() -> None:
    assert synthetic_model_bytes(50_000, seed=1) == synthetic_model_bytes(50_000, seed=1)
    assert synthetic_model_bytes(50_000, seed=1) != synthetic_model_bytes(50_000, seed=2)


def test_compressible_data_compresses() -> None:
    random_data = synthetic_model_bytes(1 << 20)
    compressible = synthetic_model_bytes(1 << 20, compressible=True)
    assert len(zlib.compress(random_data)) > 0.99 * len(random_data)
    assert len(zlib.compress(compressible)) < 0.5 * len(compressible)


def test_large_padding_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same code path as models over 1 GiB, with a tiny per-tensor limit.
    monkeypatch.setattr(synthetic, "_MAX_PADDING_BYTES", 4096)
    for size in (10_000, 20_000, 20_001, 50_003):
        data = synthetic_model_bytes(size)
        assert len(data) == size
        paddings = [t for t in check(data).graph.initializer if t.name.startswith("padding_")]
        assert len(paddings) == max(0, (size - SMALLEST) // 4096 - 1) + 1
        assert all(len(t.raw_data) < 2 * 4096 for t in paddings)


def test_write_streams_in_constant_memory() -> None:
    class Discard:
        written = 0

        def write(self, data: bytes) -> None:
            self.written += len(data)

    sink = Discard()
    tracemalloc.start()
    try:
        write_synthetic_model(sink, 64 << 20, compressible=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.written == 64 << 20
    assert peak < 8 << 20


def test_file_passes_checker_by_path(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    with path.open("wb") as out:
        write_synthetic_model(out, 8 << 20, seed=5)
    assert path.stat().st_size == 8 << 20
    onnx.checker.check_model(str(path))
    model = onnx.load(str(path))
    assert dims(model.graph.input[0]) == [1, 16]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.onnx"
    assert main([str(path), "--size", "64KiB", "--seed", "3", "--compressible"]) == 0
    assert path.stat().st_size == 64 << 10
    onnx.checker.check_model(str(path))
    assert "65536 bytes" in capsys.readouterr().out
    expected = io.BytesIO()
    write_synthetic_model(expected, 64 << 10, seed=3, compressible=True)
    assert path.read_bytes() == expected.getvalue()


@pytest.mark.parametrize("args", [["--size", "lots"], ["--size", "10"]])
def test_cli_rejects(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "bad.onnx"
    with pytest.raises(SystemExit) as caught:
        main([str(path), *args])
    assert caught.value.code == 2
    assert not path.exists()
