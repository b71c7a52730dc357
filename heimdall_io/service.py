"""The service layer: register, list, export, import, delete, history, gc.

The CLI and the HTTP API are thin shells over :class:`Service`. It speaks bundles to the
codec and records/streams to the adapters; it never holds a payload in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgspec

from .codec import BundleEncoder, BundleInfo, BundleReader, Limits
from .codec.checksums import Digests, Hasher
from .codec.compression import NONE
from .errors import (
    HeimdallError,
    NotFoundError,
    ObjectStoreError,
)
from .files.paths import atomic_output
from .format.document import CHECKSUM_KEYS, PAYLOAD_KEY
from .format.header import SECTIONS, new_header
from .onnx.checker import check_model_file
from .storage.base import AuditEntry, ModelRecord, ObjectInfo, ObjectStore, Registry, utcnow

IMPORTED_PREFIX = "imported/"
REGISTERED_PREFIX = "models/"
IMPORTED_SUFFIX = " (Imported)"
# Model fields that have registry columns; the rest of `model` is kept in record.extra.
_MODEL_COLUMNS = ("model_id", "model_name", "version", "architecture", "framework",
                  "onnx_opset", "input_shape", "output_shape", "parameters_count")  # fmt: skip
_KNOWN_TOP = ("format_version", "bundle_metadata", "model", *SECTIONS)

Progress = Callable[[int], None] | None
#: Raises InvalidModelError unless the ONNX file at the path passes onnx.checker.
ModelChecker = Callable[[str], None]


def object_key(prefix: str, name: str, version: int | str, unique: str) -> str:
    """``prefix/<name>-<version>-<unique>.onnx`` with a name that cannot escape the prefix."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:80] or "model"
    safe_version = re.sub(r"[^A-Za-z0-9_-]+", "_", str(version))[:20] or "0"
    return f"{prefix}{safe}-{safe_version}-{unique}.onnx"


def imported_name(name: str) -> str:
    """The seed's " (Imported)" suffix, never stacked on a re-import."""
    return name if name.endswith(IMPORTED_SUFFIX) else name + IMPORTED_SUFFIX


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _shape_column(shape: Any) -> list[int] | None:
    """A flat shape for the INTEGER[] column (dynamic dims -1); None if not flat."""
    if not isinstance(shape, list):
        return None
    out = []
    for dim in shape:
        if isinstance(dim, (bool, list)):
            return None
        out.append(dim if isinstance(dim, int) else -1)
    return out


class _HashingReader:
    """Reads through to ``raw`` while hashing what passes."""

    def __init__(self, raw: BinaryIO, hasher: Hasher, progress: Progress = None) -> None:
        self._raw, self._hasher, self._progress = raw, hasher, progress

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            data = bytes(data)
            self._hasher.update(data)
            if self._progress is not None:
                self._progress(len(data))
        return data


@dataclass(frozen=True)
class ImportResult:
    record: ModelRecord
    info: BundleInfo


@dataclass
class ExportOptions:
    include_config: bool = True
    include_metrics: bool = True
    include_normalization: bool = True
    include_samples: bool = True
    num_samples: int = 5
    description: str | None = None
    compression: str = NONE
    level: int = 3


@dataclass(frozen=True)
class GcResult:
    """What :meth:`Service.gc` removed (or, on a dry run, would remove)."""

    #: Objects no model references.
    removed: list[ObjectInfo]
    #: Unfinished multipart uploads removed (left by killed processes; 0 on a dry run).
    incomplete_purged: int = 0


class ExportStream:
    """A bundle being exported: iterate for its bytes (the object is read as you go)."""

    def __init__(
        self,
        record: ModelRecord,
        header: dict[str, Any],
        chunks: Callable[[ExportStream], Iterator[bytes]],
    ) -> None:
        self.record = record
        self.header = header
        #: The payload's digests, once the last chunk has been produced.
        self.digests: Digests | None = None
        self.bytes_out = 0
        self._chunks = chunks(self)

    @property
    def filename(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9 ._()-]+", "_", self.record.model_name).strip() or "model"
        return f"{safe}-v{self.record.version}.heimdall"

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


class Service:
    """One registry and one object store, and the operations users ask for."""

    def __init__(
        self,
        registry: Registry,
        store: ObjectStore,
        *,
        actor: str = "cli",
        limits: Limits | None = None,
        model_checker: ModelChecker = check_model_file,
    ) -> None:
        self.registry = registry
        self.store = store
        self.actor = actor
        self.limits = limits or Limits()
        #: Runs onnx.checker on a model file; the API passes one that bounds concurrency.
        self.check_model = model_checker

    @classmethod
    def from_config(
        cls, database_url: str | None = None, storage_url: str | None = None, **kw: Any
    ) -> Service:
        """Open the registry and store named by the URLs, the environment or the defaults."""
        from .storage.config import open_registry, open_store

        registry = open_registry(database_url)
        try:
            store = open_store(storage_url)
        except BaseException:
            registry.close()
            raise
        return cls(registry, store, **kw)

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

    def list_models(self) -> list[ModelRecord]:
        return self.registry.list()

    def get_model(self, model_id: str) -> ModelRecord:
        return self.registry.get(model_id)

    def history(self, limit: int | None = None) -> list[AuditEntry]:
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

    def _audit(self, **fields: Any) -> None:
        """Append an audit entry; a failing registry must not hide the original error."""
        with contextlib.suppress(HeimdallError):
            self.registry.append_audit(AuditEntry(actor=self.actor, **fields))

    # -- register ------------------------------------------------------------------------

    def register(
        self,
        model: BinaryIO,
        *,
        name: str,
        version: int | None = None,
        architecture: str | None = None,
        description: str | None = None,
        sections: Mapping[str, Any] | None = None,
        progress: Progress = None,
    ) -> ModelRecord:
        """Store a trained ONNX model (a seekable file) and register it."""
        from .onnx.metadata import read_onnx_info

        info = read_onnx_info(model)
        model.seek(0)
        model_id = str(uuid.uuid4())
        version = version or 1
        key = object_key(REGISTERED_PREFIX, name, version, model_id[:8])
        with Hasher() as hasher:
            self.store.put(key, _HashingReader(model, hasher, progress))  # type: ignore[arg-type]
            digests = hasher.digests()
        record = ModelRecord(
            model_id=model_id,
            model_name=name,
            version=version,
            architecture=architecture,
            onnx_path=key,
            onnx_opset=info.opset,
            input_shape=_shape_column(info.input_shape),
            output_shape=_shape_column(info.output_shape),
            parameters_count=info.parameters_count,
            training_metrics={k: v for k, v in (sections or {}).items() if v is not None} or None,
            extra=_raw_shapes({"input_shape": info.input_shape, "output_shape": info.output_shape}),
            description=description,
            onnx_size_bytes=digests.size,
            onnx_md5=digests.md5,
            onnx_sha256=digests.sha256,
        )
        self._add(record, "register", digests)
        return record

    def _add(self, record: ModelRecord, action: str, digests: Digests, **audit: Any) -> None:
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

    # -- import --------------------------------------------------------------------------

    def import_bundle(
        self, src: BinaryIO, *, validate: bool = True, progress: Progress = None
    ) -> ImportResult:
        """Import one bundle: a new model id, the object under ``imported/``, all or nothing.

        The payload streams into the store while it is decoded and hashed; the checksums
        are verified before the row is written. Any failure removes the object again
        (or, if the process dies, leaves an unreferenced object for :meth:`gc`).
        """
        try:
            return self._import(src, validate, progress)
        except HeimdallError as e:
            self._audit(action="import", result="error", detail=str(e))
            raise

    def _import(self, src: BinaryIO, validate: bool, progress: Progress) -> ImportResult:
        if validate:
            from .onnx.checker import preload

            preload()
        reader = BundleReader(src, limits=self.limits)
        model_id = str(uuid.uuid4())
        unique = model_id[:8]
        model = reader.document.get("model")
        named = (
            isinstance(model, dict)
            and isinstance(model.get("model_name"), str)
            and "version" in model
        )
        key: str | None = None
        try:
            if named:
                assert isinstance(model, dict)
                key = object_key(IMPORTED_PREFIX, model["model_name"], model["version"], unique)
                self.store.put(key, reader.open_payload(progress))
                info = reader.finish()
                if validate:
                    self.validate_object(key)
            else:
                # Metadata after the payload: spool to disk until the name is known.
                with tempfile.TemporaryDirectory(prefix="heimdall-import-") as tmp:
                    path = os.path.join(tmp, "model.onnx")
                    with open(path, "wb") as out:
                        info = reader.copy_payload(out, progress)
                    if validate:
                        self.check_model(path)
                    m = info.header.model
                    key = object_key(IMPORTED_PREFIX, m.model_name, m.version, unique)
                    with open(path, "rb") as f:
                        self.store.put(key, f, length=os.path.getsize(path))
            record = self._imported_record(info, model_id, key)
            assert info.digests is not None
            self._add(record, "import", info.digests)
        except BaseException:
            if key is not None:
                with contextlib.suppress(Exception):
                    self.store.delete(key)
            raise
        return ImportResult(record, info)

    def validate_object(self, key: str) -> None:
        """:meth:`check_model` on a stored object, in place when the store has a file."""
        path = self.store.local_path(key)
        if path is not None:
            self.check_model(path)
            return
        with tempfile.TemporaryDirectory(prefix="heimdall-check-") as tmp:
            path = os.path.join(tmp, "model.onnx")
            with self.store.open(key) as src, open(path, "wb") as out:
                while chunk := src.read(4 << 20):
                    out.write(chunk)
            self.check_model(path)

    def _imported_record(self, info: BundleInfo, model_id: str, key: str) -> ModelRecord:
        doc = info.document
        model = doc["model"]
        m = info.header.model
        version = _int_or_none(m.version)
        extra_model = {k: v for k, v in model.items()
                       if k not in _MODEL_COLUMNS and k not in CHECKSUM_KEYS}  # fmt: skip
        if version is None or not isinstance(m.version, int):
            extra_model["version"] = m.version  # kept as written ("3", "v2", ...)
        extra_model.update(_raw_shapes(model))
        extra = {
            "model": extra_model,
            "top": {k: v for k, v in doc.items() if k not in _KNOWN_TOP},
            "source_bundle": doc.get("bundle_metadata"),
            "source_format_version": info.format_version,
        }
        assert info.digests is not None
        return ModelRecord(
            model_id=model_id,
            model_name=imported_name(m.model_name),
            version=version if version is not None else 1,
            architecture=m.architecture,
            framework=m.framework,
            onnx_path=key,
            onnx_opset=m.onnx_opset,
            input_shape=_shape_column(m.input_shape),
            output_shape=_shape_column(m.output_shape),
            parameters_count=m.parameters_count,
            training_metrics={s: doc[s] for s in SECTIONS if s in doc} or None,
            extra=extra,
            description=(doc.get("bundle_metadata") or {}).get("description"),
            onnx_size_bytes=info.digests.size,
            onnx_md5=info.digests.md5,
            onnx_sha256=info.digests.sha256,
            source_model_id=_uuid_or_none(m.model_id),
        )

    # -- export --------------------------------------------------------------------------

    def export_header(self, record: ModelRecord, options: ExportOptions) -> dict[str, Any]:
        extra = record.extra or {}
        model: dict[str, Any] = {
            "model_id": record.model_id,
            "model_name": record.model_name,
            "version": record.version,
            "architecture": record.architecture,
            "framework": record.framework,
            "onnx_opset": record.onnx_opset,
            "input_shape": record.input_shape,
            "output_shape": record.output_shape,
            "parameters_count": record.parameters_count,
        }
        model.update(extra.get("model") or {})
        model = {k: v for k, v in model.items()
                 if v is not None and k != PAYLOAD_KEY and k not in CHECKSUM_KEYS}  # fmt: skip
        metrics = sections_of(record.training_metrics)
        wanted = {
            "training_config": options.include_config,
            "performance_metrics": options.include_metrics,
            "normalization_stats": options.include_normalization,
            "sample_predictions": options.include_samples,
        }
        sections: dict[str, Any] = {}
        for name in SECTIONS:
            if wanted[name] and metrics.get(name) is not None:
                value = metrics[name]
                if name == "sample_predictions" and isinstance(value, list):
                    value = value[: max(options.num_samples, 0)]
                sections[name] = value
        return new_header(
            model, description=options.description, sections=sections, extra=extra.get("top")
        )

    def export_stream(
        self,
        model_id: str,
        options: ExportOptions | None = None,
        progress: Progress = None,
    ) -> ExportStream:
        """Prepare an export; the object is opened when the stream is first iterated."""
        options = options or ExportOptions()
        record = self.registry.get(model_id)
        if not record.onnx_path:
            raise NotFoundError(f"Model {model_id} has no ONNX object")
        header = self.export_header(record, options)
        return ExportStream(
            record, header, lambda stream: self._export_chunks(stream, options, progress)
        )

    def _export_chunks(
        self, stream: ExportStream, options: ExportOptions, progress: Progress
    ) -> Iterator[bytes]:
        record = stream.record
        try:
            with self.store.open(record.onnx_path or "") as payload:
                encoder = BundleEncoder(
                    stream.header, payload, size=record.onnx_size_bytes, md5=record.onnx_md5,
                    sha256=record.onnx_sha256, compression=options.compression,
                    level=options.level, progress=progress,
                )  # fmt: skip
                for chunk in encoder:
                    stream.bytes_out += len(chunk)
                    yield chunk
                stream.digests = encoder.result.digests
        except HeimdallError as e:
            self._audit(action="export", result="error", model_id=record.model_id,
                        detail=str(e))  # fmt: skip
            raise
        except GeneratorExit:
            self._audit(action="export", result="error", model_id=record.model_id,
                        detail="client went away before the export finished")  # fmt: skip
            raise
        d = stream.digests
        assert d is not None
        self._audit(action="export", result="ok", model_id=record.model_id, bytes=d.size,
                    onnx_md5=d.md5, onnx_sha256=d.sha256,
                    detail=f"bundle {stream.header['bundle_metadata']['bundle_id']}")  # fmt: skip

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
        stream = self.export_stream(model_id, options, progress)
        with atomic_output(out_path, force=force) as out:
            for chunk in stream:
                out.write(chunk)
        return stream

    # -- delete and gc -------------------------------------------------------------------

    def delete(self, model_id: str) -> ModelRecord:
        record = self.registry.get(model_id)
        entry = AuditEntry(action="delete", result="ok", model_id=record.model_id,
                           bytes=record.onnx_size_bytes, actor=self.actor)  # fmt: skip
        record = self.registry.delete(model_id, entry)
        if record.onnx_path:
            # A failure here leaves an unreferenced object: `gc` removes it later.
            with contextlib.suppress(ObjectStoreError, NotFoundError):
                self.store.delete(record.onnx_path)
        return record

    def gc(self, *, min_age: dt.timedelta = dt.timedelta(hours=1), dry_run: bool = False
           ) -> GcResult:  # fmt: skip
        """Remove objects no model references, older than ``min_age`` (imports in flight
        are younger). Returns what was (or, with ``dry_run``, would be) removed."""
        referenced = self.registry.referenced_keys()
        cutoff = utcnow() - min_age
        orphans = [
            obj
            for prefix in (IMPORTED_PREFIX, REGISTERED_PREFIX)
            for obj in self.store.list(prefix)
            if obj.key not in referenced and obj.last_modified <= cutoff
        ]
        if dry_run:
            return GcResult(orphans)
        for obj in orphans:
            self.store.delete(obj.key)
        return GcResult(orphans, self.store.purge_incomplete(cutoff))


def sections_of(training_metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The bundle sections held in a ``training_metrics`` column.

    Rows written by heimdall-io keep one key per section. A row of the original Heimdall
    service holds config, metrics and normalization flat in one object: its fields are
    sorted into sections by the format's types (the rest counts as metrics).
    """
    if not training_metrics:
        return {}
    if any(name in training_metrics for name in SECTIONS):
        return dict(training_metrics)
    from .format.document import NormalizationStats, TrainingConfig

    def names(struct: Any) -> set[str]:
        return {f.name for f in msgspec.structs.fields(struct)}

    config_fields, norm_fields = names(TrainingConfig), names(NormalizationStats)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in training_metrics.items():
        if key in config_fields:
            section = "training_config"
        elif key in norm_fields:
            section = "normalization_stats"
        else:
            section = "performance_metrics"
        sections.setdefault(section, {})[key] = value
    return dict(sections)


def _raw_shapes(model: Mapping[str, Any]) -> dict[str, Any]:
    """Shapes the INTEGER[] columns cannot hold exactly (symbolic or nested)."""
    out = {}
    for name in ("input_shape", "output_shape"):
        shape = model.get(name)
        if shape is not None and _shape_column(shape) != shape:
            out[name] = shape
    return out


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None


__all__ = ["ExportOptions", "ExportStream", "GcResult", "ImportResult", "ModelChecker", "Service"]
