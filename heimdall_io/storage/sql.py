"""What the SQL registries (SQLite, PostgreSQL) share: schema versions, ids, times, rows.

Both keep the same tables with the same columns (:data:`~heimdall_io.storage.base.MODEL_COLUMNS`,
:data:`~heimdall_io.storage.base.AUDIT_COLUMNS`) and must answer alike whatever the dialect:
the same errors for an id that is not a UUID or a schema that is too new, the same times
(UTC, aware). What differs (placeholders, how values are stored) stays in each adapter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from heimdall_io.errors import NotFoundError, RegistryError
from heimdall_io.storage.base import AUDIT_COLUMNS, MODEL_COLUMNS, AuditEntry, ModelRecord, utcnow
from heimdall_io.storage.migrations import Migration

__all__ = [
    "SELECT_AUDIT",
    "SELECT_MODEL",
    "UTC",
    "as_utc",
    "audit_values",
    "check_audit_limit",
    "check_lease_seconds",
    "check_page",
    "insert_statement",
    "keys_of",
    "lease_lost_message",
    "lookup_uuid",
    "model_values",
    "parse_uuid",
    "pending_migrations",
]

UTC = dt.timezone.utc

SELECT_MODEL = f"SELECT {', '.join(MODEL_COLUMNS)} FROM models"
SELECT_AUDIT = f"SELECT id, {', '.join(AUDIT_COLUMNS)} FROM audit_log"


def insert_statement(table: str, columns: Sequence[str], placeholder: Callable[[str], str]) -> str:
    """``INSERT INTO table (columns) VALUES (...)`` with ``placeholder(column)`` for each."""
    values = ", ".join(placeholder(column) for column in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def pending_migrations(known: Sequence[Migration], applied: set[int]) -> list[Migration]:
    """The migrations of ``known`` not yet in ``applied``, in ``known``'s order.

    RegistryError if the registry records a version newer than any known: a newer
    heimdall-io wrote it, and this one must not write rows it may not understand.
    """
    newest = max((m.version for m in known), default=0)
    if applied and max(applied) > newest:
        raise RegistryError(
            f"registry schema version {max(applied)} is newer than this heimdall-io "
            f"supports ({newest}): upgrade heimdall-io"
        )
    return [m for m in known if m.version not in applied]


def check_audit_limit(limit: int | None) -> None:
    """ValueError for a negative number of audit entries (None: all of them)."""
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")


def check_page(limit: int | None, offset: int) -> None:
    """ValueError for a negative page size or offset (a limit of None: all the rest)."""
    check_audit_limit(limit)
    if offset < 0:
        raise ValueError("offset must not be negative")


def check_lease_seconds(seconds: float) -> float:
    """``seconds`` as a float, ValueError unless it is a positive, finite duration."""
    seconds = float(seconds)
    if not 0 < seconds < float("inf"):
        raise ValueError("a lease must last a positive, finite number of seconds")
    return seconds


def lease_lost_message(key: str | None) -> str:
    """Why an import whose lease gc claimed cannot register its model."""
    return (
        f"the import's lease on {key} expired and gc claimed the object: "
        "the model is not registered (retry the import)"
    )


def parse_uuid(value: str | None, what: str) -> uuid.UUID | None:
    """``value`` as a UUID (None stays None); RegistryError naming ``what`` if it is not one."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise RegistryError(f"invalid {what}: {value!r} is not a UUID") from None


def lookup_uuid(model_id: str) -> uuid.UUID:
    """The UUID of a model id to look up: one that is not a UUID names no model."""
    try:
        return uuid.UUID(model_id)
    except (ValueError, TypeError, AttributeError):
        raise NotFoundError(f"Model {model_id} not found") from None


def as_utc(value: dt.datetime | None) -> dt.datetime:
    """``value`` in UTC (a naive time is taken to be UTC already); now when None."""
    if value is None:
        return utcnow()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def keys_of(rows: Iterable[tuple[str | None, Any]]) -> set[str]:
    """The object keys of ``(onnx_path, external_data)`` rows (for garbage collection)."""
    keys: set[str] = set()
    for path, files in rows:
        if path:
            keys.add(path)
        for entry in files or ():
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                keys.add(entry["key"])
    return keys


def model_values(record: ModelRecord) -> dict[str, Any]:
    """The :data:`MODEL_COLUMNS` of ``record``, its ids as UUIDs (RegistryError if not)."""
    values = {name: getattr(record, name) for name in MODEL_COLUMNS}
    values["model_id"] = parse_uuid(record.model_id, "model_id")
    values["source_model_id"] = parse_uuid(record.source_model_id, "source_model_id")
    return values


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    """The :data:`AUDIT_COLUMNS` of ``entry``, its ids as UUIDs (RegistryError if not)."""
    values = {name: getattr(entry, name) for name in AUDIT_COLUMNS}
    values["model_id"] = parse_uuid(entry.model_id, "audit model_id")
    values["source_model_id"] = parse_uuid(entry.source_model_id, "audit source_model_id")
    return values
