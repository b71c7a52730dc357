"""LocalObjectStore specifics: temporary files, atomicity, confinement, memory."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from heimdall_io.errors import NotFoundError, ObjectStoreError
from heimdall_io.storage.keys import TEMP_PREFIX, check_key
from heimdall_io.storage.localdir import LocalObjectStore
from tests.support.streams import MiB, PatternStream, expected_sha256, peak_of_round_trip, sha256_of


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_and_url(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    assert store.url == (tmp_path / "objects").as_uri()
    store.put("imported/name-1-abcd.onnx", PatternStream(100))
    assert all_files(tmp_path / "objects") == ["imported/name-1-abcd.onnx"]
    assert (tmp_path / "objects" / "imported" / "name-1-abcd.onnx").stat().st_size == 100


def test_failed_put_removes_its_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    error = ValueError("boom")
    with pytest.raises(ValueError) as excinfo:
        store.put("a/b.onnx", PatternStream(10 * MiB, fail_at=5 * MiB, fail_with=error))
    assert excinfo.value is error
    assert all_files(root) == []


def test_temporary_files_are_not_listed(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    seen: list[list[str]] = []

    class Watching(PatternStream):
        def read(self, n: int = -1) -> bytes:
            if self.position == 2 * MiB and not seen:  # mid-upload: look at the store
                seen.append([i.key for i in store.list()])
                seen.append(all_files(root))
            return super().read(n)

    store.put("a/b.onnx", Watching(6 * MiB))
    listed, on_disk = seen
    assert listed == []
    assert len(on_disk) == 1 and on_disk[0].startswith(f"a/{TEMP_PREFIX}")
    assert [i.key for i in store.list()] == ["a/b.onnx"]
    assert all_files(root) == ["a/b.onnx"]


def test_reserved_temporary_names_are_rejected() -> None:
    with pytest.raises(ObjectStoreError):
        check_key(f"a/{TEMP_PREFIX}x")
    assert check_key("a/.hidden.onnx") == "a/.hidden.onnx"
    assert check_key("ünïcode/model 1.onnx") == "ünïcode/model 1.onnx"


def test_symlink_escape_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.onnx").write_bytes(b"secret")
    store = LocalObjectStore(root)
    os.symlink(outside, root / "link")
    with pytest.raises(ObjectStoreError, match="outside the store"):
        store.open("link/secret.onnx")
    with pytest.raises(ObjectStoreError, match="outside the store"):
        store.put("link/new.onnx", PatternStream(10))
    assert not (outside / "new.onnx").exists()


def test_concurrent_puts_of_one_key_write_it_once(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    results: list[str] = []
    barrier = threading.Barrier(4)

    def put(seed: int) -> None:
        barrier.wait()
        try:
            store.put("a/contended.onnx", PatternStream(3 * MiB, seed=seed))
            results.append(f"ok:{seed}")
        except ObjectStoreError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=put, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.startswith("ok:")]
    assert len(winners) == 1
    assert results.count("object exists: a/contended.onnx") == 3
    with store.open("a/contended.onnx") as stream:
        assert sha256_of(stream)[0] == expected_sha256(3 * MiB, seed=int(winners[0][3:]))
    assert all_files(tmp_path / "objects") == ["a/contended.onnx"]


def test_open_a_directory_is_not_found(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    store.put("a/b.onnx", PatternStream(1))
    with pytest.raises(NotFoundError):
        store.open("a")


def test_ping_and_unusable_root(tmp_path: Path) -> None:
    LocalObjectStore(tmp_path / "objects").ping()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ObjectStoreError, match="cannot create the store directory"):
        LocalObjectStore(blocker / "objects")


def test_memory_stays_flat_for_a_large_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    peak = peak_of_round_trip(store, "big.onnx", 64 * MiB)
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
