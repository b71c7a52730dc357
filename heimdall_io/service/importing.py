"""Import: a bundle in, a new model out, all or nothing."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from ..codec import BundleInfo, BundleReader, ChunkStream
from ..codec.streams import TeeStream
from ..errors import CommitUnknownError, HeimdallError, SchemaError
from ..format.document import CHECKSUM_KEYS
from ..format.storable import check_storable, storable_text
from ..onnx.external import check_with_external_data, reject_external_data
from ..onnx.lazy_checker import preload
from ..storage.base import ModelRecord
from . import signatures
from .context import Context, Progress
from .leases import ObjectLease
from .records import IMPORTED_PREFIX, external_key, imported_record, object_key

if TYPE_CHECKING:
    from ..signing.policy import Verdict


@dataclass(frozen=True)
class ImportOptions:
    """Which metadata sections an import stores (the names of the export's options).

    Example::

        service.import_bundle(f, options=ImportOptions(include_samples=False))
    """

    include_config: bool = True
    include_metrics: bool = True
    include_normalization: bool = True
    include_samples: bool = True

    @property
    def skipped(self) -> tuple[str, ...]:
        """The sections left out, by their bundle names."""
        wanted = (("training_config", self.include_config),
                  ("performance_metrics", self.include_metrics),
                  ("normalization_stats", self.include_normalization),
                  ("sample_predictions", self.include_samples))  # fmt: skip
        return tuple(name for name, include in wanted if not include)


@dataclass(frozen=True)
class ImportResult:
    """The registered model and what was read of its bundle.

    Example::

        with open("model.heimdall", "rb") as f:
            result = service.import_bundle(f)
        print(result.record.model_id, result.info.md5)
    """

    record: ModelRecord
    info: BundleInfo
    #: The bundle's signatures and provenance, as the import policy checked them.
    verdict: Verdict | None = None


def import_bundle(
    ctx: Context,
    src: BinaryIO,
    *,
    validate: bool = True,
    progress: Progress = None,
    options: ImportOptions | None = None,
) -> ImportResult:
    """Import one bundle under a new model id; every failure is audited and re-raised."""
    try:
        return _import(ctx, src, validate, progress, options or ImportOptions())
    except HeimdallError as e:
        ctx.audit(action="import", result="error", detail=storable_text(str(e)))
        raise
    except Exception as e:  # a bug or an adapter's own error: audited all the same
        ctx.audit(action="import", result="error", detail=f"unexpected {type(e).__name__}")
        raise


def _import(
    ctx: Context, src: BinaryIO, validate: bool, progress: Progress, options: ImportOptions
) -> ImportResult:
    if validate:
        preload()  # onnx loads on a thread while the payload streams in
    reader = BundleReader(src, limits=ctx.limits)
    policy = ctx.policy()
    signatures.check_metadata(policy, reader.document)  # before any byte is stored
    model_id = str(uuid.uuid4())
    unique = model_id[:8]
    model = reader.document.get("model")
    key: str | None = None
    # Every object written: the ONNX file's, then its external data files' (gc knows them
    # by the ONNX object's lease, which covers its prefix).
    written: list[str] = []
    # Taken before the first byte reaches the store, renewed while we run, taken over by
    # the row (or released on failure): gc leaves the object alone meanwhile.
    lease: ObjectLease | None = None
    spool = contextlib.ExitStack()  # a local copy for the checker, when the store is remote
    try:
        if (
            isinstance(model, dict)
            and isinstance(model.get("model_name"), str)
            and ("version" in model)
        ):
            check_storable(reader.document)  # what the registry cannot hold fails here
            early = _members(reader.document)
            lease = ctx.lease(
                object_key(IMPORTED_PREFIX, model["model_name"], model["version"], unique)
            )
            key = lease.key
            written.append(key)
            payload = reader.open_payload(progress)
            spooled = None
            if validate and not ctx.store.has_local_files:
                # The checker needs a local file: written while the payload streams to the
                # store (a local write beside the upload), not downloaded back afterwards.
                tmp = spool.enter_context(tempfile.TemporaryDirectory(prefix="heimdall-check-"))
                spooled = os.path.join(tmp, "model.onnx")
                copy = spool.enter_context(open(spooled, "wb"))  # noqa: SIM115 (spool closes it)
                payload = TeeStream(payload, copy.write)  # type: ignore[assignment]
            ctx.store.put(key, payload)
            if spooled is not None:
                copy.close()
            for path, chunks in reader.iter_external(progress):
                written.append(external_key(key, path))
                ctx.store.put(written[-1], ChunkStream(chunks))  # type: ignore[arg-type]
            info = reader.finish()
            if _members(info.document) != early:  # members after the payload
                check_storable(info.document)
            verdict = signatures.check_bundle(policy, info)
            if validate:
                validate_object(ctx, key, _files(info), spooled)
        else:
            # Metadata after the payload: spool to disk until the name is known.
            with tempfile.TemporaryDirectory(prefix="heimdall-import-") as tmp:
                path = os.path.join(tmp, "model.onnx")
                with open(path, "wb") as out:
                    info = reader.copy_payload(out, progress)
                if info.external:
                    raise SchemaError(
                        "invalid bundle: a model with external data must have its name and"
                        " version before the payload"
                    )
                check_storable(info.document)
                verdict = signatures.check_bundle(policy, info)
                if validate:
                    _check_model(ctx, path)
                m = info.header.model
                lease = ctx.lease(object_key(IMPORTED_PREFIX, m.model_name, m.version, unique))
                key = lease.key
                written.append(key)
                with open(path, "rb") as f:
                    ctx.store.put(key, f, length=os.path.getsize(path))
        record, skipped = _partial(imported_record(info, model_id, key), options)
        signatures.annotate(record, verdict, policy.active, info.document)
        found = signatures.describe(verdict, policy.active)
        assert info.digests is not None
        ctx.add(record, "import", info.digests, lease=lease, signer_key_id=verdict.signer_key_id,
                detail="; ".join(d for d in (skipped, found) if d) or None)  # fmt: skip
    except BaseException as exc:
        # (a commit of unknown outcome: the row may exist, so its object must stay)
        if not isinstance(exc, CommitUnknownError):
            for done in reversed(written):
                with contextlib.suppress(Exception):
                    ctx.store.delete(done)
        raise
    finally:
        spool.close()
        if lease is not None:
            lease.close()  # after the object is removed: gc must not race our cleanup
    return ImportResult(record, info, verdict)


def _partial(record: ModelRecord, options: ImportOptions) -> tuple[ModelRecord, str | None]:
    """The record without the sections ``options`` leave out, and the audit's note of them."""
    if not options.skipped:
        return record, None
    sections = dict(record.training_metrics or {})
    present = [name for name in options.skipped if sections.pop(name, None) is not None]
    absent = [name for name in options.skipped if name not in present]
    note = "skipped " + (", ".join(present) or "no section")
    if absent:
        note += f" (not in the bundle: {', '.join(absent)})"
    return msgspec.structs.replace(record, training_metrics=sections or None), note


def _members(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The keys of a document and of its model, checksums aside (they need no check)."""
    model = document.get("model") or {}
    return list(document), [k for k in model if k not in CHECKSUM_KEYS]


def _files(info: BundleInfo) -> dict[str, int]:
    """The external data files of a bundle read: path -> size."""
    return {f.path: f.size or 0 for f in info.external}


def validate_object(
    ctx: Context, key: str, files: dict[str, int] | None = None, spooled: str | None = None
) -> None:
    """onnx.checker on a stored object, in place when the store has a local file (or on
    ``spooled``, a local copy made while it was stored); with external data ``files``
    (path -> size), every location must name one of them and the checker sees the model
    beside stand-ins of them (it reads none of their bytes)."""
    path = spooled or ctx.store.local_path(key)
    if path is not None:
        _check_model(ctx, path, files)
        return
    with tempfile.TemporaryDirectory(prefix="heimdall-check-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        with ctx.store.open(key) as src, open(path, "wb") as out:
            while chunk := src.read(4 << 20):
                out.write(chunk)
        _check_model(ctx, path, files)


def _check_model(ctx: Context, path: str, files: dict[str, int] | None = None) -> None:
    if files:
        check_with_external_data(path, files, ctx.check_model)
        return
    # Before the checker, which would resolve external data next to the file (the store).
    reject_external_data(path)
    ctx.check_model(path)
