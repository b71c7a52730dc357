"""What every service operation stands on: the adapters, who acts, and the limits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..codec.scanner import Limits
from ..errors import CommitUnknownError, HeimdallError
from ..onnx.lazy_checker import check_model_file
from ..storage.base import AuditEntry, ModelRecord, ObjectStore, Registry

if TYPE_CHECKING:
    # Imported where used: a query or an export needs neither leases nor the signing keys.
    from ..codec.checksums import Digests
    from ..signing.policy import ImportPolicy
    from .leases import ObjectLease

#: Called with the number of payload bytes just moved (a progress display), or None.
Progress = Callable[[int], None] | None
#: Raises InvalidModelError unless the ONNX file at the path passes onnx.checker.
ModelChecker = Callable[[str], None]


@dataclass
class Context:
    """One registry, one object store, the actor named in the audit, the limits, and how
    long an import's lease lasts (HEIMDALL_IMPORT_LEASE_SECONDS)."""

    registry: Registry
    store: ObjectStore
    actor: str = "cli"
    limits: Limits = field(default_factory=Limits)
    check_model: ModelChecker = check_model_file
    #: None: HEIMDALL_IMPORT_LEASE_SECONDS, else 300 (read when an import needs it, so
    #: that a bad value fails the writes, not every query).
    lease_seconds: float | None = None

    def lease(self, key: str) -> ObjectLease:
        """Lease ``key`` (before its first byte reaches the store) and keep it renewed:
        gc leaves the object alone until the row takes the lease or ``close()``."""
        from .leases import ObjectLease, lease_seconds_from_env

        seconds = lease_seconds_from_env() if self.lease_seconds is None else self.lease_seconds
        return ObjectLease.acquire(self.registry, key, seconds)

    #: Which signed bundles imports accept; None: from the environment, on first import.
    import_policy: ImportPolicy | None = None

    def policy(self) -> ImportPolicy:
        """The import policy (HEIMDALL_TRUSTED_KEYS, HEIMDALL_REQUIRE_SIGNATURE if not given)."""
        if self.import_policy is None:
            from ..signing.policy import ImportPolicy

            self.import_policy = ImportPolicy.from_env()
        return self.import_policy

    def audit(self, **fields: Any) -> None:
        """Append an audit entry; a failing registry must not hide the original error."""
        with contextlib.suppress(HeimdallError):
            self.registry.append_audit(AuditEntry(actor=self.actor, **fields))

    def add(
        self,
        record: ModelRecord,
        action: str,
        digests: Digests,
        *,
        lease: ObjectLease | None = None,
        **audit: Any,
    ) -> None:
        """Write the row and its audit entry (taking ``lease``, in the same transaction: it
        fails if gc claimed it); remove the stored object if that fails, unless the commit's
        outcome is unknown (CommitUnknownError: the object stays, its lease left to expire)."""
        entry = AuditEntry(
            action=action, result="ok", model_id=record.model_id, bytes=digests.size,
            onnx_md5=digests.md5, onnx_sha256=digests.sha256, actor=self.actor,
            source_model_id=record.source_model_id, **audit,
        )  # fmt: skip
        try:
            self.registry.add(record, entry, lease_owner=None if lease is None else lease.owner)
            if lease is not None:
                lease.taken()
        except CommitUnknownError:
            # The row may exist: removing its object could leave it without one. If it does
            # not, the lease (left to expire) lets gc remove the object later.
            if lease is not None:
                lease.abandon()
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.delete(record.onnx_path or "")
            raise
