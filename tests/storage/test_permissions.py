"""Nothing heimdall-io creates is readable by other users (issue 8, item 13):
$HEIMDALL_HOME and the store's directories 0700; the registry, its -wal/-shm and the
objects 0600, whatever the umask."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from heimdall_io.storage.config import open_adapters
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.sqlite import SqliteRegistry

from .test_contract import make_record


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: whatever is private is so by heimdall-io's doing, not the umask's."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_default_home_is_private(heimdall_env: Path, permissive_umask: None) -> None:
    registry, store = open_adapters()
    try:
        record = make_record(onnx_path="imported/a-1-abcd.onnx")
        registry.add(record)
        store.put("imported/a-1-abcd.onnx", io.BytesIO(b"onnx"))
        home = heimdall_env
        files = {
            "registry.sqlite3": home / "registry.sqlite3",
            "-wal": home / "registry.sqlite3-wal",
            "-shm": home / "registry.sqlite3-shm",
            "object": home / "objects" / "imported" / "a-1-abcd.onnx",
        }
        dirs = {"home": home, "objects": home / "objects", "imported": home / "objects/imported"}
        assert {name: oct(mode(p)) for name, p in files.items()} == {
            name: "0o600" for name in files
        }
        assert {name: oct(mode(p)) for name, p in dirs.items()} == {name: "0o700" for name in dirs}
    finally:
        registry.close()
        store.close()


def test_nested_paths_are_private_at_every_level(tmp_path: Path, permissive_umask: None) -> None:
    with SqliteRegistry(tmp_path / "a" / "b" / "r.db") as registry:
        registry.add(make_record())
    store = LocalObjectStore(tmp_path / "x" / "y")
    store.put("deep/er/k.onnx", io.BytesIO(b"1"))
    for path in ("a", "a/b", "x", "x/y", "x/y/deep", "x/y/deep/er"):
        assert mode(tmp_path / path) == 0o700, path
    assert mode(tmp_path / "a" / "b" / "r.db") == 0o600
    assert mode(tmp_path / "x" / "y" / "deep" / "er" / "k.onnx") == 0o600


def test_existing_directories_and_files_keep_their_mode(tmp_path: Path) -> None:
    """An operator who shares a directory or a registry with a group on purpose keeps it."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)
    db = shared / "r.db"
    with SqliteRegistry(db):
        pass
    os.chmod(db, 0o640)
    with SqliteRegistry(db) as registry:
        registry.add(make_record())
    assert mode(shared) == 0o750 and mode(db) == 0o640
