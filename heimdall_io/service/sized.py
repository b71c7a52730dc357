"""Exports with a known size: pinned bundle ids, Content-Length, strong ETags and ranges.

A plain bundle of a registered model is ``head + base64(ONNX) + tail``; the registry holds
the ONNX size and checksums, so its length is known before a byte is read
(:mod:`heimdall_io.codec.ranges`). When the bundle's identity is pinned (an explicit
``bundle_id``, or ``reproducible``), ``created_at`` is the model's creation time, so the
same model and options give the same bytes every time: a download can then be resumed
with an HTTP Range request, and the ETag (a digest of the head, the payload's SHA-256 and
the tail) names those bytes exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Iterator
from typing import Any

from ..codec import BundleEncoder
from ..codec.ranges import iter_range, plain_length
from ..errors import ChecksumMismatchError, HeimdallError
from ..storage.base import ModelRecord
from .context import Context

# The ExportStream and ExportOptions arguments are typed Any: service.exporting imports
# this module, so it cannot import them back.
__all__ = ["describe", "etag_of", "pin", "reproducible_bundle_id"]

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


def _encoder(stream: Any, payload: Any) -> BundleEncoder:
    """The encoder ``stream`` writes with (its version and checksums), over ``payload``."""
    record = stream.record
    return BundleEncoder(
        stream.header, payload, size=record.onnx_size_bytes, md5=record.onnx_md5,
        sha256=record.onnx_sha256, format_version=stream.format_version,
        checksums=stream.checksums,
    )  # fmt: skip


def etag_of(encoder: BundleEncoder) -> str:
    """A strong ETag of a sized plain bundle: its head, payload SHA-256 and tail."""
    digest = hashlib.sha256(encoder.head())
    digest.update(b"\0" + str(encoder.known["onnx_sha256"]).encode() + b"\0")
    digest.update(encoder.tail())
    return f'"{digest.hexdigest()[:40]}"'


def describe(ctx: Context, stream: Any, options: Any) -> None:
    """Set ``stream.length``, ``etag`` and ``ranges`` when the length is known in advance."""
    record = stream.record
    if options.compression != "none" or record.onnx_size_bytes is None or record.external_data:
        return  # (a model of several objects is sent whole, its length not computed)
    encoder = _encoder(stream, io.BytesIO())
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
            for chunk in iter_range(_encoder(stream, payload), start, stop):
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
