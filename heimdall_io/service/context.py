"""What every service operation stands on: the adapters, who acts, and the limits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..codec import Limits
from ..codec.checksums import Digests
from ..errors import HeimdallError
from ..onnx.checker import check_model_file
from ..signing.policy import ImportPolicy
from ..storage.base import AuditEntry, ModelRecord, ObjectStore, Registry

#: Called with the number of payload bytes just moved (a progress display), or None.
Progress = Callable[[int], None] | None
#: Raises InvalidModelError unless the ONNX file at the path passes onnx.checker.
ModelChecker = Callable[[str], None]


@dataclass
class Context:
    """One registry, one object store, the actor named in the audit, and the limits."""

    registry: Registry
    store: ObjectStore
    actor: str = "cli"
    limits: Limits = field(default_factory=Limits)
    check_model: ModelChecker = check_model_file
    #: Which signed bundles imports accept; None: from the environment, on first import.
    import_policy: ImportPolicy | None = None

    def policy(self) -> ImportPolicy:
        """The import policy (HEIMDALL_TRUSTED_KEYS, HEIMDALL_REQUIRE_SIGNATURE if not given)."""
        if self.import_policy is None:
            self.import_policy = ImportPolicy.from_env()
        return self.import_policy

    def audit(self, **fields: Any) -> None:
        """Append an audit entry; a failing registry must not hide the original error."""
        with contextlib.suppress(HeimdallError):
            self.registry.append_audit(AuditEntry(actor=self.actor, **fields))

    def add(self, record: ModelRecord, action: str, digests: Digests, **audit: Any) -> None:
        """Write the row and its audit entry; remove the stored object if that fails."""
        entry = AuditEntry(
            action=action, result="ok", model_id=record.model_id, bytes=digests.size,
            onnx_md5=digests.md5, onnx_sha256=digests.sha256, actor=self.actor,
            source_model_id=record.source_model_id, **audit,
        )  # fmt: skip
        try:
            self.registry.add(record, entry)
        except BaseException:
            with contextlib.suppress(Exception):
                self.store.delete(record.onnx_path or "")
            raise
