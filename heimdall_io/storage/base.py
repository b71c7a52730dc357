"""The two storage interfaces the service layer stands on.

A :class:`Registry` keeps one row per model (metadata, checksums, the object key) and an
audit history. An :class:`ObjectStore` keeps the ONNX bytes, streamed in and out. Any
registry pairs with any store. Adapters know nothing of the bundle format.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Protocol, TypeVar

import msgspec


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ModelRecord(msgspec.Struct, kw_only=True):
    """One model in the registry: the seed's ``models`` columns plus what this project needs."""

    model_id: str  # UUID, canonical lowercase text form
    model_name: str
    version: int
    status: str = "completed"
    architecture: str | None = None
    framework: str | None = "onnx"
    onnx_path: str | None = None  # key in the object store
    onnx_opset: int | None = None
    input_shape: list[int] | None = None  # dynamic dims as -1
    output_shape: list[int] | None = None
    parameters_count: int | None = None
    # The seed's JSONB column: training_config, performance_metrics, normalization_stats,
    # sample_predictions, each kept whole (unknown fields included).
    training_metrics: dict[str, Any] | None = None
    # Everything else of the bundle the columns cannot hold, so a re-export is faithful.
    extra: dict[str, Any] | None = None
    description: str | None = None
    onnx_size_bytes: int | None = None
    onnx_md5: str | None = None
    onnx_sha256: str | None = None
    source_model_id: str | None = None  # the original id of an imported model
    created_at: dt.datetime = msgspec.field(default_factory=utcnow)
    updated_at: dt.datetime = msgspec.field(default_factory=utcnow)
    # A model saved with ONNX external data: its other files, each an object of its own
    # under the model's prefix: [{path, key, size_bytes, md5, sha256}] (None: one file).
    external_data: list[dict[str, Any]] | None = None

    def object_keys(self) -> list[str]:
        """Every object of the model: the ONNX file's, then its external data files'."""
        keys = [self.onnx_path] if self.onnx_path else []
        return keys + [str(f["key"]) for f in self.external_data or () if f.get("key")]


class AuditEntry(msgspec.Struct, kw_only=True):
    """One export or import (or register/delete), successful or not."""

    action: str  # "export" | "import" | "register" | "delete"
    result: str  # "ok" | "error"
    model_id: str | None = None
    source_model_id: str | None = None
    bytes: int | None = None
    onnx_md5: str | None = None
    onnx_sha256: str | None = None
    actor: str | None = None  # "cli", or "api:<key hash prefix>"
    detail: str | None = None  # error message, target path, ...
    # The key that signed the bundle: on import, the trusted key whose signature verified;
    # on export, the key(s) the new bundle was signed with (comma-separated).
    signer_key_id: str | None = None
    at: dt.datetime = msgspec.field(default_factory=utcnow)
    id: int | None = None  # assigned by the registry


#: Columns of the ``models`` table: the seed's, then this project's (both SQL dialects).
MODEL_COLUMNS = (
    "model_id", "model_name", "version", "status", "architecture", "framework", "onnx_path",
    "onnx_opset", "input_shape", "output_shape", "parameters_count", "training_metrics",
    "created_at", "updated_at",
    "extra", "description", "onnx_size_bytes", "onnx_md5", "onnx_sha256", "source_model_id",
    "external_data",
)  # fmt: skip
#: Columns of ``audit_log`` besides its generated ``id``.
AUDIT_COLUMNS = (
    "at", "action", "result", "model_id", "source_model_id", "bytes", "onnx_md5",
    "onnx_sha256", "actor", "detail", "signer_key_id",
)  # fmt: skip


_C = TypeVar("_C", bound="Closable")


class Closable:
    """The base of every adapter: ``with adapter:`` closes it on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ObjectInfo(msgspec.Struct, kw_only=True):
    key: str
    size: int
    last_modified: dt.datetime


class Lease(msgspec.Struct, kw_only=True):
    """An import's claim on an object key while it writes (see :meth:`Registry.acquire_lease`)."""

    object_key: str
    owner: str
    expires_at: dt.datetime
    expired: bool  # by the registry's clock when read


class IncompleteUpload(msgspec.Struct, kw_only=True):
    """An upload begun and never completed (a process killed mid-put, or one in flight)."""

    key: str | None  # the object key it was writing, when the store can tell
    started: dt.datetime  # S3: when initiated; a directory: the last write
    token: str  # what :meth:`ObjectStore.abort_incomplete` needs (upload id, file)


class Registry(Protocol):
    """Model metadata rows and the audit history. Implementations: sqlite, postgres."""

    url: str

    def add(
        self,
        record: ModelRecord,
        audit: AuditEntry | None = None,
        *,
        lease_owner: str | None = None,
    ) -> None:
        """Insert ``record`` (and ``audit``, in the same transaction).

        With ``lease_owner``, the same transaction deletes the lease held by that owner (on
        ``record.onnx_path``, or on the prefix of a model of several objects: owners are
        unique), and LeaseLostError if there is none (gc claimed it): a model row never
        appears for an object gc may have removed.
        """

    def get(self, model_id: str) -> ModelRecord:
        """The record, or raise NotFoundError("Model <id> not found")."""
        ...

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[ModelRecord]:
        """Records newest first (then by id: a stable order), ``limit`` of them (None: all)
        after skipping ``offset``; ValueError if either is negative."""
        ...

    def delete(self, model_id: str, audit: AuditEntry | None = None) -> ModelRecord:
        """Remove and return the record; NotFoundError if absent."""
        ...

    def referenced_keys(self) -> set[str]:
        """Every object key some record points at: ``onnx_path`` and the keys of
        ``external_data`` (for garbage collection)."""
        ...

    def append_audit(self, entry: AuditEntry) -> None: ...

    # Import leases: an import holds one on its object key from before its first byte
    # reaches the store until its row is written (or it fails), so gc leaves it alone.
    # Expiry is decided by the registry's clock (one clock for every replica).

    def acquire_lease(self, key: str, owner: str, seconds: float) -> None:
        """Lease ``key`` to ``owner`` for ``seconds``; RegistryError if it is leased already."""

    def renew_lease(self, key: str, owner: str, seconds: float) -> bool:
        """Extend ``owner``'s lease to ``seconds`` from now; False if it is gone (claimed)."""
        ...

    def release_lease(self, key: str, owner: str) -> None:
        """Drop ``owner``'s lease on ``key`` (nothing happens if it is gone)."""

    def leases(self) -> builtins.list[Lease]:
        """Every lease, live or expired."""
        ...

    def claim_expired_leases(self) -> builtins.list[str]:
        """Delete every expired lease, atomically, and return their keys: the caller (gc)
        now owns those objects and removes them; their imports can no longer register."""
        ...

    def audit(self, limit: int | None = None) -> builtins.list[AuditEntry]:
        """Audit entries, newest first."""
        ...

    def ping(self) -> None:
        """Raise RegistryError if the registry cannot be reached."""

    def close(self) -> None: ...


class ObjectStore(Protocol):
    """ONNX bytes by key. Implementations: local directory, S3 (minio client)."""

    url: str
    #: Whether :meth:`local_path` gives a file for every object (a local directory).
    has_local_files: bool

    def put(self, key: str, data: BinaryIO, length: int | None = None) -> int:
        """Stream ``data`` (read until EOF) into ``key``; return the byte count.

        The object becomes visible only once complete: if ``data.read`` raises, nothing
        is left under ``key`` (a local temporary file is removed; an S3 multipart upload
        is aborted). Never overwrites silently: callers choose fresh keys.
        """
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of the object; NotFoundError if absent."""
        ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> str | None:
        """A local file holding the object, if the store has one (else None)."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def list_incomplete(self) -> builtins.list[IncompleteUpload]:
        """Uploads begun and not completed (in flight, or left by a killed process); they
        are invisible to :meth:`list`."""
        ...

    def abort_incomplete(self, upload: IncompleteUpload) -> None:
        """Remove an incomplete upload (nothing happens if it completed or is gone)."""

    def purge_incomplete(self, older_than: dt.datetime) -> int:
        """Remove incomplete uploads started before ``older_than``; how many were removed.

        Leases are not consulted: gc uses :meth:`list_incomplete` and decides itself.
        """
        ...

    def ping(self) -> None:
        """Raise ObjectStoreError if the store cannot be reached."""

    def close(self) -> None: ...


def purge_incomplete_uploads(store: ObjectStore, older_than: dt.datetime) -> int:
    """:meth:`ObjectStore.purge_incomplete` from the store's list and abort: the uploads
    started before ``older_than``, aborted; how many."""
    stale = [u for u in store.list_incomplete() if u.started < older_than]
    for upload in stale:
        store.abort_incomplete(upload)
    return len(stale)
