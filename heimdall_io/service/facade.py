"""The Service facade: one object the CLI and the HTTP API share."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from ..codec.scanner import Limits
from ..errors import HeimdallError, NotFoundError, ObjectStoreError
from ..onnx.lazy_checker import check_model_file
from ..storage.base import AuditEntry, ModelRecord, ObjectStore, Registry
from .context import Context, ModelChecker, Progress

if TYPE_CHECKING:
    from ..signing.policy import ImportPolicy
    from .exporting import ExportOptions, ExportStream
    from .gc import GcResult
    from .importing import ImportOptions, ImportResult

# Each operation's module (and what it stands on: encoder, decoder, signing) is imported
# by the method that runs it, so a command pays only for the one it runs.


class Service:
    """One registry and one object store, and the operations users ask for.

    >>> with Service.from_config() as service:          # the embedded default
    ...     record = service.register(open("model.onnx", "rb"), name="Net")
    ...     service.export_to_path(record.model_id, "net.heimdall")
    """

    def __init__(
        self,
        registry: Registry,
        store: ObjectStore,
        *,
        actor: str = "cli",
        limits: Limits | None = None,
        model_checker: ModelChecker = check_model_file,
        lease_seconds: float | None = None,
        import_policy: ImportPolicy | None = None,
    ) -> None:
        # lease_seconds None: HEIMDALL_IMPORT_LEASE_SECONDS, or 300. import_policy None:
        # HEIMDALL_TRUSTED_KEYS / HEIMDALL_REQUIRE_SIGNATURE, read on the first import (a
        # bad setting fails imports, not every command).
        self._ctx = Context(
            registry, store, actor, limits or Limits(), model_checker, lease_seconds,
            import_policy,
        )  # fmt: skip

    @classmethod
    def from_config(
        cls, database_url: str | None = None, storage_url: str | None = None, **kw: Any
    ) -> Service:
        """Open the registry and store named by the URLs, the environment or the defaults."""
        from ..storage.config import open_adapters

        return cls(*open_adapters(database_url, storage_url), **kw)

    @property
    def registry(self) -> Registry:
        return self._ctx.registry

    @property
    def store(self) -> ObjectStore:
        return self._ctx.store

    @property
    def actor(self) -> str:
        return self._ctx.actor

    @property
    def limits(self) -> Limits:
        return self._ctx.limits

    def import_policy(self) -> ImportPolicy:
        """The policy imports apply to signatures (read from the environment if not given)."""
        return self._ctx.policy()

    def close(self) -> None:
        try:
            self.registry.close()
        finally:
            self.store.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------

    def list_models(self, limit: int | None = None, offset: int = 0) -> list[ModelRecord]:
        """Models newest first (a stable order): ``limit`` of them (None: all) after the
        first ``offset``; ValueError if either is negative."""
        return self.registry.list(limit, offset)

    def get_model(self, model_id: str) -> ModelRecord:
        """One model (NotFoundError if there is none)."""
        return self.registry.get(model_id)

    def history(self, limit: int | None = None) -> list[AuditEntry]:
        """The audit history, newest first."""
        return self.registry.audit(limit)

    def health(self) -> dict[str, str]:
        """``{"registry": "ok"|error, "store": "ok"|error}``."""
        status: dict[str, str] = {}
        for name, part in (("registry", self.registry), ("store", self.store)):
            try:
                part.ping()
                status[name] = "ok"
            except HeimdallError as e:
                status[name] = str(e)
        return status

    # -- operations ----------------------------------------------------------------------

    def register(
        self,
        model: BinaryIO | None,
        *,
        name: str,
        version: int | None = None,
        architecture: str | None = None,
        description: str | None = None,
        sections: Mapping[str, Any] | None = None,
        progress: Progress = None,
        directory: str | None = None,
    ) -> ModelRecord:
        """Store a trained ONNX model (a seekable file) and register it; a model saved
        with external data is given by its ``directory`` instead (``model`` is then None)."""
        from . import registering

        if directory is None:
            assert model is not None
            return registering.register(
                self._ctx, model, name=name, version=version, architecture=architecture,
                description=description, sections=sections, progress=progress,
            )  # fmt: skip
        from ..files.layout import read_model_directory

        layout = read_model_directory(directory)
        with open(layout.model_path, "rb") as src:
            return registering.register(
                self._ctx, src, name=name, version=version, architecture=architecture,
                description=description, sections=sections, progress=progress, layout=layout,
            )  # fmt: skip

    def import_bundle(
        self,
        src: BinaryIO,
        *,
        validate: bool = True,
        progress: Progress = None,
        options: ImportOptions | None = None,
    ) -> ImportResult:
        """Import one bundle: a new model id, the object under ``imported/``, all or nothing.

        The payload streams into the store while it is decoded and hashed; the checksums
        are verified (and, with ``validate``, onnx.checker run) before the row is written.
        Any failure removes the object again (or, if the process dies, leaves an
        unreferenced object, leased until HEIMDALL_IMPORT_LEASE_SECONDS pass, for :meth:`gc`).
        ``options`` may leave metadata sections out (a partial import); the audit names them.
        The import policy (:meth:`import_policy`) checks the bundle's signatures before the
        payload is stored and again before the row is written; the result's ``verdict``
        says what it found.
        """
        from . import importing

        return importing.import_bundle(
            self._ctx, src, validate=validate, progress=progress, options=options
        )

    def export_stream(
        self, model_id: str, options: ExportOptions | None = None, progress: Progress = None
    ) -> ExportStream:
        """Prepare an export; the object is opened when the stream is first iterated."""
        from . import exporting

        options = options or exporting.ExportOptions()
        return exporting.export_stream(self._ctx, model_id, options, progress)

    def export_to_path(
        self,
        model_id: str,
        out_path: str,
        options: ExportOptions | None = None,
        *,
        force: bool = False,
        progress: Progress = None,
    ) -> ExportStream:
        """Export to a file (written beside it, renamed when complete) or ``-``."""
        from . import exporting

        return exporting.export_to_path(
            self._ctx, model_id, out_path, options or exporting.ExportOptions(), force=force,
            progress=progress,
        )  # fmt: skip

    def delete(self, model_id: str) -> ModelRecord:
        """Delete the row, then its objects (a failure there leaves them for :meth:`gc`)."""
        record = self.registry.get(model_id)
        entry = AuditEntry(action="delete", result="ok", model_id=record.model_id,
                           bytes=record.onnx_size_bytes, actor=self.actor)  # fmt: skip
        record = self.registry.delete(model_id, entry)
        for key in record.object_keys():
            with contextlib.suppress(ObjectStoreError, NotFoundError):
                self.store.delete(key)
        return record

    def gc(self, *, min_age: dt.timedelta = dt.timedelta(hours=1), dry_run: bool = False
           ) -> GcResult:  # fmt: skip
        """Remove objects no model references: those of dead imports (their lease expired)
        and, older than ``min_age``, those with no lease; never one an import in flight
        holds a lease on."""
        from . import gc

        return gc.collect_garbage(self._ctx, min_age=min_age, dry_run=dry_run)
