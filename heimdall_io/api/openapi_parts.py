"""Parts of the OpenAPI description for moving models: the export's size, ETag and range
headers and parameters, and the answer of a multipart (batch) import."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["EXPORT_HEADERS", "RANGE_PARAMETERS", "BatchResponse", "BatchResult"]


class BatchResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One file of a multipart import: the imported model (status 201) or why not."""

    status: int
    filename: str | None
    field: str | None
    detail: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    version: int | None = None
    onnx_path: str | None = None
    onnx_size_bytes: int | None = None
    onnx_md5: str | None = None
    onnx_sha256: str | None = None
    source_model_id: str | None = None


class BatchResponse(msgspec.Struct):
    """A multipart import: one result per file part, in order."""

    results: list[BatchResult]


EXPORT_HEADERS: dict[str, Any] = {
    "Content-Disposition": {
        "description": 'attachment; filename="<name>-v<version>.heimdall"',
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": "A strong tag of these exact bytes (uncompressed bundles).",
        "schema": {"type": "string"},
    },
    "Accept-Ranges": {
        "description": "bytes (with ?bundle_id=), else none.",
        "schema": {"type": "string"},
    },
    "Content-Location": {
        "description": "Without ?bundle_id=: the same bundle, pinned (resume from there).",
        "schema": {"type": "string"},
    },
    "X-Heimdall-Bundle-Id": {
        "description": "The bundle's bundle_metadata.bundle_id.",
        "schema": {"type": "string"},
    },
}


#: The export's ?bundle_id=, Range and If-Range.
RANGE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "bundle_id",
        "in": "query",
        "required": False,
        "description": (
            "Pin the bundle's id (its created_at is then the model's): the "
            "same request gives the same bytes, and byte ranges."
        ),
        "schema": {"type": "string", "format": "uuid"},
    },
    {
        "name": "Range",
        "in": "header",
        "required": False,
        "description": "bytes=START-[END] or bytes=-SUFFIX (pinned exports).",
        "schema": {"type": "string"},
    },
    {
        "name": "If-Range",
        "in": "header",
        "required": False,
        "description": "The ETag of an earlier answer: else the whole bundle.",
        "schema": {"type": "string"},
    },
]
