"""Documents with a bad shape: missing or mistyped fields, duplicate keys."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import pytest

from heimdall_io import BundleReader
from heimdall_io.errors import DuplicateKeyError, MalformedBundleError, SchemaError

from .bad_input import B64, MD5, assert_error, document, dumps

# -- schema ------------------------------------------------------------------------------------


def drop(path: str) -> bytes:
    doc: Any = document()
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    del target[last]
    return dumps(doc)


@pytest.mark.parametrize(
    "path",
    [
        "format_version",
        "bundle_metadata",
        "model",
        "model.model_name",
        "model.onnx_model_base64",
        "model.version",
        "bundle_metadata.bundle_id",
        "bundle_metadata.created_at",
    ],
)
def test_missing_required_field(path: str) -> None:
    assert_error(drop(path), SchemaError, path.split(".")[-1])


def replace(path: str, value: Any) -> bytes:
    doc: Any = document()
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[p]
    target[last] = value
    return dumps(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model.version", [1]),
        ("model.version", None),
        ("model.input_shape", "1x3x224x224"),
        ("model.output_shape", {"a": 1}),
        ("model.model_name", 42),
        ("model.onnx_opset", "14"),
        ("model.onnx_size_bytes", -1),
        ("model.onnx_md5", "not-hex"),
        ("model.onnx_sha256", MD5),
        ("format_version", 1.0),
        ("format_version", None),
        ("bundle_metadata", "exported"),
        ("bundle_metadata", None),
        ("bundle_metadata.bundle_id", 7),
        ("training_config", [1, 2]),
        ("training_config.epochs", "ten"),
        ("performance_metrics", {"train_loss": "low"}),
        ("normalization_stats", "none"),
        ("sample_predictions", {"input": 1}),
        ("sample_predictions", [{"error_meters": "far"}]),
    ],
)
def test_wrong_types(path: str, value: Any) -> None:
    assert_error(replace(path, value), SchemaError)


@pytest.mark.parametrize("value", [[{"model_name": "m"}], "model", None, 3])
def test_model_not_an_object(value: Any) -> None:
    doc = document()
    doc["model"] = value
    assert_error(dumps(doc), SchemaError)


def test_schema_error_in_a_section_fails_before_the_payload() -> None:
    doc = document()
    doc["training_config"]["epochs"] = "ten"
    with pytest.raises(SchemaError, match="training_config"):
        BundleReader(io.BytesIO(dumps(doc)))


# -- duplicate keys --------------------------------------------------------------------------


def test_duplicate_payload_is_never_preferred() -> None:
    other = base64.b64encode(b"a different, valid model").decode()
    other_md5 = hashlib.md5(b"a different, valid model").hexdigest()
    head = (
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,'
    )
    for body in (
        f'"onnx_model_base64":"{B64}","onnx_model_base64":"{other}"}}}}',
        f'"onnx_model_base64":"{other}","onnx_model_base64":"{B64}"}}}}',
        # checksums that match the second payload: preferring it would "verify"
        f'"onnx_md5":"{other_md5}","onnx_model_base64":"{B64}","onnx_model_base64":"{other}"}}}}',
        f'"onnx_model_base64":"{B64}","x":1,"onnx_model_base64":"{B64}"}}}}',
    ):
        assert_error((head + body).encode(), DuplicateKeyError, "onnx_model_base64")


@pytest.mark.parametrize(
    "raw",
    [
        # duplicated model, with or without a second payload
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"model":{"model_name":"m","version":1}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":[],"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        # duplicated top-level keys
        '{"format_version":"1.1.0","format_version":"1.0.0","bundle_metadata":{"bundle_id":"b",'
        '"created_at":"t"},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"training_config":{},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"},'
        '"training_config":{}}',
        # inside a metadata section, and deeper
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","bundle_id":"c",'
        '"created_at":"t"},"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"training_config":{"epochs":1,"epochs":2},'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"sample_predictions":[{"input":{"a":{"x":1,"x":1}}}],'
        '"model":{"model_name":"m","version":1,"onnx_model_base64":"QUJD"}}',
        # inside model, around the payload
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","model_name":"n","version":1,"onnx_model_base64":"QUJD"}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"onnx_size_bytes":3,"onnx_model_base64":"QUJD",'
        '"onnx_size_bytes":3}}',
        '{"format_version":"1.1.0","bundle_metadata":{"bundle_id":"b","created_at":"t"},'
        '"model":{"model_name":"m","version":1,"input_shape":[{"a":1,"a":2}],'
        '"onnx_model_base64":"QUJD"}}',
    ],
)
def test_duplicate_keys(raw: str) -> None:
    assert_error(raw.encode(), DuplicateKeyError)


# -- non-JSON numbers (issue 8, item 8) -----------------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("template", "where"),
    [
        ('"training_config":{"learning_rate":%s}', "training_config"),
        ('"performance_metrics":{"val_loss":[0.5,%s]}', "performance_metrics"),
        ('"x_unknown":%s', "x_unknown"),
        ('"x_nested":{"a":[{"b":%s}]}', "x_nested"),
    ],
)
def test_nan_and_infinity_are_rejected(token: str, template: str, where: str) -> None:
    raw = dumps(document()).replace(b"{", b"{" + (template % token).encode() + b",", 1)
    assert_error(raw, MalformedBundleError, f"non-standard JSON number {token} in {where}")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected_in_model(token: str) -> None:
    raw = dumps(document()).replace(b'"version": 1', f'"version": 1, "x": {token}'.encode())
    assert_error(raw, MalformedBundleError, f"non-standard JSON number {token} in model.x")


def test_nan_as_a_string_is_text() -> None:
    doc = document()
    doc["training_config"]["note"] = "NaN Infinity -Infinity"
    info = BundleReader(io.BytesIO(dumps(doc))).finish()
    assert info.document["training_config"]["note"] == "NaN Infinity -Infinity"
