"""Register: a trained ONNX file in, a new model out."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO

from ..codec import Declared, ExternalInfo
from ..codec.checksums import Digests, Hasher
from ..files.bundles import refuse_external_data
from ..files.layout import ModelDirectory
from ..onnx.metadata import read_onnx_info
from ..storage.base import ModelRecord
from .context import Context, Progress
from .records import (
    REGISTERED_PREFIX,
    external_entries,
    external_key,
    object_key,
    registered_record,
)


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
    layout: ModelDirectory | None = None,
) -> ModelRecord:
    """Store a trained ONNX model (a seekable file) and register it; with ``layout`` (a
    model directory, ``model`` its ONNX file), its external data files too, each an object
    under the model's prefix. A lone file whose tensors use external data is refused."""
    if layout is None:
        refuse_external_data(model, "register its directory")
    info = read_onnx_info(model)
    model.seek(0)
    model_id = str(uuid.uuid4())
    version = version or 1
    key = object_key(REGISTERED_PREFIX, name, version, model_id[:8])
    written: list[str] = []
    # The same lease as an import's: gc leaves the objects alone until the row exists.
    with ctx.lease(key) as lease:
        try:
            written.append(key)
            digests = _put(ctx, key, model, progress)
            files = []
            for path, _ in layout.files if layout else ():
                written.append(external_key(key, path))
                with open(layout.path(path), "rb") as f:  # type: ignore[union-attr]
                    files.append(
                        ExternalInfo(path, Declared(), _put(ctx, written[-1], f, progress))
                    )
            record = registered_record(
                model_id=model_id, key=key, name=name, version=version,
                architecture=architecture, description=description, sections=sections,
                info=info, digests=digests,
            )  # fmt: skip
            if layout is not None:
                record.external_data = external_entries(key, files)
                record.extra = {**(record.extra or {})}
                record.extra["model"] = {**record.extra.get("model", {}),
                                         "onnx_file": layout.model_file}  # fmt: skip
            ctx.add(record, "register", digests, lease=lease)
        except BaseException:
            for done in reversed(written):
                with contextlib.suppress(Exception):
                    ctx.store.delete(done)
            raise
    return record


def _put(ctx: Context, key: str, src: BinaryIO, progress: Progress) -> Digests:
    with Hasher() as hasher:
        ctx.store.put(key, _HashingReader(src, hasher, progress))  # type: ignore[arg-type]
        return hasher.digests()
