"""Models with external data through the registry (issue 14): register DIR, export, import
(every file an object under the model's prefix), all or nothing across those objects,
delete and gc; on every registry and store (SQLite/PostgreSQL x directory/SeaweedFS)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from heimdall_io.errors import ChecksumMismatchError, InvalidModelError
from heimdall_io.files.bundles import pack, unpack
from heimdall_io.service import ExportOptions, Service
from tests.support.synthetic import write_external_model


@pytest.fixture
def service(registry: Any, store: Any) -> Service:
    return Service(registry, store, actor="test")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    write_external_model(tmp_path / "m", 1 << 20, files=3, subdir="w", model_file="net.onnx")
    return tmp_path / "m"


def _export(service: Service, model_id: str, **options: Any) -> bytes:
    stream = service.export_stream(model_id, ExportOptions(**options))
    return b"".join(stream)


def _objects(service: Service) -> list[str]:
    return sorted(o.key for p in ("imported/", "models/") for o in service.store.list(p))


def test_register_export_import_round_trip(
    service: Service, model_dir: Path, tmp_path: Path
) -> None:
    record = service.register(None, name="big", directory=str(model_dir))
    assert [f["path"] for f in record.external_data or []] == [
        f"w/weights_{i}.bin" for i in range(3)
    ]
    assert len(_objects(service)) == 4
    raw = _export(service, record.model_id)
    doc = json.loads(raw)
    assert doc["format_version"] == "1.2.0" and doc["model"]["onnx_file"] == "net.onnx"
    imported = service.import_bundle(io.BytesIO(raw)).record
    keys = imported.object_keys()
    assert len(keys) == 4 and all(k.startswith(keys[0].removesuffix(".onnx")) for k in keys)
    assert imported.external_data == [
        {**f, "key": k} for f, k in zip(record.external_data or [], keys[1:], strict=True)
    ]
    again = _export(service, imported.model_id)
    (tmp_path / "b.heimdall").write_bytes(again)
    unpack(str(tmp_path / "b.heimdall"), str(tmp_path / "out"))
    for path in ["net.onnx", *(f"w/weights_{i}.bin" for i in range(3))]:
        assert (tmp_path / "out" / path).read_bytes() == (model_dir / path).read_bytes()
    assert service.registry.referenced_keys() >= set(keys)
    service.delete(imported.model_id)
    assert not any(k in _objects(service) for k in keys)


def _bundle(model_dir: Path, tmp_path: Path) -> bytes:
    pack(str(model_dir), str(tmp_path / "m.heimdall"), model={"model_name": "big"}, force=True)
    return (tmp_path / "m.heimdall").read_bytes()


def test_a_damaged_last_file_imports_nothing(
    service: Service, model_dir: Path, tmp_path: Path
) -> None:
    doc = json.loads(_bundle(model_dir, tmp_path))
    doc["model"]["external_data"][-1]["sha256"] = "0" * 64
    before = _objects(service)
    with pytest.raises(ChecksumMismatchError):
        service.import_bundle(io.BytesIO(json.dumps(doc).encode()))
    assert _objects(service) == before and service.list_models() == []
    assert service.registry.leases() == []


def test_a_location_outside_the_bundle_imports_nothing(
    service: Service, model_dir: Path, tmp_path: Path
) -> None:
    doc = json.loads(_bundle(model_dir, tmp_path))
    doc["model"]["external_data"] = doc["model"]["external_data"][:2]  # weights_2 missing
    with pytest.raises(InvalidModelError, match=r"'w/weights_2\.bin', which is not a file") as e:
        service.import_bundle(io.BytesIO(json.dumps(doc).encode()))
    assert "imported/" not in str(e.value) and str(tmp_path) not in str(e.value)
    assert _objects(service) == [] and service.list_models() == []


def test_gc_keeps_referenced_files_and_removes_orphans(service: Service, model_dir: Path) -> None:
    record = service.register(None, name="big", directory=str(model_dir))
    orphan = "imported/gone-1-abcd1234/w/weights_0.bin"
    service.store.put(orphan, io.BytesIO(b"x"))
    result = service.gc(min_age=dt.timedelta(0))
    assert [o.key for o in result.removed] == [orphan]
    assert _objects(service) == sorted(record.object_keys())
    raw = _export(service, record.model_id)
    assert hashlib.md5(raw).hexdigest()  # still exports: every object is there


def test_gc_does_not_touch_a_leased_prefix(service: Service) -> None:
    key = "imported/live-1-abcd1234.onnx"
    service.registry.acquire_lease(key, "someone", 300)
    service.store.put(key, io.BytesIO(b"x"))
    service.store.put("imported/live-1-abcd1234/w.bin", io.BytesIO(b"y"))
    assert service.gc(min_age=dt.timedelta(0)).removed == []
    service.registry.release_lease(key, "someone")
    assert len(service.gc(min_age=dt.timedelta(0)).removed) == 2


def test_signed_bundle_with_external_data(tmp_path: Path, model_dir: Path) -> None:
    """Signatures cover every file's entry (after the payload): checked at the end, so a
    signed export imports under a policy that requires signatures, and a tampered entry
    imports nothing."""
    from heimdall_io.signing import ImportPolicy, keys
    from heimdall_io.signing.trust import TrustedKeys
    from heimdall_io.storage.localdir import LocalObjectStore
    from heimdall_io.storage.sqlite import SqliteRegistry

    key = keys.new_secret_key()
    policy = ImportPolicy(TrustedKeys([key.public]), require_signature=True)

    def instance(name: str, policy: ImportPolicy | None = None) -> Service:
        where = tmp_path / name
        return Service(SqliteRegistry(where / "r.db"), LocalObjectStore(where / "objects"),
                       actor="test", import_policy=policy or ImportPolicy())  # fmt: skip

    source, target = instance("a"), instance("b", policy)
    try:
        record = source.register(None, name="big", directory=str(model_dir))
        raw = _export(source, record.model_id, sign_with=(key,))
        imported = target.import_bundle(io.BytesIO(raw))
        assert imported.verdict is not None and imported.verdict.signer_key_id == key.key_id
        doc = json.loads(raw)  # a file dropped: every digest still matches its data
        doc["model"]["external_data"] = doc["model"]["external_data"][1:]
        before = _objects(target)
        with pytest.raises(Exception, match="signature"):
            target.import_bundle(io.BytesIO(json.dumps(doc).encode()))
        assert _objects(target) == before
    finally:
        source.close()
        target.close()
