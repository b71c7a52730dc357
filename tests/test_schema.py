"""spec/bundle.schema.json: in step with the format types, and true of the bundles we write."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.codec import read_bundle, write_bundle
from heimdall_io.errors import SchemaError
from heimdall_io.format import schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "spec" / "bundle.schema.json"
FORMAT_DOC = ROOT / "spec" / "bundle-format.md"
#: A 1.0.0 bundle as the seed specification shows it: no checksums, payload mid-model.
SEED_1_0_0 = ROOT / "tests" / "fixtures" / "seed-1.0.0.heimdall"

PAYLOAD = b"\x08\x07\x12\x08heimdall\x1a\x030.1"  # a ModelProto: ir_version, producer


def test_committed_schema_matches_types() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.render_schema(), (
        "spec/bundle.schema.json is stale: run `python -m heimdall_io.format.schema` and commit it"
    )


def test_render_is_stable() -> None:
    text = schema.render_schema()
    assert text.endswith("}\n")
    assert text == schema.render_schema()
    assert json.loads(text) == schema.bundle_schema()


def test_schema_header() -> None:
    s = schema.bundle_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] and s["title"]
    assert s["$ref"] == "#/$defs/BundleDocument"
    model = s["$defs"]["ModelDocument"]
    assert "onnx_model_base64" in model["required"]
    # Field text comes from the types.
    assert model["properties"]["onnx_md5"]["description"]


def test_check_cli(tmp_path: Path) -> None:
    path = tmp_path / "bundle.schema.json"
    assert schema.main(["--check", "--path", str(path)]) == 1  # missing
    assert schema.main(["--path", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == schema.render_schema()
    assert schema.main(["--check", "--path", str(path)]) == 0
    path.write_text(schema.render_schema().replace("model_name", "modelname"), encoding="utf-8")
    assert schema.main(["--check", "--path", str(path)]) == 1
    assert schema.main(["--check"]) == 0  # the committed file


# -- validating documents -------------------------------------------------------------------


def _jsonschema_validate(s: dict[str, Any], doc: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(s)
    return [e.message for e in validator.iter_errors(doc)]


def _jsonschema_rs_validate(s: dict[str, Any], doc: Any) -> list[str]:
    import jsonschema_rs

    validator = jsonschema_rs.Draft202012Validator(s)
    return [str(e) for e in validator.iter_errors(doc)]


_VALIDATORS = {"jsonschema": _jsonschema_validate, "jsonschema_rs": _jsonschema_rs_validate}


@pytest.fixture(params=sorted(_VALIDATORS))
def errors_of(request: pytest.FixtureRequest) -> Any:
    """``errors_of(doc)``: the schema's complaints about a document, from one validator."""
    name = request.param
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    s = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    if name == "jsonschema":
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(s)
    return lambda doc: _VALIDATORS[name](s, doc)


def _header(**model: Any) -> dict[str, Any]:
    return {
        "format_version": "1.1.0",
        "bundle_metadata": {
            "bundle_id": "0b6f3c2e-8d1a-4f5e-9a7b-2c4d6e8f0a1b",
            "created_at": "2025-01-01T00:00:00Z",
            "exported_by": "tests",
        },
        "model": {"model_name": "tiny", "version": 1, **model},
    }


def _write(header: dict[str, Any], **options: Any) -> bytes:
    out = io.BytesIO()
    write_bundle(out, header, io.BytesIO(PAYLOAD), **options)
    return out.getvalue()


def _digests() -> dict[str, Any]:
    return {
        "size": len(PAYLOAD),
        "md5": hashlib.md5(PAYLOAD).hexdigest(),
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }


def _read_ok(raw: bytes) -> None:
    out = io.BytesIO()
    read_bundle(io.BytesIO(raw), out)
    assert out.getvalue() == PAYLOAD


def _legacy_header() -> dict[str, Any]:
    """Fields of the earlier Heimdall implementation, and fields nobody names."""
    header = _header(
        model_id="e3ae8499-64e0-4da7-ae48-db76fe17a382",
        version="v3",
        architecture="LocalizationNet",
        framework="onnx",
        onnx_opset=14,
        input_shape=["batch", 3, 224, 224],
        output_shape=[["batch", 2], ["batch", 2]],
        parameters_count=11689538,
        future_model_field={"kept": True},
    )
    header["bundle_metadata"].update(created_by="admin", heimdall_version="0.9.2")
    header["training_config"] = {
        "epochs": 100,
        "batch_size": None,
        "learning_rate": 0.001,
        "validation_split": 0.2,
        "dataset_ids": ["d1", "d2"],
        "dataset_names": ["north", "south"],
    }
    header["performance_metrics"] = {
        "train_loss": [0.5, 0.3, None],
        "best_epoch": 2,
        "final_train_accuracy": 0.91,
        "final_val_accuracy": 0.88,
        "training_duration_seconds": 3600.5,
        "inference_latency_ms": 1.7,
        "onnx_speedup_factor": 2.5,
    }
    header["sample_predictions"] = [
        {
            "sample_id": "s-1",
            "input_metadata": {"receivers": 7},
            "input": [0.1, 0.2],
            "ground_truth": {"lat": 45.0, "lon": 9.0},
            "prediction": {"lat": 45.001, "lon": 9.001},
            "error_meters": 12.34,
        }
    ]
    header["future_section"] = [1, 2, 3]
    return header


WRITTEN = {
    "streamed": lambda: _write(_header(framework="onnx")),
    "known-in-advance": lambda: _write(_header(), **_digests()),
    "size-known": lambda: _write(_header(), size=len(PAYLOAD)),
    "legacy-fields": lambda: _write(_legacy_header()),
}


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_written_bundles_validate(kind: str, errors_of: Any) -> None:
    raw = WRITTEN[kind]()
    _read_ok(raw)
    doc = json.loads(raw)
    assert doc["format_version"] == "1.1.0"
    assert list(doc)[-1] == "model"
    assert errors_of(doc) == []


def test_seed_1_0_0_bundle_validates(errors_of: Any) -> None:
    raw = SEED_1_0_0.read_bytes()
    _read_ok(raw)
    assert errors_of(json.loads(raw)) == []


def test_legacy_bundle_keeps_unknown_fields(errors_of: Any) -> None:
    doc = json.loads(WRITTEN["legacy-fields"]())
    assert doc["future_section"] == [1, 2, 3]
    assert doc["model"]["future_model_field"] == {"kept": True}
    assert doc["model"]["output_shape"] == [["batch", 2], ["batch", 2]]
    assert errors_of(doc) == []


def _broken(change: Any) -> dict[str, Any]:
    doc = json.loads(_write(_header(), **_digests()))
    change(doc)
    return doc


BROKEN = {
    "no payload": lambda d: d["model"].pop("onnx_model_base64"),
    "no model_name": lambda d: d["model"].pop("model_name"),
    "no created_at": lambda d: d["bundle_metadata"].pop("created_at"),
    "uppercase md5": lambda d: d["model"].update(onnx_md5=d["model"]["onnx_md5"].upper()),
    "short sha256": lambda d: d["model"].update(onnx_sha256="ab" * 8),
    "negative size": lambda d: d["model"].update(onnx_size_bytes=-1),
    "version is a float": lambda d: d["model"].update(version=1.5),
    "epochs is a string": lambda d: d.update(training_config={"epochs": "ten"}),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_schema_and_reader_reject_alike(what: str, errors_of: Any) -> None:
    doc = _broken(BROKEN[what])
    assert errors_of(doc), f"the schema accepts a bundle with {what}"
    with pytest.raises(SchemaError):
        read_bundle(io.BytesIO(json.dumps(doc).encode()), io.BytesIO())


def test_format_doc_example_is_what_the_writer_writes() -> None:
    """The worked example in spec/bundle-format.md is real writer output."""
    text = FORMAT_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.S)
    assert len(blocks) == 1
    example = blocks[0] + "\n"
    doc = json.loads(example)
    model = {k: v for k, v in doc["model"].items() if not k.startswith("onnx_")}
    header = {
        "format_version": "1.1.0",
        "bundle_metadata": doc["bundle_metadata"],
        "model": model,
    }
    assert _write(header).decode() == example
    _read_ok(example.encode())
