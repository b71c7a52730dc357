"""Import: a bundle in, a new model out, all or nothing."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from ..codec import BundleInfo, BundleReader
from ..errors import CommitUnknownError, HeimdallError
from ..onnx.checker import preload
from ..storage.base import ModelRecord
from .context import Context, Progress
from .leases import ObjectLease
from .records import IMPORTED_PREFIX, imported_record, object_key


@dataclass(frozen=True)
class ImportResult:
    """The registered model and what was read of its bundle."""

    record: ModelRecord
    info: BundleInfo


def import_bundle(
    ctx: Context, src: BinaryIO, *, validate: bool = True, progress: Progress = None
) -> ImportResult:
    """Import one bundle under a new model id; every failure is audited and re-raised."""
    try:
        return _import(ctx, src, validate, progress)
    except HeimdallError as e:
        ctx.audit(action="import", result="error", detail=str(e))
        raise


def _import(ctx: Context, src: BinaryIO, validate: bool, progress: Progress) -> ImportResult:
    if validate:
        preload()  # onnx loads on a thread while the payload streams in
    reader = BundleReader(src, limits=ctx.limits)
    model_id = str(uuid.uuid4())
    unique = model_id[:8]
    model = reader.document.get("model")
    key: str | None = None
    # Taken before the first byte reaches the store, renewed while we run, taken over by
    # the row (or released on failure): gc leaves the object alone meanwhile.
    lease: ObjectLease | None = None
    try:
        if (
            isinstance(model, dict)
            and isinstance(model.get("model_name"), str)
            and ("version" in model)
        ):
            lease = ctx.lease(
                object_key(IMPORTED_PREFIX, model["model_name"], model["version"], unique)
            )
            key = lease.key
            ctx.store.put(key, reader.open_payload(progress))
            info = reader.finish()
            if validate:
                validate_object(ctx, key)
        else:
            # Metadata after the payload: spool to disk until the name is known.
            with tempfile.TemporaryDirectory(prefix="heimdall-import-") as tmp:
                path = os.path.join(tmp, "model.onnx")
                with open(path, "wb") as out:
                    info = reader.copy_payload(out, progress)
                if validate:
                    ctx.check_model(path)
                m = info.header.model
                lease = ctx.lease(object_key(IMPORTED_PREFIX, m.model_name, m.version, unique))
                key = lease.key
                with open(path, "rb") as f:
                    ctx.store.put(key, f, length=os.path.getsize(path))
        record = imported_record(info, model_id, key)
        assert info.digests is not None
        ctx.add(record, "import", info.digests, lease=lease)
    except BaseException as exc:
        # (a commit of unknown outcome: the row may exist, so its object must stay)
        if key is not None and not isinstance(exc, CommitUnknownError):
            with contextlib.suppress(Exception):
                ctx.store.delete(key)
        raise
    finally:
        if lease is not None:
            lease.close()  # after the object is removed: gc must not race our cleanup
    return ImportResult(record, info)


def validate_object(ctx: Context, key: str) -> None:
    """onnx.checker on a stored object, in place when the store has a local file."""
    path = ctx.store.local_path(key)
    if path is not None:
        ctx.check_model(path)
        return
    with tempfile.TemporaryDirectory(prefix="heimdall-check-") as tmp:
        path = os.path.join(tmp, "model.onnx")
        with ctx.store.open(key) as src, open(path, "wb") as out:
            while chunk := src.read(4 << 20):
                out.write(chunk)
        ctx.check_model(path)
