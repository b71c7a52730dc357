"""Parts of the OpenAPI description for moving models: the export's size, ETag and range
headers and parameters, and the answer of a multipart (batch) import."""

from __future__ import annotations

from typing import Any

import msgspec

from .openapi_common import ref, string_header

__all__ = [
    "BATCH_CONTENT",
    "BATCH_RESPONSES",
    "EXAMPLE_BUNDLE",
    "EXPORT_HEADERS",
    "EXPORT_RANGES",
    "IMPORT_BODIES",
    "RANGE_PARAMETERS",
    "RANGE_RESPONSES",
    "BatchResponse",
    "BatchResult",
]

_BINARY = {"type": "string", "format": "binary"}


#: The import's description, continued: any Content-Type, and multipart batches.
IMPORT_BODIES = (
    "The raw body is the bundle whatever its Content-Type (curl --data-binary sends "
    "application/x-www-form-urlencoded). A multipart/form-data body (a browser form, curl -F "
    "file=@model.heimdall) is parsed as it streams: every part with a filename is one bundle, "
    "imported all or nothing on its own (each up to the limit); the answer lists one result "
    "per file, 201 if all were imported, else 207."
)

#: The multipart request body of the import.
BATCH_CONTENT: dict[str, Any] = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {
                "file": {
                    "type": "array",
                    "items": _BINARY,
                    "description": "One or more bundles (any field name; parts with a filename).",
                }
            },
        }
    }
}

#: The multipart import's partial success.
BATCH_RESPONSES: dict[str, Any] = {
    "207": {
        "description": "multipart: some files were not imported (each result says why).",
        "content": {"application/json": {"schema": ref("BatchResponse")}},
    }
}

#: The export's description, continued: length, ETag, pinned ids and ranges.
EXPORT_RANGES = (
    "An uncompressed bundle has its length known in advance (Content-Length) and a strong "
    "ETag. With ?bundle_id= its bytes are the same on every request (created_at is the "
    "model's), so it honours Range (one range: 206, or 416 past the end) and If-Range; "
    "without it, Content-Location names that pinned twin and a Range is ignored. A range is "
    "not verified: check the whole payload's digests (and each external data file's). "
    "zstd/gzip bundles are chunked, without ETag or ranges."
)


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
    "Content-Disposition": string_header('attachment; filename="<name>-v<version>.heimdall"'),
    "ETag": string_header("A strong tag of these exact bytes (uncompressed bundles)."),
    "Accept-Ranges": string_header("bytes (with ?bundle_id=), else none."),
    "Content-Location": string_header(
        "Without ?bundle_id=: the same bundle, pinned (resume from there)."
    ),
    "X-Heimdall-Bundle-Id": string_header("The bundle's bundle_metadata.bundle_id."),
}


#: The export's byte ranges, and where they start past the end.
RANGE_RESPONSES: dict[str, Any] = {
    "206": {
        "description": "A byte range of a pinned, uncompressed bundle.",
        "headers": {
            **EXPORT_HEADERS,
            "Content-Range": string_header("bytes START-END/LENGTH"),
        },
        "content": {"application/json": {"schema": _BINARY}},
    },
    "416": {
        "description": "The range starts past the end (Content-Range: bytes */LENGTH).",
        "content": {"application/json": {"schema": ref("ErrorBody")}},
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


#: A complete, valid bundle (a 100-byte ONNX Identity model), the import's example: it lets
#: API fuzzers reach a 201 and follow the links to the new model.
EXAMPLE_BUNDLE: dict[str, Any] = {
    "format_version": "1.0.0",
    "bundle_metadata": {
        "bundle_id": "6f1c2f4e-0000-4000-8000-000000000001",
        "created_at": "2025-11-03T00:00:00Z",
        "exported_by": "Heimdall Training Service",
        "description": "OpenAPI example",
    },
    "model": {
        "model_id": "6f1c2f4e-0000-4000-8000-000000000002",
        "model_name": "Example",
        "version": 1,
        "architecture": "Identity",
        "framework": "onnx",
        "onnx_opset": 17,
        "onnx_model_base64": "CAgSE2hlaW1kYWxsLWlvLWV4YW1wbGU6RQoQCgFYEgFZIghJZGVudGl0eRIHZXhhbXBs"
        "ZVoTCgFYEg4KDAgBEggKAggBCgIIAmITCgFZEg4KDAgBEggKAggBCgIIAkIECgAQEQ==",
        "input_shape": [1, 2],
        "output_shape": [1, 2],
        "parameters_count": 0,
    },
}
