"""The service layer on every registry x store pair: the seed's round trip and its rules."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.codec import read_bundle, write_bundle
from heimdall_io.errors import (
    ChecksumMismatchError,
    DuplicateKeyError,
    InvalidModelError,
    NotFoundError,
)
from heimdall_io.service import ExportOptions, Service
from tests.support.synthetic import synthetic_model_bytes

SECTIONS = {
    "training_config": {"epochs": 100, "batch_size": 32, "optimizer": "Adam", "custom": {"a": 1}},
    "performance_metrics": {"train_loss": [0.5, 0.3], "best_epoch": 2, "final_val_accuracy": 95.2},
    "normalization_stats": {"feature_means": [0.1, 0.2], "feature_stds": [1.0, 2.0]},
    "sample_predictions": [
        {"input": [i], "ground_truth": {"lat": 45.0, "lon": 9.0}, "error_meters": float(i)}
        for i in range(8)
    ],
}


@pytest.fixture
def service(registry: Any, store: Any) -> Service:
    return Service(registry, store, actor="test")


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return synthetic_model_bytes(1 << 20, seed=7)


def register(service: Service, data: bytes, name: str = "LocalizationNet") -> str:
    record = service.register(
        io.BytesIO(data), name=name, version=3, architecture="LocalizationNet",
        sections=SECTIONS,
    )  # fmt: skip
    return record.model_id


def export_bytes(service: Service, model_id: str, **options: Any) -> bytes:
    return b"".join(service.export_stream(model_id, ExportOptions(**options)))


def payload_md5(bundle: bytes) -> str:
    # The seed's own check: json.load + base64 decode + md5.
    doc = json.loads(bundle)
    return hashlib.md5(base64.b64decode(doc["model"]["onnx_model_base64"])).hexdigest()


def import_bytes(service: Service, bundle: bytes, **kw: Any) -> Any:
    return service.import_bundle(io.BytesIO(bundle), **kw).record


def test_seed_round_trip(service: Service, model_bytes: bytes) -> None:
    original_id = register(service, model_bytes)
    first = export_bytes(service, original_id)
    imported = import_bytes(service, first)
    second = export_bytes(service, imported.model_id)

    md5 = hashlib.md5(model_bytes).hexdigest()
    assert payload_md5(first) == payload_md5(second) == md5
    a, b = json.loads(first), json.loads(second)
    for section in SECTIONS:
        assert a[section] == b[section]
    assert b["sample_predictions"] == SECTIONS["sample_predictions"][:5]
    assert imported.model_id != original_id
    assert imported.source_model_id == original_id
    assert imported.model_name == "LocalizationNet (Imported)"
    assert imported.onnx_path.startswith("imported/")
    assert imported.onnx_md5 == md5
    for key in ("architecture", "onnx_opset", "input_shape", "output_shape", "parameters_count"):
        assert a["model"][key] == b["model"][key]
    # Re-import never stacks the suffix, and never overwrites the first object.
    again = import_bytes(service, second)
    assert again.model_name == "LocalizationNet (Imported)"
    assert again.onnx_path != imported.onnx_path
    assert service.store.exists(imported.onnx_path)


def test_selective_export(service: Service, model_bytes: bytes) -> None:
    model_id = register(service, model_bytes)
    doc = json.loads(
        export_bytes(
            service, model_id, include_config=False, include_samples=False, description="minimal"
        )
    )
    assert "training_config" not in doc and "sample_predictions" not in doc
    assert doc["performance_metrics"] == SECTIONS["performance_metrics"]
    assert doc["bundle_metadata"]["description"] == "minimal"
    doc = json.loads(export_bytes(service, model_id, num_samples=2))
    assert len(doc["sample_predictions"]) == 2
    none = json.loads(
        export_bytes(
            service,
            model_id,
            include_config=False,
            include_metrics=False,
            include_normalization=False,
            include_samples=False,
        )
    )
    assert set(none) == {"format_version", "bundle_metadata", "model"}


def test_unknown_and_legacy_fields_survive(service: Service, model_bytes: bytes) -> None:
    legacy = {
        "format_version": "1.0.0",
        "bundle_metadata": {"bundle_id": "x", "created_at": "2025-11-03T19:10:00",
                            "created_by": "heimdall-training", "heimdall_version": "0.9"},
        "model": {"model_id": "e3ae8499-64e0-4da7-ae48-db76fe17a382", "model_name": "legacy",
                  "version": "3", "output_shape": [[1, 2], [1, 2]], "input_shape": ["batch", 8],
                  "custom_model_field": {"k": [1, 2]}},
        "training_config": {"validation_split": 0.2, "dataset_ids": ["d1"], "odd": True},
        "performance_metrics": {"final_train_accuracy": 91.0, "onnx_speedup_factor": 2.5},
        "sample_predictions": [{"sample_id": "s1", "input_metadata": {"freq": 433.92}}],
        "top_level_extra": {"anything": [1, "two"]},
    }  # fmt: skip
    out = io.BytesIO()
    write_bundle(out, legacy, io.BytesIO(model_bytes))
    record = import_bytes(service, out.getvalue())
    assert record.version == 3
    doc = json.loads(export_bytes(service, record.model_id))
    for section in ("training_config", "performance_metrics", "sample_predictions"):
        assert doc[section] == legacy[section]
    assert doc["top_level_extra"] == legacy["top_level_extra"]
    assert doc["model"]["custom_model_field"] == {"k": [1, 2]}
    assert doc["model"]["output_shape"] == [[1, 2], [1, 2]]
    assert doc["model"]["input_shape"] == ["batch", 8]
    assert doc["model"]["version"] == "3"
    assert record.source_model_id == "e3ae8499-64e0-4da7-ae48-db76fe17a382"


def test_name_cannot_escape_prefix(service: Service, model_bytes: bytes, tmp_path: Path) -> None:
    for name in ("../../x", "/etc/passwd", "..\\..\\x", "a/../../b", ".", ""):
        header = {
            "format_version": "1.0.0",
            "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
            "model": {"model_name": name, "version": "../1"},
        }
        out = io.BytesIO()
        write_bundle(out, header, io.BytesIO(model_bytes))
        record = import_bytes(service, out.getvalue())
        key = record.onnx_path
        assert key.startswith("imported/") and key.count("/") == 1 and ".." not in key, key
        assert service.store.exists(key)


def test_parallel_imports_are_distinct(service: Service, model_bytes: bytes) -> None:
    bundle = export_bytes(service, register(service, model_bytes))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        records = list(pool.map(lambda _: import_bytes(service, bundle), range(8)))
    assert len({r.model_id for r in records}) == 8
    assert len({r.onnx_path for r in records}) == 8
    for r in records:
        assert (
            payload_md5(export_bytes(service, r.model_id)) == hashlib.md5(model_bytes).hexdigest()
        )


def test_bad_bundle_leaves_nothing(service: Service, model_bytes: bytes) -> None:
    bundle = export_bytes(service, register(service, model_bytes))
    before_rows = {r.model_id for r in service.list_models()}
    before_objects = {o.key for o in service.store.list("")}
    doc = json.loads(bundle)
    doc["model"]["onnx_md5"] = "0" * 32
    bad_checksum = json.dumps(doc).encode()
    truncated = bundle[: len(bundle) // 2]
    dup = bundle.replace(b'"model":{', b'"model":{"onnx_model_base64":"AAAA",', 1)
    not_onnx = io.BytesIO()
    write_bundle(not_onnx, doc | {"model": {"model_name": "x", "version": 1}},
                 io.BytesIO(b"not an onnx model"))  # fmt: skip
    for bad, error in ((bad_checksum, ChecksumMismatchError), (dup, DuplicateKeyError),
                       (not_onnx.getvalue(), InvalidModelError)):  # fmt: skip
        with pytest.raises(error):
            import_bytes(service, bad)
    with pytest.raises(Exception):  # noqa: B017 - any bundle error
        import_bytes(service, truncated)
    assert {r.model_id for r in service.list_models()} == before_rows
    assert {o.key for o in service.store.list("")} == before_objects
    errors = [e for e in service.history() if e.action == "import" and e.result == "error"]
    assert len(errors) == 4


def test_export_detects_corrupt_object(service: Service, model_bytes: bytes) -> None:
    record = service.get_model(register(service, model_bytes))
    flipped = bytearray(model_bytes)
    flipped[-1] ^= 0xFF
    service.store.delete(record.onnx_path)
    service.store.put(record.onnx_path, io.BytesIO(bytes(flipped)))
    with pytest.raises(ChecksumMismatchError):
        export_bytes(service, record.model_id)
    entry = service.history(1)[0]
    assert entry.action == "export" and entry.result == "error"


def test_history_records_transfers(service: Service, model_bytes: bytes) -> None:
    model_id = register(service, model_bytes)
    bundle = export_bytes(service, model_id)
    imported = import_bytes(service, bundle)
    entries = service.history()
    assert [e.action for e in entries[:3]] == ["import", "export", "register"]
    md5 = hashlib.md5(model_bytes).hexdigest()
    assert all(e.onnx_md5 == md5 and e.bytes == len(model_bytes) for e in entries[:3])
    assert entries[0].model_id == imported.model_id and entries[0].actor == "test"


def test_delete_and_gc(service: Service, model_bytes: bytes) -> None:
    model_id = register(service, model_bytes)
    key = service.get_model(model_id).onnx_path
    service.delete(model_id)
    with pytest.raises(NotFoundError, match=f"Model {model_id} not found"):
        service.get_model(model_id)
    assert not service.store.exists(key)
    service.store.put("imported/orphan-1-deadbeef.onnx", io.BytesIO(b"x" * 10))
    kept = register(service, model_bytes)
    assert service.gc(dry_run=True).removed == []  # younger than the default hour
    removed = service.gc(min_age=dt.timedelta(0)).removed
    assert [o.key for o in removed] == ["imported/orphan-1-deadbeef.onnx"]
    assert service.store.exists(service.get_model(kept).onnx_path)


def test_import_spools_payload_first_bundle(service: Service, model_bytes: bytes) -> None:
    # 1.0.0 key order from another encoder: the payload before everything else.
    doc = {
        "model": {"onnx_model_base64": base64.b64encode(model_bytes).decode(),
                  "model_name": "payload-first", "version": 2},
        "format_version": "1.0.0",
        "bundle_metadata": {"bundle_id": "b", "created_at": "t"},
    }  # fmt: skip
    record = import_bytes(service, json.dumps(doc, indent=2).encode())
    assert record.model_name == "payload-first (Imported)"
    assert "payload-first" in record.onnx_path
    sink = io.BytesIO()
    read_bundle(io.BytesIO(export_bytes(service, record.model_id)), sink)
    assert sink.getvalue() == model_bytes


def test_export_from_a_seed_database(pg_url: str, tmp_path: Path, model_bytes: bytes) -> None:
    """A `models` table made by the original Heimdall service, rows and all, exports."""
    import psycopg

    from heimdall_io.storage.localdir import LocalObjectStore
    from heimdall_io.storage.postgres import PostgresRegistry

    seed_schema = """CREATE TABLE models (
        model_id UUID PRIMARY KEY, model_name VARCHAR(255) NOT NULL, version INTEGER NOT NULL,
        status VARCHAR(50) NOT NULL, architecture VARCHAR(100), framework VARCHAR(50),
        onnx_path TEXT, onnx_opset INTEGER, input_shape INTEGER[], output_shape INTEGER[],
        parameters_count BIGINT, training_metrics JSONB,
        created_at TIMESTAMPTZ DEFAULT NOW(), updated_at TIMESTAMPTZ DEFAULT NOW())"""
    flat = {"epochs": 100, "batch_size": 32, "train_loss": [0.5, 0.2], "best_epoch": 42,
            "feature_means": [0.1], "feature_stds": [1.0]}  # fmt: skip
    model_id = "e3ae8499-64e0-4da7-ae48-db76fe17a382"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(seed_schema)
        conn.execute(
            "INSERT INTO models (model_id, model_name, version, status, architecture, framework,"
            " onnx_path, onnx_opset, input_shape, output_shape, parameters_count,"
            " training_metrics) VALUES (%s, 'seed_model', 1, 'completed', 'LocalizationNet',"
            " 'onnx', 'models/model_abc.onnx', 14, '{1,16}', '{1,2}', 34, %s::jsonb)",
            (model_id, json.dumps(flat)),
        )
    store = LocalObjectStore(tmp_path / "objects")
    store.put("models/model_abc.onnx", io.BytesIO(model_bytes))
    with PostgresRegistry(pg_url) as registry:  # migrations add this project's columns
        service = Service(registry, store)
        doc = json.loads(export_bytes(service, model_id))
    assert doc["training_config"] == {"epochs": 100, "batch_size": 32}
    assert doc["performance_metrics"] == {"train_loss": [0.5, 0.2], "best_epoch": 42}
    assert doc["normalization_stats"] == {"feature_means": [0.1], "feature_stds": [1.0]}
    assert doc["model"]["onnx_md5"] == hashlib.md5(model_bytes).hexdigest()
    assert doc["model"]["onnx_opset"] == 14


def test_validated_import_checks_without_reading_the_object_back(
    registry: Any, store: Any, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker gets a local file: the store's own (a local directory) or a copy made
    while the payload streamed to a remote store; the stored object is never read back."""
    from heimdall_io.onnx.lazy_checker import check_model_file

    checked: list[bytes] = []

    def checker(path: str) -> None:
        checked.append(Path(path).read_bytes())
        check_model_file(path)

    service = Service(registry, store, actor="test", model_checker=checker)
    bundle = export_bytes(service, register(service, model_bytes))
    opened: list[str] = []
    original = store.open
    monkeypatch.setattr(store, "open", lambda key: opened.append(key) or original(key))
    record = service.import_bundle(io.BytesIO(bundle)).record
    assert checked == [model_bytes] and opened == []
    assert service.get_model(record.model_id).onnx_md5 == hashlib.md5(model_bytes).hexdigest()
