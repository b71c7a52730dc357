"""diff_bundles: metadata field by field, payload identity, ONNX model-level changes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from heimdall_io import ChecksumMismatchError, write_bundle
from heimdall_io.tools.convert import convert
from heimdall_io.tools.diff import diff_bundles
from heimdall_io.tools.document_diff import summarize
from tests.onnx.test_tensors import control_flow_model
from tests.support.public_models import silero_vad_path
from tests.support.synthetic import synthetic_model_bytes

MODEL = synthetic_model_bytes(8192, seed=3)


def bundle(tmp_path: Path, name: str, payload: bytes = MODEL, **sections: Any) -> str:
    options = sections.pop("_options", {})
    doc = {"format_version": "1.1.0",
           "bundle_metadata": {"bundle_id": name, "created_at": "2025-01-01T00:00:00Z"},
           **sections, "model": {"model_name": "net", "version": 1}}  # fmt: skip
    out = io.BytesIO()
    write_bundle(out, doc, io.BytesIO(payload), **options)
    (tmp_path / name).write_bytes(out.getvalue())
    return str(tmp_path / name)


def test_list_summaries() -> None:
    a, b = [0.5] * 99 + [0.31], [0.5] * 119 + [0.27]
    assert summarize(a, b, per_epoch=True) == "100 -> 120 epochs, last 0.31 -> 0.27"
    assert summarize([0.5, 0.4, 0.3], [0.5, 0.41, 0.3], per_epoch=True) == (
        "3 epochs, 1 differ (first at epoch 2: 0.4 -> 0.41), last 0.3"
    )
    assert summarize(list(range(30)), list(range(31))) == "30 -> 31 items, last 29 -> 30"
    assert summarize([{"a": 1}] * 9, [{"a": 2}] * 9) == (
        '9 items, 9 differ (first at [0]: {"a": 1} -> {"a": 2})'
    )


def test_metadata_field_by_field(tmp_path: Path) -> None:
    a = bundle(
        tmp_path,
        "a",
        training_config={"epochs": 100, "optimizer": "Adam"},
        performance_metrics={"val_loss": [0.5] * 99 + [0.31], "best_epoch": 90},
    )
    b = bundle(tmp_path, "b", training_config={"epochs": 120, "scheduler": "cosine"},
               performance_metrics={"val_loss": [0.5] * 119 + [0.27], "best_epoch": 90},
               normalization_stats={"feature_means": [0.0]})  # fmt: skip
    d = diff_bundles(a, b)
    assert not d.same and d.payload.identical and d.payload.method == "declared checksums"
    assert d.model is None  # identical payloads: nothing to compare
    by_name = {s.name: s for s in d.sections}
    assert by_name["format_version"].status == "same"
    assert [(c.path, c.kind, c.summary) for c in by_name["training_config"].changes] == [
        ("training_config.epochs", "changed", "100 -> 120"),
        ("training_config.optimizer", "removed", '"Adam"'),
        ("training_config.scheduler", "added", '"cosine"'),
    ]
    assert [c.summary for c in by_name["performance_metrics"].changes] == [
        "100 -> 120 epochs, last 0.31 -> 0.27"
    ]
    assert by_name["normalization_stats"].status == "added"
    assert by_name["model"].status == "same"  # checksum fields are the payload's business
    ignored = diff_bundles(
        a,
        b,
        ignore=[
            "bundle_metadata",
            "training_config",
            "performance_metrics.val_loss",
            "normalization_stats",
        ],
    )
    assert ignored.same


def test_same_payload_in_other_wrappings_and_versions(tmp_path: Path) -> None:
    a = bundle(tmp_path, "a")
    z = bundle(tmp_path, "z", _options={"compression": "zstd"})
    d = diff_bundles(a, z, ignore=["bundle_metadata"])
    assert d.same and (d.a.compression, d.b.compression) == ("none", "zstd")
    convert(a, str(tmp_path / "old"), to="1.0.0")  # no checksums: compared by streaming
    d = diff_bundles(a, str(tmp_path / "old"))
    assert d.payload == type(d.payload)(True, "declared checksums and streaming")
    assert [s.name for s in d.sections if s.status != "same"] == ["format_version"]


def test_models_compared_tensor_by_tensor(tmp_path: Path) -> None:
    a = bundle(tmp_path, "a", control_flow_model(1.0).SerializeToString())
    changed = control_flow_model(2.0)
    changed.opset_import[0].version = 18
    changed.graph.initializer.append(numpy_helper.from_array(np.ones(4, np.float32), "extra"))
    del changed.graph.input[2]  # xs
    b = bundle(tmp_path, "b", changed.SerializeToString())
    d = diff_bundles(a, b)
    assert not d.payload.identical and d.model is not None and d.model.error is None
    assert {c.path: c.summary for c in d.model.changes} == {
        "opset": "17 -> 18",
        "parameters_count": "66 -> 70",
        "inputs.xs": "float [3, 4]",
    }
    assert [c.kind for c in d.model.changes] == ["changed", "changed", "removed"]
    tensors = {t.key: (t.kind, t.what) for t in d.model.tensors}
    assert tensors == {"gate/then_branch/then_w": ("changed", ("bytes",)),
                       "extra": ("added", ())}  # fmt: skip
    assert d.model.unchanged_tensors == 7  # top, flag, then_c, else_w, else_c, l_c, scan_unused


def test_payload_that_is_not_onnx(tmp_path: Path) -> None:
    d = diff_bundles(bundle(tmp_path, "a", b"not onnx"), bundle(tmp_path, "b", b"other bytes"))
    assert d.model is not None and d.model.error and "not an ONNX model" in d.model.error
    d = diff_bundles(bundle(tmp_path, "a", b"x"), bundle(tmp_path, "b", b"y"), models=False)
    assert d.model is None and not d.payload.identical


def test_a_lying_checksum_is_an_error_once_decoded(tmp_path: Path) -> None:
    a = bundle(tmp_path, "a")
    text = Path(bundle(tmp_path, "b", synthetic_model_bytes(8192, seed=4))).read_text()
    md5 = text.split('"onnx_md5":"')[1][:32]
    Path(tmp_path / "b").write_text(text.replace(md5, "0" * 32))
    with pytest.raises(ChecksumMismatchError):
        diff_bundles(a, str(tmp_path / "b"))


def test_silero_vad_one_constant_changed(tmp_path: Path) -> None:
    path = silero_vad_path()
    model = onnx.load(str(path))
    # Change the first float Constant anywhere in the model: one tensor's bytes differ.
    target = _first_float_constant(model.graph)
    array = numpy_helper.to_array(target.t).copy()
    array.flat[0] += 1.0
    target.t.CopyFrom(numpy_helper.from_array(array, target.t.name))
    a = bundle(tmp_path, "a", path.read_bytes())
    b = bundle(tmp_path, "b", model.SerializeToString())
    d = diff_bundles(a, b)
    assert d.model is not None and d.model.changes == []
    assert [(t.kind, t.what) for t in d.model.tensors] == [("changed", ("bytes",))]
    assert d.model.unchanged_tensors == 340


def _first_float_constant(graph: onnx.GraphProto) -> onnx.AttributeProto:
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.t.data_type == 1 and len(attr.t.dims):
                return attr
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else []:
                try:
                    return _first_float_constant(sub)
                except LookupError:
                    pass
    raise LookupError("no float Constant")
