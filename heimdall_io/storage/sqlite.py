"""The embedded registry: one SQLite file (stdlib ``sqlite3``, WAL mode).

One connection per :class:`SqliteRegistry`, shared by the threads of the process behind a
lock; other processes may open the same file at the same time (WAL readers never block,
writers wait up to ``timeout`` seconds for each other). The schema is created and
upgraded by the versioned files ``migrations/sqlite_NNNN_*.sql``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from heimdall_io.errors import (
    LeaseLostError,
    NotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from heimdall_io.storage import migrations, sql
from heimdall_io.storage.base import (
    AUDIT_COLUMNS,
    MODEL_COLUMNS,
    AuditEntry,
    Closable,
    Lease,
    ModelRecord,
    utcnow,
)
from heimdall_io.storage.private import make_private_dirs, make_private_file

__all__ = ["SqliteRegistry"]

_JSON_COLUMNS = frozenset(
    {"input_shape", "output_shape", "training_metrics", "extra", "external_data"}
)
_TIME_COLUMNS = frozenset({"created_at", "updated_at", "at"})
_UUID_COLUMNS = frozenset({"model_id", "source_model_id"})

_INSERT_MODEL = sql.insert_statement("models", MODEL_COLUMNS, lambda _: "?")
_INSERT_AUDIT = sql.insert_statement("audit_log", AUDIT_COLUMNS, lambda _: "?")

_json_encoder = msgspec.json.Encoder()


def _time_text(value: dt.datetime) -> str:
    """ISO-8601 in UTC with microseconds, so that text order is time order."""
    return sql.as_utc(value).isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> dt.datetime:
    return sql.as_utc(None if text is None else dt.datetime.fromisoformat(text))


def _to_column(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _UUID_COLUMNS:
        return str(value)  # canonical lowercase text: what lookups compare against
    if name in _JSON_COLUMNS:
        return _json_encoder.encode(value).decode()
    if name in _TIME_COLUMNS:
        return _time_text(value)
    return value


def _from_column(name: str, value: Any) -> Any:
    if name in _TIME_COLUMNS:
        return _parse_time(value)
    if value is None:
        return None
    if name in _JSON_COLUMNS:
        return msgspec.json.decode(value)
    return value


def _split_statements(script: str) -> list[str]:
    """The statements of a migration file (``--`` comment lines dropped)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RegistryError(f"incomplete SQL statement in migration: {buffer.strip()[:60]!r}")
    return statements


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations the file lacks (RegistryError if it is newer than this code)."""
    known = migrations.load("sqlite")
    if not sql.pending_migrations(known, _applied(conn)):
        return  # up to date: no need for the write lock
    conn.execute("BEGIN IMMEDIATE")  # one process migrates, the others wait
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS heimdall_schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for migration in sql.pending_migrations(known, _applied(conn)):
            for statement in _split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO heimdall_schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, _time_text(utcnow())),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _applied(conn: sqlite3.Connection) -> set[int]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'heimdall_schema_migrations'"
    ).fetchone()
    if exists is None:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM heimdall_schema_migrations")}


def _model_row(record: ModelRecord) -> tuple[Any, ...]:
    values = sql.model_values(record)
    return tuple(_to_column(name, values[name]) for name in MODEL_COLUMNS)


def _audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    values = sql.audit_values(entry)
    return tuple(_to_column(name, values[name]) for name in AUDIT_COLUMNS)


def _record(row: tuple[Any, ...]) -> ModelRecord:
    fields = {
        name: _from_column(name, value) for name, value in zip(MODEL_COLUMNS, row, strict=True)
    }
    return ModelRecord(**fields)


def _audit_entry(row: tuple[Any, ...]) -> AuditEntry:
    fields = {
        name: _from_column(name, value)
        for name, value in zip(("id", *AUDIT_COLUMNS), row, strict=True)
    }
    return AuditEntry(**fields)


def _expiry(seconds: float) -> str:
    return _time_text(utcnow() + dt.timedelta(seconds=sql.check_lease_seconds(seconds)))


class _Leases:
    """The import leases of :class:`SqliteRegistry` (this process's clock decides expiry:
    every process sharing the file runs on this machine)."""

    _read: Any
    _write: Any

    def acquire_lease(self, key: str, owner: str, seconds: float) -> None:
        expires = _expiry(seconds)
        with self._write() as conn:
            try:
                conn.execute("INSERT INTO import_leases VALUES (?, ?, ?)", (key, owner, expires))
            except sqlite3.IntegrityError as exc:
                raise RegistryError(f"object key is leased already: {key}") from exc

    def renew_lease(self, key: str, owner: str, seconds: float) -> bool:
        expires = _expiry(seconds)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE import_leases SET expires_at = ? WHERE object_key = ? AND owner = ?",
                (expires, key, owner),
            )
            return cur.rowcount == 1

    def release_lease(self, key: str, owner: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM import_leases WHERE object_key = ? AND owner = ?", (key, owner)
            )

    def leases(self) -> list[Lease]:
        now = _time_text(utcnow())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT object_key, owner, expires_at FROM import_leases ORDER BY object_key"
            ).fetchall()
        return [
            Lease(object_key=k, owner=o, expires_at=_parse_time(e), expired=e <= now)
            for k, o, e in rows
        ]

    def claim_expired_leases(self) -> list[str]:
        now = _time_text(utcnow())
        with self._write() as conn:  # one write transaction: nobody renews in between
            keys = [row[0] for row in conn.execute(
                "SELECT object_key FROM import_leases WHERE expires_at <= ?", (now,)
            )]  # fmt: skip
            conn.execute("DELETE FROM import_leases WHERE expires_at <= ?", (now,))
        return keys


class SqliteRegistry(_Leases, Closable):
    """A :class:`~heimdall_io.storage.base.Registry` in one SQLite file.

    ``path`` is created (with its parent directories) when missing; ``":memory:"`` gives a
    private in-memory registry. ``timeout`` is how long a writer waits for another
    process's write transaction before failing with RegistryUnavailableError. A new file
    (and its -wal/-shm files, which SQLite creates with the file's mode) is 0600, new
    directories 0700.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._memory = self.path == ":memory:"
        if self._memory:
            self.url = "sqlite::memory:"
        else:
            self.path = os.path.abspath(os.path.expanduser(self.path))
            self.url = "sqlite://" + Path(self.path).as_posix()
        self._timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        with self._errors():
            self._conn = self._connect()

    # -- connection, transactions, errors ------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if not self._memory:
            try:
                make_private_dirs(Path(self.path).parent)
            except OSError as exc:
                raise RegistryError(
                    f"cannot create the registry directory: {self.url}: {exc.strerror or exc}"
                ) from exc
            try:
                make_private_file(self.path)  # before sqlite3 creates it 0644
            except OSError as exc:
                raise RegistryError(
                    f"cannot create the registry: {self.url}: {exc.strerror or exc}"
                ) from exc
        conn = sqlite3.connect(
            self.path,
            timeout=self._timeout,
            isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # shared by the threads, behind self._lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            if not self._memory:
                conn.execute("PRAGMA journal_mode = WAL").fetchall()
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):  # another writer, past the timeout
                raise RegistryUnavailableError(f"registry busy: {self.url}: {exc}") from exc
            raise RegistryError(f"registry error: {self.url}: {exc}") from exc
        except sqlite3.Error as exc:
            raise RegistryError(f"registry error: {self.url}: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._connection()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so no deadlock upgrading a read lock)."""
        with self._lock, self._errors():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RegistryError(f"registry is closed: {self.url}")
        return self._conn

    # -- Registry ------------------------------------------------------------------

    def add(
        self,
        record: ModelRecord,
        audit: AuditEntry | None = None,
        *,
        lease_owner: str | None = None,
    ) -> None:
        values = _model_row(record)
        audit_row = None if audit is None else _audit_row(audit)
        with self._write() as conn:
            if lease_owner is not None:
                taken = conn.execute(
                    "DELETE FROM import_leases WHERE owner = ?", (lease_owner,)
                ).rowcount
                if taken != 1:
                    raise LeaseLostError(sql.lease_lost_message(record.onnx_path))
            try:
                conn.execute(_INSERT_MODEL, values)
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise RegistryError(f"Model {values[0]} already exists") from exc
                raise
            if audit_row is not None:
                conn.execute(_INSERT_AUDIT, audit_row)

    def get(self, model_id: str) -> ModelRecord:
        key = str(sql.lookup_uuid(model_id))
        with self._read() as conn:
            row = conn.execute(f"{sql.SELECT_MODEL} WHERE model_id = ?", (key,)).fetchone()
        if row is None:
            raise NotFoundError(f"Model {model_id} not found")
        return _record(row)

    def list(self, limit: int | None = None, offset: int = 0) -> list[ModelRecord]:
        sql.check_page(limit, offset)
        with self._read() as conn:
            rows = conn.execute(
                f"{sql.SELECT_MODEL} ORDER BY created_at DESC, model_id LIMIT ? OFFSET ?",
                (-1 if limit is None else limit, offset),
            ).fetchall()
        return [_record(row) for row in rows]

    def delete(self, model_id: str, audit: AuditEntry | None = None) -> ModelRecord:
        key = str(sql.lookup_uuid(model_id))
        audit_row = None if audit is None else _audit_row(audit)
        with self._write() as conn:
            row = conn.execute(f"{sql.SELECT_MODEL} WHERE model_id = ?", (key,)).fetchone()
            if row is None:
                raise NotFoundError(f"Model {model_id} not found")
            conn.execute("DELETE FROM models WHERE model_id = ?", (key,))
            if audit_row is not None:
                conn.execute(_INSERT_AUDIT, audit_row)
        return _record(row)

    def referenced_keys(self) -> set[str]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT onnx_path, external_data FROM models"
                " WHERE onnx_path IS NOT NULL OR external_data IS NOT NULL"
            ).fetchall()
        return sql.keys_of((path, _from_column("external_data", files)) for path, files in rows)

    def append_audit(self, entry: AuditEntry) -> None:
        values = _audit_row(entry)
        with self._write() as conn:
            conn.execute(_INSERT_AUDIT, values)

    def audit(self, limit: int | None = None) -> builtins.list[AuditEntry]:
        sql.check_audit_limit(limit)
        with self._read() as conn:
            rows = conn.execute(
                f"{sql.SELECT_AUDIT} ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,)
            ).fetchall()
        return [_audit_entry(row) for row in rows]

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __repr__(self) -> str:
        return f"SqliteRegistry({self.path!r})"
