"""SQLite-specific behaviour of SqliteRegistry (the contract is in test_contract.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from heimdall_io.errors import RegistryError, RegistryUnavailableError
from heimdall_io.storage import migrations
from heimdall_io.storage.base import AuditEntry, ModelRecord
from heimdall_io.storage.sqlite import SqliteRegistry

from .test_contract import full_record, make_record

#: Every migration this version knows, as the table records them.
KNOWN = [(m.version,) for m in migrations.load("sqlite")]


def write_registry(path: Path, record: ModelRecord) -> None:
    """Create (or open) the registry file at ``path`` and add ``record`` to it."""
    with SqliteRegistry(path) as registry:
        registry.add(record)


def test_file_is_in_wal_mode_with_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "registry.sqlite3"
    with SqliteRegistry(path) as registry:
        assert registry.url == f"sqlite://{path}"
        registry.add(make_record())
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        versions = conn.execute("SELECT version FROM heimdall_schema_migrations").fetchall()
        assert versions == KNOWN  # every migration, once
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"models", "audit_log", "import_leases", "heimdall_schema_migrations"} <= tables
        columns = [r[1] for r in conn.execute("PRAGMA table_info(models)")]
        assert columns[:14] == [
            "model_id",
            "model_name",
            "version",
            "status",
            "architecture",
            "framework",
            "onnx_path",
            "onnx_opset",
            "input_shape",
            "output_shape",
            "parameters_count",
            "training_metrics",
            "created_at",
            "updated_at",
        ]


def test_stored_as_json_text_and_iso_utc(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    record = full_record()
    write_registry(path, record)
    with closing(sqlite3.connect(path)) as conn:
        row = conn.execute(
            "SELECT input_shape, training_metrics, created_at, updated_at FROM models"
        ).fetchone()
    assert row[0] == "[-1,3,224,224]"
    assert row[1].startswith('{"training_config":')
    assert row[2] == "2024-05-01T12:30:15.123456+00:00"
    assert row[3] == "2024-05-02T06:00:00.000001+00:00"  # converted to UTC


def test_open_twice_applies_migrations_once(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    first = SqliteRegistry(path)
    second = SqliteRegistry(path)  # concurrently open, same process
    record = make_record()
    first.add(record)
    assert second.get(record.model_id) == record
    first.close()
    second.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM heimdall_schema_migrations").fetchone() == (
            len(KNOWN),
        )


def test_upgrades_a_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    record = make_record()
    write_registry(path, record)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE import_leases")  # as the previous release left it
    conn.execute("DELETE FROM heimdall_schema_migrations WHERE version = 2")
    conn.close()
    with SqliteRegistry(path) as registry:
        assert registry.get(record.model_id) == record
        registry.acquire_lease("imported/a.onnx", "me", 60)
        assert [lease.object_key for lease in registry.leases()] == ["imported/a.onnx"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteRegistry(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO heimdall_schema_migrations VALUES (999, 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(RegistryError, match="newer than this heimdall-io"):
        SqliteRegistry(path)


def test_not_a_database_is_a_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match=r"^registry error: sqlite://.*garbage\.db: "):
        SqliteRegistry(path)


def test_unwritable_location_is_a_registry_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RegistryError):
        SqliteRegistry(blocker / "sub" / "r.db")


def test_in_memory_registry() -> None:
    with SqliteRegistry(":memory:") as registry:
        assert registry.url == "sqlite::memory:"
        registry.add(make_record(), AuditEntry(action="register", result="ok"))
        assert len(registry.list()) == 1


def test_several_processes_write_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    script = textwrap.dedent(
        f"""
        import sys, uuid
        from heimdall_io.storage.sqlite import SqliteRegistry
        from heimdall_io.storage.base import ModelRecord, AuditEntry
        registry = SqliteRegistry({str(path)!r})
        for i in range(30):
            mid = str(uuid.uuid4())
            registry.add(
                ModelRecord(model_id=mid, model_name=sys.argv[1], version=i),
                AuditEntry(action="register", result="ok", model_id=mid),
            )
        registry.close()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, f"p{n}"], stderr=subprocess.PIPE)
        for n in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with SqliteRegistry(path) as registry:
        records = registry.list()
        assert len(records) == 90
        assert {r.model_name for r in records} == {"p0", "p1", "p2"}
        assert len(registry.audit()) == 90


def test_busy_database_times_out_as_registry_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    SqliteRegistry(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with SqliteRegistry(path, timeout=0.2) as registry:
            registry.list()  # readers are not blocked (WAL)
            with pytest.raises(RegistryError, match="locked"):
                registry.add(make_record())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_busy_file_is_registry_unavailable(tmp_path: Path) -> None:
    """Another process holding the write lock past the timeout: RegistryUnavailableError
    (HTTP 503), not a hang; the registry works once the lock is gone."""
    path = tmp_path / "r.db"
    with SqliteRegistry(path, timeout=0.3) as registry:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(RegistryUnavailableError, match="registry busy: sqlite://"):
                registry.add(make_record())
            assert time.monotonic() - started < 3
        finally:
            other.execute("ROLLBACK")
            other.close()
        registry.add(make_record())
        assert len(registry.list()) == 1
