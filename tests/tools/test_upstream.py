"""`--to upstream`: what the upstream loader (tests/tools/upstream_client.py) accepts.

Each output is validated with ``HeimdallBundle.model_validate_json`` on the whole file, as
upstream loads it (small models: the test may hold the document).
"""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from heimdall_io import ConversionError, read_bundle, write_bundle
from heimdall_io.onnx import read_onnx_info
from heimdall_io.tools.convert import convert
from heimdall_io.tools.upstream import UpstreamOverrides, to_upstream
from tests.onnx.models import two_headed_model
from tests.support.public_models import SILERO_VAD_PARAMETERS, silero_vad_path
from tests.support.synthetic import synthetic_model_bytes

from .upstream_client import UPSTREAM_SECTIONS, HeimdallBundle

MODEL = synthetic_model_bytes(8192, seed=4)  # X[1, 16] -> Y[1, 2], opset 17

MODEL_FIELDS = {
    "model_id": "6f1c2f4e-0000-4000-8000-000000000002", "model_name": "LocalizationNet",
    "version": 3, "architecture": "LocalizationNet", "framework": "onnx", "onnx_opset": 17,
    "input_shape": [1, 16], "output_shape": [1, 2], "parameters_count": 34,
}  # fmt: skip


def bundle(tmp_path: Path, model: dict[str, Any], sections: dict[str, Any],
           payload: bytes = MODEL, name: str = "in.heimdall") -> Path:  # fmt: skip
    doc = {"format_version": "1.1.0",
           "bundle_metadata": {"bundle_id": "b-1", "created_at": "2025-11-03T00:00:00Z",
                               "exported_by": "heimdall-io"},
           **sections, "model": model}  # fmt: skip
    out = io.BytesIO()
    write_bundle(out, doc, io.BytesIO(payload))
    (tmp_path / name).write_bytes(out.getvalue())
    return tmp_path / name


def upstream(tmp_path: Path, src: Path, **kw: Any) -> tuple[HeimdallBundle, list[str]]:
    out = tmp_path / "up.heimdall"
    result = convert(str(src), str(out), to="upstream", force=True, **kw)
    loaded = HeimdallBundle.model_validate_json(out.read_bytes())
    return loaded, result.warnings


def test_complete_bundle_passes_upstream_validation(tmp_path: Path) -> None:
    loaded, warnings = upstream(tmp_path, bundle(tmp_path, MODEL_FIELDS, UPSTREAM_SECTIONS))
    assert warnings == []
    assert base64.b64decode(loaded.model.onnx_model_base64) == MODEL
    assert loaded.model.version == "3"  # upstream's version is a string
    assert loaded.model.output_shape == [[1, 2]]  # one shape per output
    assert loaded.model.input_shape == [1, 16]
    assert loaded.training_config is not None and loaded.training_config.validation_split == 0.2
    assert loaded.sample_predictions is not None and len(loaded.sample_predictions) == 3
    assert loaded.bundle_metadata.created_by == "system"  # absent: the loader's default


def test_seed_sections_are_left_out_with_warnings(tmp_path: Path) -> None:
    seed = {
        "training_config": {"epochs": 100, "batch_size": 32, "learning_rate": 0.001,
                            "optimizer": "Adam", "loss_function": "MSE"},
        "performance_metrics": {**UPSTREAM_SECTIONS["performance_metrics"],
                                "training_duration_seconds": 12.5},
        "normalization_stats": {"feature_means": [[0.1, 0.2]], "feature_stds": [[1.0]]},
        "sample_predictions": [
            {"input": [1.0], "ground_truth": {"lat": 1.0}, "prediction": {"lat": 1.1},
             "error_meters": 2.0},
            {**UPSTREAM_SECTIONS["sample_predictions"][0], "sample_id": 7},
        ],
    }  # fmt: skip
    loaded, warnings = upstream(tmp_path, bundle(tmp_path, MODEL_FIELDS, seed))
    assert warnings == [
        "training_config left out (upstream requires all its fields): missing "
        "validation_split, dataset_ids, dataset_names",
        "performance_metrics left out (upstream requires all its fields): "
        "training_duration_seconds 12.5 is not an integer",
        "normalization_stats left out (upstream requires all its fields): feature_means has "
        "an item that is not a number; feature_stds has an item that is not a number",
        "sample_predictions 1 of 2 entries left out (upstream requires all their fields): "
        "missing sample_id, input_metadata",
    ]
    assert loaded.training_config is None and loaded.performance_metrics is None
    assert loaded.normalization_stats is None
    assert [s.sample_id for s in loaded.sample_predictions or []] == ["7"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": None}, "model.architecture is missing and upstream requires it: "
                                 "pass --architecture"),
        ({"model_id": None}, "model.model_id is missing and upstream requires it: pass --model-id"),
        ({"input_shape": ["batch", 16]}, 'the symbolic or unknown dimension "batch": pass '
                                         "--input-shape"),
        ({"output_shape": [None, 2]}, "unknown dimension null: pass --output-shape"),
        ({"input_shape": [[1, 16], [1, 4]]}, "one shape per input (2 inputs), upstream takes "
                                             "one: pass --input-shape"),
    ],
)  # fmt: skip
def test_missing_model_fields_name_their_option(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    model = {k: v for k, v in {**MODEL_FIELDS, **change}.items() if v is not None}
    src = bundle(tmp_path, model, {})
    with pytest.raises(ConversionError, match=r"^model\.") as e:
        convert(str(src), str(tmp_path / "up.heimdall"), to="upstream")
    assert message in str(e.value)
    assert not (tmp_path / "up.heimdall").exists()


def test_overrides_supply_what_is_missing(tmp_path: Path) -> None:
    model = {**MODEL_FIELDS, "input_shape": ["batch", 16]}
    del model["architecture"], model["model_id"]
    overrides = UpstreamOverrides(model_id="m-1", architecture="Net", input_shape=[8, 16],
                                  output_shape=[[8, 2], [8, 2]])  # fmt: skip
    loaded, _ = upstream(tmp_path, bundle(tmp_path, model, {}), overrides=overrides)
    assert (loaded.model.model_id, loaded.model.architecture) == ("m-1", "Net")
    assert loaded.model.input_shape == [8, 16]
    assert loaded.model.output_shape == [[8, 2], [8, 2]]


def test_opset_shapes_and_parameters_are_read_from_the_payload(tmp_path: Path) -> None:
    model = {k: MODEL_FIELDS[k] for k in ("model_id", "model_name", "version", "architecture")}
    loaded, _ = upstream(tmp_path, bundle(tmp_path, model, {}))
    assert loaded.model.onnx_opset == 17
    assert (loaded.model.input_shape, loaded.model.output_shape) == ([1, 16], [[1, 2]])
    assert loaded.model.parameters_count == read_onnx_info(io.BytesIO(MODEL)).parameters_count


def test_two_heads_keep_one_shape_per_output(tmp_path: Path) -> None:
    onnx_bytes = two_headed_model()
    model = {k: MODEL_FIELDS[k] for k in ("model_id", "model_name", "version", "architecture")}
    loaded, _ = upstream(tmp_path, bundle(tmp_path, model, {}, payload=onnx_bytes))
    assert loaded.model.output_shape == [[1, 2], [1, 2]]
    assert loaded.model.input_shape == [1, 2]


def test_upstream_bundle_converts_back_keeping_unknown_fields(tmp_path: Path) -> None:
    # As the upstream service writes it: its own types, fields this project does not know.
    doc = {
        "bundle_metadata": {"bundle_id": "u-1", "created_at": "2025-11-03T00:00:00",
                            "created_by": "ops", "heimdall_version": "2.4.0",
                            "site": {"region": "north"}},
        "model": {**MODEL_FIELDS, "version": "3", "output_shape": [[1, 2], [1, 2]],
                  "quantization": "int8", "onnx_model_base64": base64.b64encode(MODEL).decode()},
        **copy.deepcopy(UPSTREAM_SECTIONS),
        "experiment": {"tracker": "mlflow", "run": 12},
    }  # fmt: skip
    doc["training_config"]["scheduler"] = "cosine"
    HeimdallBundle.model_validate(doc)
    src = tmp_path / "upstream.heimdall"
    src.write_text(json.dumps(doc))
    result = convert(str(src), str(tmp_path / "current.heimdall"), to="1.1.0")
    # Upstream's loader needs no format_version, so its bundles may have none: read as 1.0.0.
    assert (result.source_version, result.warnings) == ("1.0.0", [])
    sink = io.BytesIO()
    with (tmp_path / "current.heimdall").open("rb") as f:
        back = read_bundle(f, sink).document
    assert sink.getvalue() == MODEL
    for name in ("bundle_metadata", "experiment", *UPSTREAM_SECTIONS):
        assert back[name] == doc[name], name
    model = {
        k: v for k, v in back["model"].items() if not k.startswith("onnx_") or k == "onnx_opset"
    }
    assert model == {k: v for k, v in doc["model"].items() if k != "onnx_model_base64"}
    # ... and that bundle goes upstream again unchanged.
    again, warnings = upstream(tmp_path, tmp_path / "current.heimdall")
    assert warnings == [] and again.model.output_shape == [[1, 2], [1, 2]]


def test_signatures_are_left_out_upstream() -> None:
    doc = {
        "format_version": "1.2.0",
        "signatures": [{"algorithm": "ed25519"}],
        "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
        "model": dict(MODEL_FIELDS),
    }
    out, warnings = to_upstream(doc)
    assert "signatures" not in out
    assert warnings == ["signatures left out: the upstream dialect has none"]


def test_silero_vad_goes_upstream_with_overrides(tmp_path: Path) -> None:
    onnx_bytes = silero_vad_path().read_bytes()
    model = {"model_id": "vad-1", "model_name": "silero_vad", "version": 6,
             "architecture": "SileroVAD"}  # fmt: skip
    src = bundle(tmp_path, model, {}, payload=onnx_bytes)
    with pytest.raises(ConversionError, match="pass --input-shape"):
        convert(str(src), str(tmp_path / "up.heimdall"), to="upstream")
    overrides = UpstreamOverrides(input_shape=[1, 576], output_shape=[[1, 1], [2, 1, 128]])
    loaded, _ = upstream(tmp_path, src, overrides=overrides)
    assert loaded.model.parameters_count == SILERO_VAD_PARAMETERS
    assert loaded.model.onnx_opset == 16
    assert base64.b64decode(loaded.model.onnx_model_base64) == onnx_bytes
