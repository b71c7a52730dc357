"""Migrations numbered apart by parallel branches run whatever order the database saw them
in, and the audit's signer column reaches registries made before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from heimdall_io.storage import migrations, sql
from heimdall_io.storage.base import AuditEntry
from heimdall_io.storage.sqlite import SqliteRegistry

from .test_contract import make_record


def m(version: int) -> migrations.Migration:
    return migrations.Migration(version, f"m{version}", "")


def test_a_lower_version_that_never_ran_still_runs() -> None:
    known = [m(1), m(2), m(3)]
    assert sql.pending_migrations(known, {1, 3}) == [m(2)]
    assert sql.pending_migrations(known, {1}) == [m(2), m(3)]
    assert sql.pending_migrations(known, {1, 2, 3}) == []


def test_sqlite_runs_a_migration_numbered_below_one_already_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = {x.name: x for x in migrations.load("sqlite")}
    first, signer = real["initial"], real["audit_signer"]
    late = migrations.Migration(2, "from_another_branch", "CREATE TABLE late_arrival (x TEXT);")
    path = tmp_path / "r.db"
    monkeypatch.setattr(migrations, "load", lambda dialect: [first, signer])
    SqliteRegistry(path).close()  # this branch's migrations ran: 0001, 0003
    monkeypatch.setattr(migrations, "load", lambda dialect: [first, late, signer])
    with SqliteRegistry(path) as registry:  # merged with a branch that added 0002
        registry.ping()
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        versions = [r[0] for r in conn.execute("SELECT version FROM heimdall_schema_migrations")]
    finally:
        conn.close()
    assert "late_arrival" in names
    assert sorted(versions) == [1, 2, 3]


def test_an_old_registry_gains_the_signer_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    first = migrations.load("sqlite")[0]
    conn.executescript(first.sql)
    conn.execute(
        "CREATE TABLE heimdall_schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
    )
    conn.execute("INSERT INTO heimdall_schema_migrations VALUES (1, '2025-01-01')")
    conn.execute(
        "INSERT INTO audit_log (at, action, result) VALUES ('2025-01-01T00:00:00+00:00', 'x', 'ok')"
    )
    conn.commit()
    conn.close()
    with SqliteRegistry(path) as registry:
        record = make_record()
        registry.add(
            record,
            AuditEntry(action="import", result="ok", model_id=record.model_id,
                       signer_key_id="0807060504030201"),
        )  # fmt: skip
        entries = registry.audit()
    assert [e.signer_key_id for e in entries] == ["0807060504030201", None]
