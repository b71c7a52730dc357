"""Export: a registered model out as a bundle, streamed as it is encoded."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec import BundleEncoder
from ..codec.checksums import Digests
from ..codec.compression import NONE
from ..codec.encoder import needs_1_2
from ..errors import HeimdallError, NotFoundError
from ..files.layout import DEFAULT_MODEL_FILE
from ..files.paths import atomic_output
from ..format.document import (
    EXTERNAL_CHECKSUM_KEYS,
    EXTERNAL_DATA_KEY,
    FORMAT_1_2,
    FORMAT_VERSION,
)
from ..format.header import SECTIONS, new_header
from ..storage.base import ModelRecord
from . import signatures, sized
from .context import Context, Progress
from .records import model_fields, sections_of

if TYPE_CHECKING:
    from ..signing.keys import SecretKey
    from ..tools.upstream import UpstreamOverrides


@dataclass
class ExportOptions:
    """Which sections go into the bundle, and how it is compressed.

    Example::

        options = ExportOptions(include_samples=False, compression="zstd")
        service.export_to_path(model_id, "model.heimdall", options)
    """

    include_config: bool = True
    include_metrics: bool = True
    include_normalization: bool = True
    include_samples: bool = True
    num_samples: int = 5
    description: str | None = None
    compression: str = NONE
    level: int = 3
    #: Pins the bundle's identity: with it, ``created_at`` is the model's, so the same
    #: options give the same bytes (what lets HTTP exports resume; see service.sized).
    bundle_id: str | None = None
    #: Pin a bundle id derived from the model and these options (``export --reproducible``).
    reproducible: bool = False
    #: Top-level members to add (e.g. ``mlflow``); they replace those an imported bundle
    #: brought along.
    extra: dict[str, Any] | None = None
    #: Another format (``1.0.0``, ``1.2.0``) or ``upstream`` (see heimdall_io.tools.convert).
    to: str | None = None
    #: For ``to="upstream"``: values of required model fields the record lacks.
    overrides: UpstreamOverrides | None = None
    #: Keys to sign the bundle with (format 1.2.0, one signature each); none: unsigned.
    sign_with: tuple[SecretKey, ...] = ()


class ExportStream:
    """A bundle being exported: iterate for its bytes (the object is read as you go).

    Example::

        stream = service.export_stream(model_id, ExportOptions())
        with open("model.heimdall", "wb") as out:
            for chunk in stream:
                out.write(chunk)
    """

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
        #: What a conversion (``ExportOptions.to``) left out, and how the bundle is written.
        self.warnings: list[str] = []
        self.format_version = FORMAT_VERSION
        self.checksums = True
        #: The exact byte length, when known in advance (a plain bundle), and then its
        #: strong ETag and ``ranges(start, stop)``: any byte range, unverified.
        self.length: int | None = None
        self.etag: str | None = None
        self.ranges: Callable[[int, int], Iterator[bytes]] | None = None
        self._chunks = chunks(self)

    @property
    def filename(self) -> str:
        """``<name>-v<version>.heimdall``, safe as a file name."""
        safe = re.sub(r"[^A-Za-z0-9 ._()-]+", "_", self.record.model_name).strip() or "model"
        return f"{safe}-v{self.record.version}.heimdall"

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


def export_header(record: ModelRecord, options: ExportOptions) -> dict[str, Any]:
    """The bundle header (everything but the payload) for ``record``."""
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
    extra = {**((record.extra or {}).get("top") or {}), **(options.extra or {})}
    header = new_header(
        model_fields(record), description=options.description, sections=sections, extra=extra
    )
    if record.external_data:  # declared (and signed) as the encoder writes them
        header["model"].setdefault("onnx_file", DEFAULT_MODEL_FILE)  # external data follows
        header["model"][EXTERNAL_DATA_KEY] = [
            {k: f[k] for k in ("path", *EXTERNAL_CHECKSUM_KEYS) if f.get(k) is not None}
            for f in record.external_data
        ]
    return header


def export_stream(
    ctx: Context, model_id: str, options: ExportOptions, progress: Progress = None
) -> ExportStream:
    """Prepare an export; the object is opened when the stream is first iterated."""
    record = ctx.registry.get(model_id)
    if not record.onnx_path:
        raise NotFoundError(f"Model {model_id} has no ONNX object")
    header = sized.pin(export_header(record, options), record, options)
    target = None
    if options.to is not None:
        from ..tools.convert import target_document  # only for --to conversions

        target = target_document(header, options.to, overrides=options.overrides)
        header = target.header
    # The provenance the model came with and the new signatures: format 1.2.0 only.
    signatures.check_target(options.to, options.sign_with)
    if options.to in (None, FORMAT_1_2):
        header = signatures.prepare_export(ctx, record, header, options.sign_with)
    stream = ExportStream(record, header, lambda s: _chunks(ctx, s, options, progress))
    if target is not None:
        stream.warnings = target.warnings
        stream.format_version, stream.checksums = target.format_version, target.checksums
    if needs_1_2(header):
        stream.format_version = FORMAT_1_2
    sized.describe(ctx, stream, options)
    return stream


def export_to_path(
    ctx: Context,
    model_id: str,
    out_path: str,
    options: ExportOptions,
    *,
    force: bool = False,
    progress: Progress = None,
) -> ExportStream:
    """Export to a file (written beside it, renamed when complete) or ``-``."""
    stream = export_stream(ctx, model_id, options, progress)
    with atomic_output(out_path, force=force) as out:
        for chunk in stream:
            out.write(chunk)
    return stream


def _chunks(
    ctx: Context, stream: ExportStream, options: ExportOptions, progress: Progress
) -> Iterator[bytes]:
    record = stream.record
    try:
        with ctx.store.open(record.onnx_path or "") as payload:
            encoder = BundleEncoder(
                stream.header, payload, size=record.onnx_size_bytes, md5=record.onnx_md5,
                sha256=record.onnx_sha256, compression=options.compression,
                level=options.level, progress=progress, format_version=stream.format_version,
                checksums=stream.checksums, external=sized.external_sources(ctx, record),
            )  # fmt: skip
            for chunk in encoder:
                stream.bytes_out += len(chunk)
                yield chunk
            stream.digests = encoder.result.digests
    except HeimdallError as e:
        ctx.audit(action="export", result="error", model_id=record.model_id, detail=str(e))
        raise
    except GeneratorExit:
        ctx.audit(action="export", result="error", model_id=record.model_id,
                  detail="client went away before the export finished")  # fmt: skip
        raise
    d = stream.digests
    assert d is not None
    ctx.audit(action="export", result="ok", model_id=record.model_id, bytes=d.size,
              onnx_md5=d.md5, onnx_sha256=d.sha256,
              signer_key_id=signatures.signer_ids(stream.header),
              detail=f"bundle {stream.header['bundle_metadata']['bundle_id']}")  # fmt: skip
