"""The Registry and ObjectStore contracts, run against every implementation.

``registry`` is parametrized over SQLite and PostgreSQL, ``store`` over a local directory
and S3 (SeaweedFS): see tests/conftest.py.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest

from heimdall_io.errors import NotFoundError, ObjectStoreError, RegistryError
from heimdall_io.storage.base import AuditEntry, ModelRecord
from heimdall_io.storage.config import open_registry
from tests.support.streams import MiB, PatternStream, expected_sha256, sha256_of

UTC = dt.timezone.utc


def make_record(n: int = 0, **overrides: Any) -> ModelRecord:
    fields: dict[str, Any] = {
        "model_id": str(uuid.uuid4()),
        "model_name": f"model-{n}",
        "version": n + 1,
        "created_at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=n),
        "updated_at": dt.datetime(2024, 1, 2, tzinfo=UTC) + dt.timedelta(minutes=n),
        "onnx_path": f"imported/model-{n}.onnx",
    }
    fields.update(overrides)
    return ModelRecord(**fields)


def full_record() -> ModelRecord:
    return ModelRecord(
        model_id=str(uuid.uuid4()),
        model_name="resnet-ish",
        version=7,
        status="completed",
        architecture="ResNet18",
        framework="onnx",
        onnx_path="imported/resnet-ish-7-abcd.onnx",
        onnx_opset=17,
        input_shape=[-1, 3, 224, 224],
        output_shape=[-1, 1000],
        parameters_count=11_689_512,
        training_metrics={
            "training_config": {"epochs": 30, "lr": 0.001, "optimizer": {"name": "adam"}},
            "performance_metrics": {"accuracy": 0.9312, "loss": [1.5, 0.75, 0.25]},
            "normalization_stats": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
            "sample_predictions": [{"input": "img-1", "label": 3, "p": 0.99}],
            "future_field": {"nested": {"deeper": [1, "two", None, True, {"x": 1.0e-9}]}},
        },
        extra={
            "bundle_metadata": {"bundle_id": "b-1", "unknown": {"kept": ["whole"]}},
            "unicode": "ünïcødé ✓",
            "big": 2**53 + 1,
        },
        description="A model with every field set",
        onnx_size_bytes=46_830_571,
        onnx_md5="0" * 32,
        onnx_sha256="f" * 64,
        source_model_id=str(uuid.uuid4()),
        created_at=dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        updated_at=dt.datetime(2024, 5, 2, 8, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------


def test_add_get_round_trips_every_field(registry: Any) -> None:
    record = full_record()
    registry.add(record)
    got = registry.get(record.model_id)
    assert got == record
    assert isinstance(got.version, int)
    assert got.created_at.tzinfo is not None
    assert got.updated_at == record.updated_at  # same instant, whatever the zone


def test_minimal_record_round_trips(registry: Any) -> None:
    record = ModelRecord(model_id=str(uuid.uuid4()), model_name="m", version=1)
    registry.add(record)
    got = registry.get(record.model_id)
    assert got.training_metrics is None and got.extra is None and got.input_shape is None
    assert got.framework == "onnx" and got.status == "completed"
    assert got.created_at == record.created_at


def test_empty_shapes_and_json_round_trip(registry: Any) -> None:
    record = make_record(input_shape=[], output_shape=[], training_metrics={}, extra={})
    registry.add(record)
    got = registry.get(record.model_id)
    assert (got.input_shape, got.output_shape, got.training_metrics, got.extra) == ([], [], {}, {})


def test_get_unknown_id_raises_not_found(registry: Any) -> None:
    model_id = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=f"^Model {model_id} not found$"):
        registry.get(model_id)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", "1234", "../../etc/passwd", "' OR 1=1 --"])
def test_get_and_delete_malformed_id_raise_not_found(registry: Any, bad_id: str) -> None:
    with pytest.raises(NotFoundError, match=r"^Model .* not found$"):
        registry.get(bad_id)
    with pytest.raises(NotFoundError):
        registry.delete(bad_id)


def test_ids_are_canonical(registry: Any) -> None:
    model_id = uuid.uuid4()
    registry.add(make_record(model_id=str(model_id).upper()))
    assert registry.get(str(model_id)).model_id == str(model_id)
    assert registry.get(str(model_id).upper()).model_id == str(model_id)
    assert registry.get(model_id.hex).model_id == str(model_id)


def test_add_invalid_model_id_raises_registry_error(registry: Any) -> None:
    with pytest.raises(RegistryError, match="not a UUID"):
        registry.add(make_record(model_id="nope"))
    assert registry.list() == []


def test_add_duplicate_raises_and_keeps_nothing_of_it(registry: Any) -> None:
    record = make_record()
    registry.add(record, AuditEntry(action="register", result="ok", model_id=record.model_id))
    duplicate = make_record(model_id=record.model_id, model_name="other")
    with pytest.raises(RegistryError, match="already exists"):
        registry.add(duplicate, AuditEntry(action="register", result="ok", detail="second"))
    assert registry.get(record.model_id).model_name == record.model_name
    assert [e.detail for e in registry.audit()] == [None]  # the failed add's audit: gone
    registry.add(make_record(1))  # the registry is still usable


def test_list_is_newest_first(registry: Any) -> None:
    records = [make_record(n) for n in (2, 0, 3, 1)]
    for record in records:
        registry.add(record)
    assert [r.model_name for r in registry.list()] == ["model-3", "model-2", "model-1", "model-0"]
    assert registry.list()[0] == records[2]


def test_delete_returns_the_record_and_audits(registry: Any) -> None:
    keep, gone = make_record(0), make_record(1)
    registry.add(keep)
    registry.add(gone)
    audit = AuditEntry(action="delete", result="ok", model_id=gone.model_id, actor="cli")
    assert registry.delete(gone.model_id, audit) == gone
    with pytest.raises(NotFoundError):
        registry.get(gone.model_id)
    with pytest.raises(NotFoundError, match=f"Model {gone.model_id} not found"):
        registry.delete(gone.model_id, AuditEntry(action="delete", result="ok"))
    assert registry.list() == [keep]
    entries = registry.audit()
    assert len(entries) == 1  # the failed delete's audit was rolled back
    assert (entries[0].action, entries[0].model_id, entries[0].actor) == (
        "delete",
        gone.model_id,
        "cli",
    )


def test_referenced_keys(registry: Any) -> None:
    assert registry.referenced_keys() == set()
    registry.add(make_record(0, onnx_path="a/one.onnx"))
    registry.add(make_record(1, onnx_path="a/two.onnx"))
    registry.add(make_record(2, onnx_path="a/two.onnx"))
    registry.add(make_record(3, onnx_path=None))
    assert registry.referenced_keys() == {"a/one.onnx", "a/two.onnx"}


def test_audit_is_newest_first_with_ids(registry: Any) -> None:
    model_id, source_id = str(uuid.uuid4()), str(uuid.uuid4())
    first = AuditEntry(
        action="import",
        result="ok",
        model_id=model_id,
        source_model_id=source_id,
        bytes=123_456_789_012,
        onnx_md5="a" * 32,
        onnx_sha256="b" * 64,
        actor="api:1234abcd",
        detail="from bundle x.heimdall",
        at=dt.datetime(2024, 3, 1, 10, 0, 0, 500, tzinfo=UTC),
    )
    registry.append_audit(first)
    registry.append_audit(AuditEntry(action="export", result="error", detail="disk full"))
    registry.add(make_record(), AuditEntry(action="register", result="ok"))
    entries = registry.audit()
    assert [e.action for e in entries] == ["register", "export", "import"]
    assert all(e.id is not None for e in entries)
    assert entries[0].id > entries[1].id > entries[2].id
    oldest = entries[2]
    assert oldest.id is not None
    assert oldest == AuditEntry(
        **{**{f: getattr(first, f) for f in first.__struct_fields__}, "id": oldest.id}
    )
    assert [e.action for e in registry.audit(limit=2)] == ["register", "export"]
    assert registry.audit(limit=0) == []


def test_reopening_is_idempotent(registry: Any) -> None:
    record = full_record()
    registry.add(record)
    for _ in range(2):  # migrations already applied: nothing happens
        again = open_registry(registry.url)
        try:
            assert again.get(record.model_id) == record
            again.ping()
        finally:
            again.close()


def test_concurrent_adds_from_threads(registry: Any) -> None:
    threads, per_thread = 4, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                record = make_record(t * per_thread + i)
                registry.add(
                    record, AuditEntry(action="register", result="ok", model_id=record.model_id)
                )
                registry.get(record.model_id)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert len(registry.list()) == threads * per_thread
    assert len(registry.audit()) == threads * per_thread
    assert len(registry.referenced_keys()) == threads * per_thread


def test_closed_registry_raises(registry: Any) -> None:
    registry.ping()
    registry.close()
    with pytest.raises(RegistryError, match="closed"):
        registry.list()
    registry.close()  # idempotent


# ---------------------------------------------------------------------------------------
# ObjectStore
# ---------------------------------------------------------------------------------------

SIZE = 20 * MiB + 12345  # not a multiple of any chunk or part size


def test_put_open_list_delete_streams_a_large_object(store: Any) -> None:
    source = PatternStream(SIZE, seed=1)
    assert store.put("imported/big-1-abcd.onnx", source) == SIZE
    assert source.max_read <= 16 * MiB + 1  # bounded chunks, never "read everything"
    assert store.exists("imported/big-1-abcd.onnx")
    with store.open("imported/big-1-abcd.onnx") as stream:
        digest, total, largest = sha256_of(stream, MiB)
    assert (digest, total) == (expected_sha256(SIZE, seed=1), SIZE)
    assert largest <= MiB
    [info] = list(store.list())
    assert (info.key, info.size) == ("imported/big-1-abcd.onnx", SIZE)
    assert info.last_modified.tzinfo is not None
    assert abs(info.last_modified - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)
    store.delete("imported/big-1-abcd.onnx")
    assert not store.exists("imported/big-1-abcd.onnx")
    assert list(store.list()) == []
    with pytest.raises(NotFoundError):
        store.open("imported/big-1-abcd.onnx")


def test_put_with_known_length(store: Any) -> None:
    assert store.put("a/known.onnx", PatternStream(3 * MiB), length=3 * MiB) == 3 * MiB
    with store.open("a/known.onnx") as stream:
        assert sha256_of(stream)[0] == expected_sha256(3 * MiB)


@pytest.mark.parametrize("actual", [MiB - 1, MiB + 1])
def test_put_with_wrong_length_leaves_nothing(store: Any, actual: int) -> None:
    with pytest.raises(ObjectStoreError, match="size mismatch"):
        store.put("a/wrong.onnx", PatternStream(actual), length=MiB)
    assert not store.exists("a/wrong.onnx")
    assert list(store.list()) == []


def test_empty_object(store: Any) -> None:
    assert store.put("a/empty.onnx", PatternStream(0)) == 0
    with store.open("a/empty.onnx") as stream:
        assert stream.read() == b""
    assert [(i.key, i.size) for i in store.list()] == [("a/empty.onnx", 0)]


@pytest.mark.parametrize("fail_at", [MiB // 2, 12 * MiB], ids=["first-part", "later-part"])
def test_put_of_a_failing_stream_leaves_nothing(store: Any, fail_at: int) -> None:
    error = OSError(5, "the source broke")
    source = PatternStream(SIZE, fail_at=fail_at, fail_with=error)
    with pytest.raises(OSError) as excinfo:
        store.put("imported/broken.onnx", source)
    assert excinfo.value is error  # the caller's exception, unchanged
    assert source.position >= fail_at
    assert not store.exists("imported/broken.onnx")
    assert list(store.list()) == []
    with pytest.raises(NotFoundError):
        store.open("imported/broken.onnx")
    # the key is still free
    assert store.put("imported/broken.onnx", PatternStream(10)) == 10


def test_put_interrupted_by_keyboard_interrupt_leaves_nothing(store: Any) -> None:
    source = PatternStream(SIZE, fail_at=9 * MiB, fail_with=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        store.put("imported/interrupted.onnx", source)
    assert list(store.list()) == []


def test_put_never_overwrites(store: Any) -> None:
    store.put("a/once.onnx", PatternStream(1000, seed=1))
    with pytest.raises(ObjectStoreError, match=r"^object exists: a/once\.onnx$"):
        store.put("a/once.onnx", PatternStream(2000, seed=2))
    with store.open("a/once.onnx") as stream:
        assert sha256_of(stream)[:2] == (expected_sha256(1000, seed=1), 1000)


BAD_KEYS = [
    "../../x",
    "../x",
    "a/../../x",
    "a/..",
    "/abs",
    "/etc/passwd",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "a\\b",
    "..\\x",
    "a\x00b",
    "",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_rejected(store: Any, key: str) -> None:
    with pytest.raises(ObjectStoreError, match="invalid object key"):
        store.put(key, PatternStream(10))
    with pytest.raises(ObjectStoreError, match="invalid object key"):
        store.open(key)
    with pytest.raises(ObjectStoreError, match="invalid object key"):
        store.delete(key)
    with pytest.raises(ObjectStoreError, match="invalid object key"):
        store.exists(key)
    assert list(store.list()) == []


def test_list_prefix_and_order(store: Any) -> None:
    keys = ["b/2.onnx", "a/1.onnx", "a/sub/3.onnx", "ab/4.onnx", "top.onnx"]
    for key in keys:
        store.put(key, PatternStream(len(key)))
    assert [i.key for i in store.list()] == sorted(keys)
    assert [i.key for i in store.list("a/")] == ["a/1.onnx", "a/sub/3.onnx"]
    assert [i.key for i in store.list("a")] == ["a/1.onnx", "a/sub/3.onnx", "ab/4.onnx"]
    assert [i.key for i in store.list("a/sub/")] == ["a/sub/3.onnx"]
    assert [i.key for i in store.list("nothing/")] == []
    assert {i.key: i.size for i in store.list()} == {k: len(k) for k in keys}


def test_delete_missing_is_a_no_op(store: Any) -> None:
    store.delete("never/was.onnx")
    assert not store.exists("never/was.onnx")


def test_open_reads_in_chunks_and_closes(store: Any) -> None:
    store.put("a/chunks.onnx", PatternStream(5 * MiB, seed=3))
    with store.open("a/chunks.onnx") as stream:
        first = stream.read(100)
        rest = stream.read(4 * MiB)
        assert len(first) == 100 and 0 < len(rest) <= 4 * MiB
    assert stream.closed
    store.ping()
