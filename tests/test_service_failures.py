"""All or nothing: a store or database going down, or the process dying, mid-import."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from heimdall_io.errors import RegistryError, StorageError
from heimdall_io.service import Service
from heimdall_io.storage.localdir import LocalObjectStore
from heimdall_io.storage.postgres import PostgresRegistry
from heimdall_io.storage.sqlite import SqliteRegistry
from tests.support.synthetic import synthetic_model_bytes


class TriggerAfter(io.RawIOBase):
    """Reads a bundle and calls ``action`` once ``at`` bytes have been read."""

    def __init__(self, data: bytes, at: int, action: Any) -> None:
        self._src = io.BytesIO(data)
        self._at, self._action, self._fired = at, action, False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if not self._fired and self._src.tell() >= self._at:
            self._fired = True
            self._action()
        return self._src.read(min(n, 1 << 16) if n and n > 0 else 1 << 16)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    store = LocalObjectStore(tmp_path_factory.mktemp("store"))
    service = Service(SqliteRegistry(":memory:"), store, actor="test")
    record = service.register(io.BytesIO(synthetic_model_bytes(16 << 20)), name="victim")
    return b"".join(service.export_stream(record.model_id))


def test_store_down_mid_import(bundle: bytes, seaweedfs_private: Any, tmp_path: Path) -> None:
    registry = SqliteRegistry(tmp_path / "r.db")
    service = Service(registry, seaweedfs_private.store("heimdall-models"), actor="test")
    src = TriggerAfter(bundle, len(bundle) // 2, seaweedfs_private.kill)
    started = time.monotonic()
    with pytest.raises(StorageError):
        service.import_bundle(src, validate=False)
    assert time.monotonic() - started < 60
    assert registry.list() == []
    assert registry.audit()[0].result == "error"


def test_database_down_mid_import(bundle: bytes, pg_url: str, tmp_path: Path) -> None:
    registry = PostgresRegistry(pg_url)
    store = LocalObjectStore(tmp_path / "objects")
    service = Service(registry, store, actor="test")
    name = pg_url.rsplit("/", 1)[1]
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"

    def database_down() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )

    src = TriggerAfter(bundle, len(bundle) // 2, database_down)
    try:
        with pytest.raises(RegistryError):
            service.import_bundle(src, validate=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert list(store.list("")) == []
    registry.close()
    with PostgresRegistry(pg_url) as fresh:
        assert fresh.list() == []


def test_cli_batch_import(bundle: bytes, heimdall_env: Path, tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        p = tmp_path / f"b{i}.heimdall"
        p.write_bytes(bundle)
        paths.append(str(p))
    bad = tmp_path / "bad.heimdall"
    bad.write_bytes(bundle[:1000])
    run = [sys.executable, "-m", "heimdall_io"]
    out = subprocess.run([*run, "import", *paths, "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len({line["model_id"] for line in lines}) == 3
    out = subprocess.run(
        [*run, "import", paths[0], str(bad), "--json"], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert len(out.stdout.splitlines()) == 1
    assert out.stderr.count("\n") == 1 and "bad.heimdall" in out.stderr
    assert "Traceback" not in out.stderr
    listed = subprocess.run([*run, "list", "--json"], capture_output=True, text=True)
    assert len(json.loads(listed.stdout)) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "00000000-0000-0000-0000-000000000000", "-o", "x.heimdall"],
         "Model 00000000-0000-0000-0000-000000000000 not found"),
        (["show", "not-a-uuid"], "Model not-a-uuid not found"),
        (["import", "missing.heimdall"], "Bundle file not found: missing.heimdall"),
        (["delete", "00000000-0000-0000-0000-000000000001"],
         "Model 00000000-0000-0000-0000-000000000001 not found"),
    ],
)  # fmt: skip
def test_cli_errors(args: list[str], message: str, heimdall_env: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "heimdall_io", *args], capture_output=True, text=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr == f"Error: {message}\n"
    assert not (tmp_path / "x.heimdall").exists()


def test_permission_denied_message() -> None:
    # Root (CI) reads every file, so the mapping is checked directly.
    from heimdall_cli.errors import message_for

    err = PermissionError(13, "Permission denied", "/srv/locked.heimdall")
    assert message_for(err) == "Permission denied: /srv/locked.heimdall"


def test_gc_keeps_young_orphans(heimdall_env: Path) -> None:
    with Service.from_config() as service:
        service.store.put("imported/young-1-abc.onnx", io.BytesIO(b"x"))
        assert service.gc().removed == []
        removed = service.gc(min_age=dt.timedelta(0)).removed
        assert [o.key for o in removed] == ["imported/young-1-abc.onnx"]
