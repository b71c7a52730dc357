"""Moving a model in one streaming step: push, pull, and copy between any two places.

A place (:class:`Place`) is the local registry (``local:ID`` as a source, ``local:`` as a
destination), a remote (``NAME:ID``, ``NAME:``), a bundle file (a path or ``-``) or a
bundle URL (``s3://BUCKET/KEY``, ``http(s)://...``; s3:// only as a destination). The
source is read as a bundle stream: the local export as it is encoded, a remote export
(resumable), a file or a URL (resumable). The destination imports it (local or remote:
all or nothing, checksums verified while it streams) or writes it (a file, an s3://
object: the bundle is decoded and verified on the way, and the output appears only if
it is valid and complete). Nothing is spooled to disk; memory holds a few chunks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from heimdall_io.codec import BundleReader
from heimdall_io.codec.streams import ChunkStream, ReadStream
from heimdall_io.errors import ConfigError
from heimdall_io.service import ExportOptions, Service

from .client import RemoteClient
from .remotes import RemotesConfig
from .urls import open_bundle, open_output, scheme_of

__all__ = ["Counted", "Place", "copy", "parse_place", "pull", "push"]

Progress = Callable[[int], None] | None
#: Starts the progress display once the total size is known (None: unknown).
Start = Callable[[int | None], None] | None
_CONTENT_TYPES = {"none": "application/json", "zstd": "application/zstd",
                  "gzip": "application/gzip"}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """One end of a copy: ``kind`` is "local", "remote" or "bundle"."""

    kind: str
    location: str  # the remote's name, or the bundle's path or URL ("" for local)
    model_id: str | None = None

    def __str__(self) -> str:
        if self.kind == "bundle":
            return self.location
        return f"{self.location or 'local'}:{self.model_id or ''}"


def parse_place(text: str, config: RemotesConfig | None = None) -> Place:
    """``local:[ID]``, ``REMOTE:[ID]`` (a configured remote), a bundle URL, or a path."""
    if scheme_of(text) is not None:
        return Place("bundle", text)
    name, sep, rest = text.partition(":")
    if sep and name == "local":
        return Place("local", "", rest or None)
    if sep and name and "/" not in name:
        config = config or RemotesConfig()
        if name in config.remotes:
            return Place("remote", name, rest or None)
    return Place("bundle", text)


class Counted(ReadStream):
    """A readable stream that reports every byte read to ``progress``."""

    def __init__(self, src: Any, progress: Progress) -> None:
        self._src, self._progress = src, progress
        self.count = 0

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._src.read(size if size is not None and size >= 0 else 1 << 20)
        self.count += len(data)
        if self._progress is not None and data:
            self._progress(len(data))
        return data


def _chunks(src: Any, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := src.read(size):
        yield chunk


def push(
    service: Service,
    model_id: str,
    client: RemoteClient,
    options: ExportOptions,
    *,
    validate: bool = True,
    progress: Progress = None,
    start: Start = None,
) -> dict[str, Any]:
    """Export ``model_id`` from ``service`` straight into the remote's import."""
    stream = service.export_stream(model_id, options)
    if start is not None:
        start(stream.length)
    body = Counted(ChunkStream(iter(stream)), progress)
    try:
        return client.import_bundle(_chunks(body), stream.length, validate=validate,
                                    content_type=_CONTENT_TYPES[options.compression])  # fmt: skip
    finally:
        body.close()


def pull(
    client: RemoteClient,
    model_id: str,
    service: Service,
    options: ExportOptions,
    *,
    validate: bool = True,
    progress: Progress = None,
    start: Start = None,
) -> Any:
    """The remote's export of ``model_id`` straight into ``service``'s import (an
    ImportResult); a cut download resumes, the payload is verified at the end."""
    with client.open_export(model_id, options) as reader:
        if start is not None:
            start(reader.size)
        return service.import_bundle(Counted(reader, progress), validate=validate)  # type: ignore[arg-type]


@contextlib.contextmanager
def _open_source(
    place: Place, services: Callable[[], Service], clients: Callable[[str], RemoteClient],
    options: ExportOptions,
) -> Iterator[tuple[BinaryIO, int | None]]:  # fmt: skip
    if place.kind == "bundle":
        with open_bundle(place.location) as src:
            size = getattr(src, "size", None)
            if size is None and hasattr(src, "fileno"):
                with contextlib.suppress(OSError, ValueError):
                    size = os.fstat(src.fileno()).st_size or None
            yield src, size
        return
    if place.model_id is None:
        raise ConfigError(f"the source {place} names no model: {place}MODEL_ID")
    if place.kind == "local":
        stream = services().export_stream(place.model_id, options)
        chunks = ChunkStream(iter(stream))
        try:
            yield chunks, stream.length  # type: ignore[misc]
        finally:
            chunks.close()
        return
    with clients(place.location).open_export(place.model_id, options) as reader:
        yield reader, reader.size  # type: ignore[misc]


def _verified_copy(src: Any, out: BinaryIO) -> Any:
    """Copy every byte of ``src`` to ``out`` while the bundle reader checks them."""
    tee = _Tee(src, out)
    info = BundleReader(tee).finish()  # type: ignore[arg-type]
    while tee.read(1 << 20):  # the reader stops at the end of the document
        pass
    return info


class _Tee(ReadStream):
    def __init__(self, src: Any, out: BinaryIO) -> None:
        self._src, self._out = src, out

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._src.read(size if size is not None and size >= 0 else 1 << 20)
        if data:
            self._out.write(data)
        return data


def copy(
    src: Place,
    dst: Place,
    *,
    services: Callable[[], Service],
    clients: Callable[[str], RemoteClient],
    options: ExportOptions | None = None,
    validate: bool = True,
    force: bool = False,
    progress: Progress = None,
    start: Start = None,
) -> dict[str, Any]:
    """Copy the bundle at ``src`` to ``dst``; what was created, as JSON-ready fields."""
    options = options or ExportOptions()
    if dst.model_id is not None:
        raise ConfigError(f"the destination {dst} names a model: a copy always creates a new "
                          f"one (use {dst.location or 'local'}:)")  # fmt: skip
    if dst.kind == "bundle" and scheme_of(dst.location) in ("http", "https"):
        raise ConfigError("cannot write to http(s):// (destinations: local:, REMOTE:, a path, "
                          "s3://BUCKET/KEY)")  # fmt: skip
    with _open_source(src, services, clients, options) as (reader, size):
        if start is not None:
            start(size)
        body = Counted(reader, progress)
        out: dict[str, Any] = {"source": str(src), "destination": str(dst)}
        if dst.kind == "local":
            record = services().import_bundle(body, validate=validate).record  # type: ignore[arg-type]
            out.update(model_id=record.model_id, model_name=record.model_name,
                       onnx_md5=record.onnx_md5, onnx_sha256=record.onnx_sha256)  # fmt: skip
        elif dst.kind == "remote":
            created = clients(dst.location).import_bundle(_chunks(body), size, validate=validate)
            out.update({k: created.get(k) for k in
                        ("model_id", "model_name", "onnx_md5", "onnx_sha256")})  # fmt: skip
        else:
            with open_output(dst.location, force=force) as sink:
                info = _verified_copy(body, sink)
            out.update(onnx_md5=info.md5, onnx_sha256=info.sha256)
        out["bytes"] = body.count
        return out
