"""The Registry's import leases and paged listing, on SQLite and PostgreSQL alike, and
the ObjectStore's incomplete uploads, on a directory and S3 alike."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
import time
import uuid
from typing import Any

import pytest

from heimdall_io.errors import LeaseLostError, RegistryError
from heimdall_io.storage.base import AuditEntry
from tests.support.streams import MiB, PatternStream

from .test_contract import make_record

UTC = dt.timezone.utc


# -- leases -----------------------------------------------------------------------------


def test_acquire_renew_release(registry: Any) -> None:
    assert registry.leases() == []
    before = dt.datetime.now(UTC)
    registry.acquire_lease("imported/a.onnx", "owner-1", 60)
    [lease] = registry.leases()
    assert (lease.object_key, lease.owner, lease.expired) == ("imported/a.onnx", "owner-1", False)
    assert before + dt.timedelta(seconds=55) < lease.expires_at < before + dt.timedelta(seconds=65)
    with pytest.raises(RegistryError, match=r"leased already: imported/a\.onnx"):
        registry.acquire_lease("imported/a.onnx", "owner-2", 60)
    assert registry.renew_lease("imported/a.onnx", "owner-1", 120)
    assert registry.leases()[0].expires_at > lease.expires_at + dt.timedelta(seconds=50)
    assert not registry.renew_lease("imported/a.onnx", "owner-2", 120)  # not its lease
    registry.release_lease("imported/a.onnx", "owner-2")  # not its lease: nothing happens
    assert len(registry.leases()) == 1
    registry.release_lease("imported/a.onnx", "owner-1")
    assert registry.leases() == []
    assert not registry.renew_lease("imported/a.onnx", "owner-1", 60)
    registry.release_lease("imported/a.onnx", "owner-1")  # idempotent
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            registry.acquire_lease("imported/b.onnx", "owner-1", bad)


def test_add_takes_the_lease_in_its_transaction(registry: Any) -> None:
    record = make_record(onnx_path="imported/a.onnx")
    registry.acquire_lease("imported/a.onnx", "me", 60)
    audit = AuditEntry(action="import", result="ok", model_id=record.model_id)
    registry.add(record, audit, lease_owner="me")
    assert registry.get(record.model_id) == record
    assert registry.leases() == []
    # without its lease (gone, or someone else's), nothing is written, audit included
    registry.acquire_lease("imported/b.onnx", "other", 60)
    for key, owner in (("imported/b.onnx", "me"), ("imported/c.onnx", "me")):
        lost = make_record(1, onnx_path=key)
        with pytest.raises(LeaseLostError, match=f"lease on {key} expired"):
            registry.add(lost, AuditEntry(action="import", result="ok"), lease_owner=owner)
        with pytest.raises(Exception, match="not found"):
            registry.get(lost.model_id)
    assert [e.action for e in registry.audit()] == ["import"]
    assert [x.object_key for x in registry.leases()] == ["imported/b.onnx"]
    # a duplicate row fails and leaves the lease in place
    registry.acquire_lease("imported/d.onnx", "me", 60)
    with pytest.raises(RegistryError, match="already exists"):
        registry.add(make_record(model_id=record.model_id, onnx_path="imported/d.onnx"),
                     lease_owner="me")  # fmt: skip
    assert "imported/d.onnx" in {x.object_key for x in registry.leases()}


def test_expired_leases_are_claimed_once(registry: Any) -> None:
    registry.acquire_lease("imported/old-1.onnx", "dead", 0.05)
    registry.acquire_lease("imported/old-2.onnx", "dead", 0.05)
    registry.acquire_lease("imported/live.onnx", "alive", 60)
    time.sleep(0.2)
    assert {x.object_key: x.expired for x in registry.leases()} == {
        "imported/live.onnx": False,
        "imported/old-1.onnx": True,
        "imported/old-2.onnx": True,
    }
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        claims = list(pool.map(lambda _: registry.claim_expired_leases(), range(4)))
    assert sorted(key for claim in claims for key in claim) == [
        "imported/old-1.onnx",
        "imported/old-2.onnx",
    ]
    assert [x.object_key for x in registry.leases()] == ["imported/live.onnx"]
    assert not registry.renew_lease("imported/old-1.onnx", "dead", 60)  # too late
    with pytest.raises(LeaseLostError):
        registry.add(make_record(onnx_path="imported/old-1.onnx"), lease_owner="dead")
    assert registry.list() == []


def race_commit_and_claim(registry: Any, key: str, record: Any) -> tuple[bool, list[str]]:
    """add(lease_owner=...) and claim_expired_leases() at once; (committed, claimed keys)."""
    barrier = threading.Barrier(2)
    committed: list[bool] = []
    claimed: list[list[str]] = []

    def commit() -> None:
        barrier.wait()
        try:
            registry.add(record, lease_owner="importer")
            committed.append(True)
        except LeaseLostError:
            committed.append(False)

    def claim() -> None:
        barrier.wait()
        claimed.append(registry.claim_expired_leases())

    threads = [threading.Thread(target=commit), threading.Thread(target=claim)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return committed[0], claimed[0]


def test_commit_and_claim_race_has_one_winner(registry: Any) -> None:
    """An import committing just as gc claims its expired lease: either the row exists
    (and gc did not get the lease) or gc got the lease (and there is no row); never both."""
    for i in range(20):
        key = f"imported/race-{i}.onnx"
        registry.acquire_lease(key, "importer", 0.01)
        time.sleep(0.03)
        committed, claimed = race_commit_and_claim(registry, key, make_record(i, onnx_path=key))
        assert committed != (key in claimed), (committed, claimed)
        assert committed == (key in registry.referenced_keys())
    assert registry.leases() == []


# -- paged list -------------------------------------------------------------------------


def test_list_pages(registry: Any) -> None:
    same_time = dt.datetime(2024, 5, 1, tzinfo=UTC)
    records = [make_record(n) for n in range(5)]
    records += [make_record(9, model_id=str(uuid.uuid4()), created_at=same_time) for _ in range(4)]
    for record in records:
        registry.add(record)
    everything = registry.list()
    assert len(everything) == 9
    ties = [r.model_id for r in everything[:4]]
    assert ties == sorted(ties)  # equal times: by id, so pages never overlap or skip
    assert registry.list(limit=None, offset=0) == everything
    pages = [registry.list(limit=2, offset=o) for o in range(0, 10, 2)]
    assert [r for page in pages for r in page] == everything
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert registry.list(limit=0) == []
    assert registry.list(offset=9) == [] and registry.list(limit=3, offset=100) == []
    assert registry.list(offset=7) == everything[7:]
    with pytest.raises(ValueError, match="limit"):
        registry.list(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        registry.list(offset=-1)


# -- incomplete uploads -----------------------------------------------------------------


def test_incomplete_uploads_name_their_key(store: Any) -> None:
    """An upload in flight is listed with the key it is writing (so gc can match it with
    its lease), and can be aborted; a finished put leaves none."""
    part = getattr(store, "part_size", MiB)
    stream = PatternStream(3 * part, seed=4)
    gate, reached = threading.Event(), threading.Event()
    real_read = stream.read

    def read(n: int = -1) -> bytes:
        if stream.position >= part + 1:
            reached.set()
            gate.wait(30)
        return real_read(n)

    stream.read = read  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def put() -> None:
        try:
            store.put("imported/slow-1-abcd.onnx", stream)
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=put)
    writer.start()
    try:
        assert reached.wait(30)
        deadline = time.monotonic() + 10
        uploads = store.list_incomplete()
        while not uploads and time.monotonic() < deadline:  # the first part in flight
            time.sleep(0.05)
            uploads = store.list_incomplete()
        [upload] = uploads
        assert upload.key == "imported/slow-1-abcd.onnx"
        assert abs((dt.datetime.now(UTC) - upload.started).total_seconds()) < 60
        assert list(store.list()) == []
    finally:
        gate.set()
        writer.join()
    assert errors == []
    assert store.list_incomplete() == []
    store.abort_incomplete(upload)  # completed meanwhile: nothing happens
    assert store.exists("imported/slow-1-abcd.onnx")
