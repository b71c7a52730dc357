"""Import refuses what the registry cannot store, naming the field (issue 8, item 6), on
every registry x store pair; and every failed import leaves an audit row.

The review found each of these turned into a 500 or a registry error: a lone surrogate in
`architecture`, a NUL, `parameters_count` 123456789012345678901234, a 250-character name
(VARCHAR(255) once " (Imported)" is appended). The boundaries are imported for real, so
the rules are checked against the databases' own limits, not against themselves.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from heimdall_io.errors import SchemaError
from heimdall_io.format.storable import IMPORTED_SUFFIX
from heimdall_io.service import Service
from heimdall_io.service.records import IMPORTED_SUFFIX as RECORDS_SUFFIX
from tests.support.synthetic import synthetic_model_bytes

MODEL = synthetic_model_bytes(8192, seed=11)
MARK = "PLACEHOLDER-VALUE"


def bundle_with(json_value: str, *, where: str = "architecture", payload: bytes = MODEL) -> bytes:
    """A bundle whose ``where`` field (``model.X`` as ``X``, or ``section.X``) holds the raw
    JSON text ``json_value`` (which Python could not always write: "\\ud800", 1e400). No
    checksums are declared: only the metadata matters here."""
    model: dict[str, Any] = {"model_name": "Net", "version": 1, "architecture": "Net"}
    doc: dict[str, Any] = {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b-1", "created_at": "2026-01-01T00:00:00Z"},
        "training_config": {"epochs": 3, "optimizer": "Adam"},
    }
    section, _, field = where.rpartition(".")
    (doc.setdefault(section, {}) if section else model)[field] = MARK
    doc["model"] = {**model, "onnx_model_base64": base64.b64encode(payload).decode()}
    raw = json.dumps(doc).encode()
    assert raw.count(f'"{MARK}"'.encode()) == 1
    return raw.replace(f'"{MARK}"'.encode(), json_value.encode())


def raw_bundle(replace: bytes, by: bytes) -> bytes:
    raw = bundle_with('"Net"')
    assert replace in raw
    return raw.replace(replace, by, 1)


# (bundle, words the error must contain)
UNSTORABLE: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "surrogate_architecture": (bundle_with('"Res\\ud800Net"'),
                               ("model.architecture", "lone surrogate")),
    "surrogate_framework": (bundle_with('"\\udfff"', where="framework"),
                            ("model.framework", "lone surrogate")),
    "surrogate_model_name": (bundle_with('"N\\ud834et"', where="model_name"),
                             ("model.model_name", "lone surrogate")),
    "nul_model_name": (bundle_with('"a\\u0000b"', where="model_name"),
                       ("model.model_name", "NUL")),
    "nul_in_a_section": (bundle_with('"Ad\\u0000am"', where="training_config.optimizer"),
                         ("training_config.optimizer", "NUL")),
    "nul_in_description": (bundle_with('"x\\u0000"', where="bundle_metadata.description"),
                           ("bundle_metadata.description", "NUL")),
    "surrogate_unknown_key": (raw_bundle(b'"training_config":', b'"x\\ud800":1,"training_config":'),
                              ("a key in the top-level object", "lone surrogate")),
    "surrogate_deep_unknown": (bundle_with('{"deep":["ok",{"k":"\\udc00"}]}', where="x.extra"),
                               ("x.extra.deep[1].k", "lone surrogate")),
    "huge_parameters_count": (bundle_with("123456789012345678901234", where="parameters_count"),
                              ("model.parameters_count", "64-bit")),
    "version_over_integer": (bundle_with("2147483648", where="version"),
                             ("model.version", "32-bit")),
    "version_string_over_integer": (bundle_with('"99999999999"', where="version"),
                                    ("model.version", "32-bit")),
    "opset_over_integer": (bundle_with("4294967296", where="onnx_opset"),
                           ("model.onnx_opset", "32-bit")),
    "shape_dim_over_integer": (bundle_with("[1, 4294967296]", where="input_shape"),
                               ("model.input_shape[1]", "32-bit")),
    "epochs_over_64_bits": (bundle_with("9223372036854775808", where="training_config.epochs"),
                            ("training_config.epochs", "64-bit")),
    "infinite_float": (bundle_with("[0.5, 1e400]", where="performance_metrics.val_loss"),
                       ("performance_metrics.val_loss[1]", "infinity")),
    "name_too_long_once_imported": (bundle_with('"' + "n" * 245 + '"', where="model_name"),
                                    ("model.model_name", "245 characters", "(Imported)")),
    "architecture_too_long": (bundle_with('"' + "a" * 101 + '"'),
                              ("model.architecture", "101 characters")),
    "framework_too_long": (bundle_with('"' + "f" * 51 + '"', where="framework"),
                           ("model.framework", "51 characters")),
}  # fmt: skip


@pytest.fixture
def service(registry: Any, store: Any) -> Service:
    return Service(registry, store, actor="test")


def test_unstorable_values_are_refused_naming_the_field(service: Service) -> None:
    for name, (data, words) in UNSTORABLE.items():
        with pytest.raises(SchemaError) as caught:
            service.import_bundle(io.BytesIO(data))
        message = str(caught.value)
        for word in words:
            assert word in message, (name, message)
        # The message quotes no raw value: it goes to terminals and the audit log.
        assert "\0" not in message and message.isprintable(), (name, message)
        message.encode("utf-8")
    assert service.list_models() == []
    assert list(service.store.list("")) == []
    errors = [e for e in service.history() if e.action == "import" and e.result == "error"]
    assert len(errors) == len(UNSTORABLE)
    assert all(e.detail and e.detail.startswith("invalid bundle: ") for e in errors)


def test_the_boundaries_are_stored(service: Service) -> None:
    accepted = {
        "model_name": '"' + "n" * (255 - len(IMPORTED_SUFFIX)) + '"',  # 255 with the suffix
        "architecture": '"' + "a" * 100 + '"',
        "framework": '"' + "f" * 50 + '"',
        "version": str((1 << 31) - 1),
        "onnx_opset": str(-(1 << 31)),
        "parameters_count": str((1 << 63) - 1),
        "input_shape": '[2147483647, -2147483648, "batch"]',
        "training_config.epochs": str(-(1 << 63)),
        "x.big": "123456789012345678901234567890",  # JSONB holds any integer
        "x.text": '"Ré✓ \\u00e9 \\ud83d\\ude00"',  # a surrogate pair is a character
    }
    for where, value in accepted.items():
        record = service.import_bundle(io.BytesIO(bundle_with(value, where=where))).record
        assert service.get_model(record.model_id).onnx_md5 == record.onnx_md5
    names = {r.model_name for r in service.list_models()}
    assert "n" * (255 - len(IMPORTED_SUFFIX)) + IMPORTED_SUFFIX in names
    # A name already ending with the suffix keeps it once: 255 characters in all.
    full = '"' + "m" * (255 - len(IMPORTED_SUFFIX)) + IMPORTED_SUFFIX + '"'
    service.import_bundle(io.BytesIO(bundle_with(full, where="model_name")))


def test_the_suffix_is_the_registry_s() -> None:
    assert IMPORTED_SUFFIX == RECORDS_SUFFIX


class Budget(io.RawIOBase):
    """A bundle that must not be read past ``limit`` bytes (the start of its payload)."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._src, self._limit = io.BytesIO(data), limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), 4096)
        if self._src.tell() + n > self._limit:
            raise AssertionError("read into the payload")
        data = self._src.read(n)
        b[: len(data)] = data
        return len(data)


def test_refused_before_the_payload_is_read(service: Service) -> None:
    data = bundle_with('"\\ud800"', payload=synthetic_model_bytes(1 << 20, seed=3))
    with pytest.raises(SchemaError, match=r"model\.architecture"):
        service.import_bundle(io.BufferedReader(Budget(data, 64 << 10)))
    assert list(service.store.list("")) == []


def test_metadata_after_the_payload_is_checked_too(service: Service) -> None:
    data = bundle_with('"Net"')
    assert data.endswith(b"}}")
    late = data[:-1] + b',"x_late":"\\ud800"}'
    with pytest.raises(SchemaError, match="x_late"):
        service.import_bundle(io.BytesIO(late))
    assert service.list_models() == [] and list(service.store.list("")) == []


def test_every_failed_import_is_audited(registry: Any, store: Any) -> None:
    def broken_checker(path: str) -> None:
        raise RuntimeError("a bug, not a bundle error")

    service = Service(registry, store, actor="test", model_checker=broken_checker)
    with pytest.raises(RuntimeError):
        service.import_bundle(io.BytesIO(bundle_with('"Net"')))
    with pytest.raises(SchemaError):
        service.import_bundle(io.BytesIO(bundle_with('"\\ud800"')))
    entries = [e for e in service.history() if e.action == "import"]
    assert sorted((e.result, e.detail or "") for e in entries)[0] == (
        "error",
        "invalid bundle: model.architecture: a lone surrogate (\\ud800) is not valid "
        "Unicode and cannot be stored",
    )
    assert any(e.detail == "unexpected RuntimeError" for e in entries)
    assert service.list_models() == [] and list(service.store.list("")) == []


def test_the_api_answers_400_for_these_errors() -> None:
    from heimdall_io.api.errors import map_error
    from heimdall_io.errors import InvalidModelError, MetadataLimitError

    for error in (
        SchemaError("invalid bundle: model.architecture: a lone surrogate (\\ud800) ..."),
        MetadataLimitError("metadata holds more than 1,000,000 JSON values (in x)"),
        InvalidModelError("model uses external data (tensor 'w'): not supported ..."),
    ):
        answer = map_error(error, "import")
        assert answer.status == 400
        assert answer.detail == f"Invalid bundle format: {error}"


def test_a_metadata_flood_is_refused_before_the_store(service: Service) -> None:
    """Issue 8, item 2: millions of empty objects in a small gzip body, before the payload."""
    import gzip

    from heimdall_io.errors import MetadataLimitError

    flood = b'"x":[' + b"{}," * 5_000_000 + b"{}],"
    data = gzip.compress(
        bundle_with('"Net"').replace(b'"training_config":', flood + b'"training_config":', 1)
    )
    assert len(data) < 2 << 20
    with pytest.raises(MetadataLimitError, match="1,000,000 JSON values"):
        service.import_bundle(io.BytesIO(data))
    assert service.list_models() == [] and list(service.store.list("")) == []
    [entry] = [e for e in service.history() if e.action == "import"]
    assert entry.result == "error" and "JSON values" in (entry.detail or "")
