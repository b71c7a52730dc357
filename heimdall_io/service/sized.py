"""Exports with a known size: pinned bundle ids, Content-Length, strong ETags and ranges.

A plain bundle of a registered model is ``head + base64(ONNX) + tail`` (with external data
files, one more base64 text per file between literal parts); the registry holds every
size and checksum, so its length is known before a byte is read
(:mod:`heimdall_io.codec.ranges`). When the bundle's identity is pinned (an explicit
``bundle_id``, or ``reproducible``), ``created_at`` is the model's creation time, so the
same model and options give the same bytes every time: a download can then be resumed
with an HTTP Range request, and the ETag (a digest of the head, the payload's SHA-256 and
the tail) names those bytes exactly.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import uuid
from collections.abc import Iterator
from typing import Any

from ..codec import BundleEncoder, ExternalSource
from ..codec.ranges import iter_range, plain_layout, plain_length
from ..errors import ChecksumMismatchError, HeimdallError
from ..storage.base import ModelRecord
from .context import Context

# The ExportStream and ExportOptions arguments are typed Any: service.exporting imports
# this module, so it cannot import them back.
__all__ = ["describe", "etag_of", "external_sources", "pin", "reproducible_bundle_id"]

#: The namespace of reproducible bundle ids (uuid5).
BUNDLE_NAMESPACE = uuid.UUID("5d8a6c1e-7f3b-4d0a-9a51-6b2f0c9e4a11")


def reproducible_bundle_id(record: ModelRecord, options: Any) -> str:
    """The bundle id ``export --reproducible`` pins: a function of the model and options."""
    fields = (
        record.model_id, record.onnx_sha256, options.include_config, options.include_metrics,
        options.include_normalization, options.include_samples, options.num_samples,
        options.description, options.compression, options.level,
    )  # fmt: skip
    return str(uuid.uuid5(BUNDLE_NAMESPACE, repr(fields)))


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def pin(header: dict[str, Any], record: ModelRecord, options: Any) -> dict[str, Any]:
    """``header`` with a pinned bundle id and the model's ``created_at``, when asked for."""
    bundle_id = options.bundle_id
    if bundle_id is None and options.reproducible:
        bundle_id = reproducible_bundle_id(record, options)
    if bundle_id is not None:
        meta = header["bundle_metadata"]
        meta["bundle_id"] = bundle_id
        meta["created_at"] = _iso(record.created_at)
    return header


def external_sources(ctx: Context, record: ModelRecord) -> list[ExternalSource]:
    """The external data files of ``record`` for an encoder, each opened from the store
    when its turn comes and checked against the registry's size and digests."""
    return [ExternalSource(f["path"], f["size_bytes"], functools.partial(ctx.store.open, f["key"]),
                           f.get("md5"), f.get("sha256"))
            for f in record.external_data or ()]  # fmt: skip


def _encoder(ctx: Context, stream: Any, payload: Any) -> BundleEncoder:
    """The encoder ``stream`` writes with (its version and checksums), over ``payload``."""
    record = stream.record
    return BundleEncoder(
        stream.header, payload, size=record.onnx_size_bytes, md5=record.onnx_md5,
        sha256=record.onnx_sha256, format_version=stream.format_version,
        checksums=stream.checksums, external=external_sources(ctx, record),
    )  # fmt: skip


def etag_of(encoder: BundleEncoder) -> str:
    """A strong ETag of a sized plain bundle: its literal parts (head, tail, ...) and the
    SHA-256 of each payload (the model's, then each external data file's)."""
    layout = plain_layout(encoder)
    assert layout is not None
    sha256 = [encoder.known["onnx_sha256"], *(s.sha256 for s in encoder.external)]
    digest = hashlib.sha256()
    for part in layout:
        digest.update(part if isinstance(part, bytes) else
                      b"\0" + str(sha256[part[0]]).encode() + b"\0")  # fmt: skip
    return f'"{digest.hexdigest()[:40]}"'


def describe(ctx: Context, stream: Any, options: Any) -> None:
    """Set ``stream.length``, ``etag`` and ``ranges`` when the length is known in advance."""
    record = stream.record
    if options.compression != "none" or record.onnx_size_bytes is None:
        return
    encoder = _encoder(ctx, stream, io.BytesIO())
    length = plain_length(encoder)
    if length is None:
        return
    stream.length = length
    stream.etag = etag_of(encoder)

    def ranges(start: int, stop: int) -> Iterator[bytes]:
        return _range_chunks(ctx, stream, start, stop)

    stream.ranges = ranges


def _range_chunks(ctx: Context, stream: Any, start: int, stop: int) -> Iterator[bytes]:
    record = stream.record
    bundle_id = stream.header["bundle_metadata"]["bundle_id"]
    detail = f"bundle {bundle_id} bytes {start}-{stop - 1}"
    try:
        with ctx.store.open(record.onnx_path or "") as payload:
            for chunk in iter_range(_encoder(ctx, stream, payload), start, stop):
                stream.bytes_out += len(chunk)
                yield chunk
    except HeimdallError as e:
        ctx.audit(action="export", result="error", model_id=record.model_id,
                  detail=f"{detail}: {e}")  # fmt: skip
        raise
    except GeneratorExit:
        ctx.audit(action="export", result="error", model_id=record.model_id,
                  detail=f"{detail}: client went away before the range was sent")  # fmt: skip
        raise
    except EOFError as e:
        ctx.audit(action="export", result="error", model_id=record.model_id,
                  detail=f"{detail}: {e}")  # fmt: skip
        raise ChecksumMismatchError(f"stored object of {record.model_id} is short: {e}") from e
    ctx.audit(action="export", result="ok", model_id=record.model_id, detail=detail)
