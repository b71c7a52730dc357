"""Register: a trained ONNX file in, a new model out."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO

from ..codec.checksums import Hasher
from ..onnx.metadata import read_onnx_info
from ..storage.base import ModelRecord
from .context import Context, Progress
from .records import REGISTERED_PREFIX, object_key, registered_record


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


def register(
    ctx: Context,
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
    info = read_onnx_info(model)
    model.seek(0)
    model_id = str(uuid.uuid4())
    version = version or 1
    key = object_key(REGISTERED_PREFIX, name, version, model_id[:8])
    # The same lease as an import's: gc leaves the object alone until the row exists.
    with ctx.lease(key) as lease:
        with Hasher() as hasher:
            ctx.store.put(key, _HashingReader(model, hasher, progress))  # type: ignore[arg-type]
            digests = hasher.digests()
        record = registered_record(
            model_id=model_id, key=key, name=name, version=version, architecture=architecture,
            description=description, sections=sections, info=info, digests=digests,
        )  # fmt: skip
        ctx.add(record, "register", digests, lease=lease)
    return record
