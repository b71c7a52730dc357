"""The PostgreSQL registry (psycopg 3), compatible with a Heimdall database.

The ``models`` table is the seed's, plus this project's columns (added with ``ALTER TABLE
... ADD COLUMN IF NOT EXISTS`` when a Heimdall database already has the table); the
``audit_log`` table is this project's. Migrations (``migrations/postgres_NNNN_*.sql``) run
on first use, in one transaction holding an advisory lock, so processes starting together
do not race.

A pool of connections per :class:`PostgresRegistry` (psycopg_pool), shared by the
process's threads, every operation in its own explicit transaction on a connection the
pool has checked. Each connection has a ``statement_timeout`` and a ``lock_timeout``
(:mod:`~heimdall_io.storage.dbsettings`: the URL's query, the environment, the defaults), so
a database that does not answer in time (no free connection, a statement or lock wait too
long, the connection lost) fails with :class:`RegistryUnavailableError` instead of hanging.
Every psycopg error becomes a one-line :class:`RegistryError` naming the server (never the
password).
"""

from __future__ import annotations

import builtins
import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb, set_json_loads

from heimdall_io.errors import (
    CommitUnknownError,
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
)
from heimdall_io.storage.dbsettings import DatabaseSettings, split_database_url

__all__ = ["PostgresRegistry", "redact_url"]

#: Key of the advisory lock serialising migrations ("heimdall" in ASCII).
MIGRATION_LOCK_KEY = 0x68_65_69_6D_64_61_6C_6C
#: Longest :meth:`PostgresRegistry.ping` waits for a connection, then for the answer.
PING_TIMEOUT = 5.0
#: A lease's expiry, by the database's clock: the one clock every replica shares.
_EXPIRY = "clock_timestamp() + %s * interval '1 second'"

# Placeholders with explicit casts, so the parameter types never depend on Python's.
_MODEL_CASTS = {
    "model_id": "%s::uuid",
    "input_shape": "%s::integer[]",
    "output_shape": "%s::integer[]",
    "training_metrics": "%s::jsonb",
    "extra": "%s::jsonb",
    "created_at": "%s::timestamptz",
    "updated_at": "%s::timestamptz",
    "source_model_id": "%s::uuid",
}
_AUDIT_CASTS = {"at": "%s::timestamptz", "model_id": "%s::uuid", "source_model_id": "%s::uuid"}

_INSERT_MODEL = sql.insert_statement("models", MODEL_COLUMNS, lambda c: _MODEL_CASTS.get(c, "%s"))
_INSERT_AUDIT = sql.insert_statement(
    "audit_log", AUDIT_COLUMNS, lambda c: _AUDIT_CASTS.get(c, "%s")
)

_json_encoder = msgspec.json.Encoder()


def _dumps(obj: Any) -> str:
    return _json_encoder.encode(obj).decode()


def redact_url(url: str) -> str:
    """``url`` without its password and query: ``postgresql://user@host:port/db``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))
    except ValueError:
        return "<malformed database URL>"


def _describe(exc: BaseException) -> str:
    """A one-line reason from a psycopg error message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if text.startswith("connection failed:") and "failed: " in text[len("connection failed:") :]:
        text = text.rsplit("failed: ", 1)[1]
    for prefix in ("FATAL:", "ERROR:", "consuming input failed:", "sending query failed:"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=sql.UTC)
    return value


def _text_uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def _migrate(conn: psycopg.Connection[Any]) -> None:
    """Apply the migrations the database lacks (RegistryError if it is newer than this code)."""
    known = migrations.load("postgres")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS heimdall_schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
        )
        cur.execute("SELECT version FROM heimdall_schema_migrations")
        applied = {row[0] for row in cur.fetchall()}
        for migration in sql.pending_migrations(known, applied):
            cur.execute(migration.sql.encode())  # several statements, no parameters
            cur.execute(
                "INSERT INTO heimdall_schema_migrations (version) VALUES (%s)",
                (migration.version,),
            )


def _model_row(record: ModelRecord) -> tuple[Any, ...]:
    values = sql.model_values(record)
    for name in ("training_metrics", "extra", "external_data"):
        if values[name] is not None:
            values[name] = Jsonb(values[name], dumps=_dumps)
    for name in ("created_at", "updated_at"):
        values[name] = _aware(values[name])
    for name in ("input_shape", "output_shape"):
        if values[name] is not None:
            values[name] = [int(v) for v in values[name]]
    return tuple(values[name] for name in MODEL_COLUMNS)


def _audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    values = sql.audit_values(entry)
    values["at"] = _aware(entry.at)
    return tuple(values[name] for name in AUDIT_COLUMNS)


def _record(row: tuple[Any, ...]) -> ModelRecord:
    fields = dict(zip(MODEL_COLUMNS, row, strict=True))
    fields["model_id"] = _text_uuid(fields["model_id"])
    fields["source_model_id"] = _text_uuid(fields["source_model_id"])
    fields["version"] = int(fields["version"])
    fields["created_at"] = sql.as_utc(fields["created_at"])
    fields["updated_at"] = sql.as_utc(fields["updated_at"])
    return ModelRecord(**fields)


def _audit_entry(row: tuple[Any, ...]) -> AuditEntry:
    fields = dict(zip(("id", *AUDIT_COLUMNS), row, strict=True))
    fields["model_id"] = _text_uuid(fields["model_id"])
    fields["source_model_id"] = _text_uuid(fields["source_model_id"])
    fields["at"] = sql.as_utc(fields["at"])
    return AuditEntry(**fields)


class _Leases:
    """The import leases of :class:`PostgresRegistry`."""

    _transaction: Any

    def acquire_lease(self, key: str, owner: str, seconds: float) -> None:
        seconds = sql.check_lease_seconds(seconds)
        with self._transaction() as cur:
            try:
                cur.execute(
                    f"INSERT INTO import_leases (object_key, owner, expires_at) "
                    f"VALUES (%s, %s, {_EXPIRY})",
                    (key, owner, seconds),
                )
            except pg_errors.UniqueViolation as exc:
                raise RegistryError(f"object key is leased already: {key}") from exc

    def renew_lease(self, key: str, owner: str, seconds: float) -> bool:
        seconds = sql.check_lease_seconds(seconds)
        with self._transaction() as cur:
            cur.execute(
                f"UPDATE import_leases SET expires_at = {_EXPIRY} "
                "WHERE object_key = %s AND owner = %s",
                (seconds, key, owner),
            )
            return bool(cur.rowcount == 1)

    def release_lease(self, key: str, owner: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                "DELETE FROM import_leases WHERE object_key = %s AND owner = %s", (key, owner)
            )

    def leases(self) -> list[Lease]:
        with self._transaction() as cur:
            cur.execute(
                "SELECT object_key, owner, expires_at, expires_at <= clock_timestamp() "
                "FROM import_leases ORDER BY object_key"
            )
            rows = cur.fetchall()
        return [
            Lease(object_key=k, owner=o, expires_at=sql.as_utc(e), expired=bool(x))
            for k, o, e, x in rows
        ]

    def claim_expired_leases(self) -> list[str]:
        with self._transaction() as cur:
            cur.execute(
                "DELETE FROM import_leases WHERE expires_at <= clock_timestamp() "
                "RETURNING object_key"
            )
            return [row[0] for row in cur.fetchall()]


class PostgresRegistry(_Leases, Closable):
    """A :class:`~heimdall_io.storage.base.Registry` in a PostgreSQL database.

    Nothing is opened until the first operation, which applies the migrations on a
    connection of its own, then opens the pool. ``settings`` default to the URL's query,
    the environment and the defaults (:func:`~heimdall_io.storage.dbsettings.split_database_url`).
    """

    def __init__(
        self, url: str, *, connect_timeout: int = 5, settings: DatabaseSettings | None = None
    ) -> None:
        self._dsn, url_settings = split_database_url(url)
        self.settings = settings or url_settings
        self.url = redact_url(url)
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._closed = False

    # -- connections, transactions, errors -----------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        return {"connect_timeout": self._connect_timeout, "application_name": "heimdall-io"}

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Every new connection: JSON decoding, the timeouts (session settings)."""
        set_json_loads(msgspec.json.decode, conn)
        ms = DatabaseSettings.milliseconds
        with conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('lock_timeout', %s, false)",
                (str(ms(self.settings.statement_timeout)), str(ms(self.settings.lock_timeout))),
            )
        if not conn.autocommit:
            conn.commit()

    def _open_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._lock:
            if self._closed:
                raise RegistryError(f"registry is closed: {self.url}")
            if self._pool is not None:
                return self._pool
            # Migrate first, on a connection of its own: a database that cannot be reached
            # fails here at once, with libpq's reason (a pool would only time out).
            with psycopg.connect(self._dsn, autocommit=False, **self._connect_kwargs()) as conn:
                self._configure(conn)
                _migrate(conn)
            pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                self._dsn,
                kwargs={"autocommit": True, **self._connect_kwargs()},
                min_size=1,
                max_size=self.settings.pool_size,
                timeout=self.settings.pool_timeout,
                configure=self._configure,
                check=psycopg_pool.ConnectionPool.check_connection,  # replace dropped ones
                name="heimdall-io",
                open=False,
            )
            pool.open(wait=False)
            self._pool = pool
            return pool

    @contextmanager
    def _transaction(self, timeout: float | None = None) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor inside one transaction, committed on success, rolled back on error;
        RegistryUnavailableError if no connection is free within ``timeout`` seconds (the
        pool timeout by default), or the database cancels a statement for a timeout."""
        wait = self.settings.pool_timeout if timeout is None else timeout
        committing = False
        try:
            pool = self._open_pool()
            with pool.connection(timeout=wait) as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
                committing = True  # what fails from here on fails during COMMIT
        except psycopg_pool.PoolTimeout as exc:  # (these are OperationalErrors too)
            raise RegistryUnavailableError(
                f"database unavailable: {self.url}: no connection within {wait:g} s"
            ) from exc
        except psycopg_pool.PoolClosed as exc:
            raise RegistryError(f"registry is closed: {self.url}") from exc
        except psycopg.OperationalError as exc:
            if committing and (conn.broken or conn.closed):
                raise CommitUnknownError(
                    f"database unavailable: {self.url}: {_describe(exc)} "
                    "(while committing: the change may have been made)"
                ) from exc
            raise RegistryUnavailableError(  # lost connection, statement/lock timeout
                f"database unavailable: {self.url}: {_describe(exc)}"
            ) from exc
        except psycopg.Error as exc:
            raise RegistryError(f"registry error: {self.url}: {_describe(exc)}") from exc

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
        with self._transaction() as cur:
            if lease_owner is not None:
                cur.execute("DELETE FROM import_leases WHERE owner = %s", (lease_owner,))
                if cur.rowcount != 1:
                    raise LeaseLostError(sql.lease_lost_message(record.onnx_path))
            try:
                with cur.connection.transaction():  # a savepoint, to tell duplicates apart
                    cur.execute(_INSERT_MODEL, values)
            except pg_errors.UniqueViolation as exc:
                raise RegistryError(f"Model {values[0]} already exists") from exc
            if audit_row is not None:
                cur.execute(_INSERT_AUDIT, audit_row)

    def get(self, model_id: str) -> ModelRecord:
        key = sql.lookup_uuid(model_id)
        with self._transaction() as cur:
            cur.execute(f"{sql.SELECT_MODEL} WHERE model_id = %s", (key,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"Model {model_id} not found")
        return _record(row)

    def list(self, limit: int | None = None, offset: int = 0) -> list[ModelRecord]:
        sql.check_page(limit, offset)
        with self._transaction() as cur:
            cur.execute(
                f"{sql.SELECT_MODEL} ORDER BY created_at DESC NULLS LAST, model_id "
                "LIMIT %s OFFSET %s",
                (limit, offset),
            )
            rows = cur.fetchall()
        return [_record(row) for row in rows]

    def delete(self, model_id: str, audit: AuditEntry | None = None) -> ModelRecord:
        key = sql.lookup_uuid(model_id)
        audit_row = None if audit is None else _audit_row(audit)
        with self._transaction() as cur:
            cur.execute(
                f"DELETE FROM models WHERE model_id = %s RETURNING {', '.join(MODEL_COLUMNS)}",
                (key,),
            )
            row = cur.fetchone()
            if row is None:
                raise NotFoundError(f"Model {model_id} not found")
            if audit_row is not None:
                cur.execute(_INSERT_AUDIT, audit_row)
        return _record(row)

    def referenced_keys(self) -> set[str]:
        with self._transaction() as cur:
            cur.execute(
                "SELECT onnx_path, external_data FROM models"
                " WHERE onnx_path IS NOT NULL OR external_data IS NOT NULL"
            )
            rows = cur.fetchall()
        return sql.keys_of((path, files) for path, files in rows)

    def append_audit(self, entry: AuditEntry) -> None:
        values = _audit_row(entry)
        with self._transaction() as cur:
            cur.execute(_INSERT_AUDIT, values)

    def audit(self, limit: int | None = None) -> builtins.list[AuditEntry]:
        sql.check_audit_limit(limit)
        with self._transaction() as cur:
            cur.execute(f"{sql.SELECT_AUDIT} ORDER BY id DESC LIMIT %s", (limit,))
            rows = cur.fetchall()
        return [_audit_entry(row) for row in rows]

    def ping(self) -> None:
        """A round trip, bounded in time: PING_TIMEOUT for a connection, then as much for
        the answer (or connect_timeout for the first connection ever)."""
        with self._transaction(timeout=PING_TIMEOUT) as cur:
            cur.execute(f"SET LOCAL statement_timeout = {int(PING_TIMEOUT * 1000)}")
            cur.execute("SELECT 1")
            cur.fetchall()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=5)

    def __repr__(self) -> str:
        return f"PostgresRegistry({self.url!r})"
