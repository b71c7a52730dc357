"""format.validation: one set of rules for the reader and the writer."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from heimdall_io import BundleHeader, read_bundle, write_bundle
from heimdall_io.errors import SchemaError, UnsupportedVersionError
from heimdall_io.format.validation import check_section, check_version, validate_header
from tests.format.examples import drifted_document, original_document, without_payload


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0", "1.99"])
def test_check_version_accepts_major_1(version: str) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize(
    ("value", "error"), [(1.1, SchemaError), ("2.0.0", UnsupportedVersionError)]
)
def test_check_version_refuses(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_version(value)


@pytest.mark.parametrize("make", [original_document, drifted_document])
def test_validate_header_types_the_examples(make: Any) -> None:
    header = validate_header(without_payload(make()))
    assert isinstance(header, BundleHeader)
    assert header.model.model_name.startswith("LocalizationNet")


def test_check_section() -> None:
    check_section("training_config", {"epochs": 3})
    check_section("x_unknown", {"epochs": "anything"})
    with pytest.raises(SchemaError, match="in training_config"):
        check_section("training_config", {"epochs": "ten"})
    with pytest.raises(SchemaError, match="not valid Unicode"):
        check_section("training_config", {"\udc00": 1})


BAD = {
    "version is a float": lambda d: d["model"].update(version=1.5),
    "no created_at": lambda d: d["bundle_metadata"].pop("created_at"),
    "epochs is a string": lambda d: d["training_config"].update(epochs="ten"),
}


@pytest.mark.parametrize("what", sorted(BAD))
def test_reader_and_writer_refuse_alike(what: str) -> None:
    doc = without_payload(original_document())
    BAD[what](doc)
    with pytest.raises(SchemaError):
        validate_header(doc)
    with pytest.raises(SchemaError):
        write_bundle(io.BytesIO(), doc, io.BytesIO(b"onnx"))
    raw = original_document("b25ueA==")
    BAD[what](raw)
    with pytest.raises(SchemaError):
        read_bundle(io.BytesIO(json.dumps(raw).encode()), io.BytesIO())
