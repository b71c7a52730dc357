"""The OpenAPI 3.1 description of the REST API, and the types of its JSON bodies.

The schemas of models, audit entries and responses are generated from the msgspec types
the API encodes (:class:`~heimdall_io.storage.base.ModelRecord`,
:class:`~heimdall_io.storage.base.AuditEntry`, :class:`ImportResponse`, ...); the paths
are described here by hand, and a test checks they match the app's routes exactly.

``spec/openapi.json`` is this document, committed; :mod:`heimdall_io.api.spec` prints,
writes or checks it::

    python -m heimdall_io.api.spec            # print it
    python -m heimdall_io.api.spec --write    # (re)write spec/openapi.json
    python -m heimdall_io.api.spec --check    # exit 1 if spec/openapi.json is stale
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec

from heimdall_io.storage.base import AuditEntry, ModelRecord
from heimdall_io.version import __version__

from .openapi_parts import EXPORT_HEADERS, RANGE_PARAMETERS, BatchResponse, BatchResult
from .settings import DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, MAX_DESCRIPTION, MAX_NUM_SAMPLES


class ErrorBody(msgspec.Struct):
    """Every error response."""

    detail: str


class ImportResponse(msgspec.Struct, kw_only=True):
    """The model an import created."""

    model_id: str
    model_name: str
    version: int
    onnx_path: str | None
    onnx_size_bytes: int | None
    onnx_md5: str | None
    onnx_sha256: str | None
    source_model_id: str | None


class Health(msgspec.Struct):
    """``"ok"`` or the error of each part."""

    registry: str
    store: str


_REF = "#/components/schemas/{name}"

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

_NEW_MODEL_LINKS = {
    name: {"operationId": op, "parameters": {"model_id": "$response.body#/model_id"}}
    for name, op in (("GetModel", "getModel"), ("ExportModel", "exportModel"),
                     ("DeleteModel", "deleteModel"))
}  # fmt: skip


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("ErrorBody"))}


_MODEL_ID = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "description": "The model's UUID (422 if it is not one).",
    "schema": {"type": "string", "format": "uuid"},
}


def _bool_query(name: str, description: str, default: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " Accepts true, false, 1 or 0.",
        "schema": {"type": "boolean", "default": default},
    }


def _int_query(name: str, description: str, default: int, lo: int, hi: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "default": default, "minimum": lo, "maximum": hi},
    }


_AUTH_ERRORS = {
    "401": _error("No valid API key (only when API keys are configured)."),
    "403": _error("The API key's role does not allow this."),
}
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _paths() -> dict[str, Any]:
    bundle_schema = {"type": "string", "format": "binary"}
    return {
        "/api/v1/training/models": {
            "get": {
                "operationId": "listModels",
                "summary": "List all models, newest first (role: read).",
                "security": _BEARER,
                "responses": {
                    "200": {
                        "description": "The models.",
                        "content": _json_content({"type": "array", "items": _ref("ModelRecord")}),
                    },
                    **_AUTH_ERRORS,
                    "500": _error("Database error."),
                },
            }
        },
        "/api/v1/training/models/import": {
            "post": {
                "operationId": "importModel",
                "summary": "Import a .heimdall bundle as a new model (role: admin).",
                "description": (
                    "The request body is the bundle, whatever its Content-Type (curl "
                    "--data-binary sends application/x-www-form-urlencoded): JSON, or "
                    "zstd/gzip-compressed JSON (detected by its magic bytes; "
                    "Content-Encoding: zstd|gzip may say so). It is decoded, verified and "
                    "stored as it arrives. The model gets a new id and the name suffix "
                    "' (Imported)'; the object goes under imported/. All or nothing: a "
                    "rejected or interrupted import registers nothing. The body (and the "
                    "decoded model) may not exceed HEIMDALL_MAX_IMPORT_BYTES (default "
                    "104857600). A multipart/form-data body (a browser form, curl -F "
                    "file=@model.heimdall) is parsed as it streams: every part with a "
                    "filename is one bundle, imported all or nothing on its own (each up to "
                    "the limit); the answer lists one result per file, 201 if all were "
                    "imported, else 207."
                ),
                "security": _BEARER,
                "parameters": [
                    _bool_query("validate", "Check the model with onnx.checker."),
                    {
                        "name": "Content-Encoding",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "enum": ["identity", "gzip", "zstd"]},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "description": "The .heimdall bundle.",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object"},
                            "example": EXAMPLE_BUNDLE,
                        },
                        "application/octet-stream": {"schema": bundle_schema},
                        "application/zstd": {"schema": bundle_schema},
                        "application/gzip": {"schema": bundle_schema},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {
                                        "type": "array",
                                        "items": bundle_schema,
                                        "description": "One or more bundles (any field name).",
                                    }
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "201": {
                        "description": "Imported.",
                        "headers": {
                            "Location": {
                                "description": "The new model.",
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [_ref("ImportResponse"), _ref("BatchResponse")]
                                },
                            }
                        },
                        "links": _NEW_MODEL_LINKS,
                    },
                    "207": {
                        "description": "multipart: some files were not imported (see each).",
                        "content": _json_content(_ref("BatchResponse")),
                    },
                    "400": _error(
                        "Invalid bundle format: <reason> (or a malformed multipart "
                        "body, or one without a file)."
                    ),
                    **_AUTH_ERRORS,
                    "413": _error("The body or the model is over the size limit."),
                    "415": _error("An unsupported Content-Encoding."),
                    "422": _error("A malformed query value."),
                    "500": _error(
                        "Failed to upload ONNX to object store: ... / Failed to register model: ..."
                    ),
                },
            }
        },
        "/api/v1/training/models/{model_id}": {
            "get": {
                "operationId": "getModel",
                "summary": "One model's metadata (role: read).",
                "security": _BEARER,
                "parameters": [_MODEL_ID],
                "responses": {
                    "200": {
                        "description": "The model.",
                        "content": _json_content(_ref("ModelRecord")),
                    },
                    **_AUTH_ERRORS,
                    "404": _error("Model not found."),
                    "422": _error("model_id is not a UUID."),
                    "500": _error("Database error."),
                },
            },
            "delete": {
                "operationId": "deleteModel",
                "summary": "Delete a model: its row, then its object (role: admin).",
                "security": _BEARER,
                "parameters": [_MODEL_ID],
                "responses": {
                    "200": {
                        "description": "The deleted model.",
                        "content": _json_content(_ref("ModelRecord")),
                    },
                    **_AUTH_ERRORS,
                    "404": _error("Model not found."),
                    "422": _error("model_id is not a UUID."),
                    "500": _error("Database error."),
                },
            },
        },
        "/api/v1/training/models/{model_id}/export": {
            "get": {
                "operationId": "exportModel",
                "summary": "Export a model as a .heimdall bundle, streamed (role: read).",
                "description": (
                    'Content-Disposition: attachment; filename="{model_name}-v{version}'
                    '.heimdall". The bundle is encoded while it is sent. Errors found '
                    "before the first byte get a status code; an error after that aborts "
                    "the connection, so the body is never a complete bundle. An "
                    "uncompressed bundle has its length known in advance (Content-Length) "
                    "and a strong ETag. With ?bundle_id= its bytes are the same on every "
                    "request (created_at is the model's), so it honours Range (one range: "
                    "206, or 416 past the end) and If-Range; without it, Content-Location "
                    "names that pinned twin and a Range is ignored. A range is not "
                    "verified: check the whole payload's digests. zstd/gzip bundles are "
                    "chunked, without ETag or ranges."
                ),
                "security": _BEARER,
                "parameters": [
                    _MODEL_ID,
                    _bool_query("include_config", "Include training_config."),
                    _bool_query("include_metrics", "Include performance_metrics."),
                    _bool_query("include_normalization", "Include normalization_stats."),
                    _bool_query("include_samples", "Include sample_predictions."),
                    _int_query("num_samples", "Samples to include.", 5, 0, MAX_NUM_SAMPLES),
                    {
                        "name": "description",
                        "in": "query",
                        "required": False,
                        "description": "Stored in bundle_metadata.description.",
                        "schema": {"type": "string", "maxLength": MAX_DESCRIPTION},
                    },
                    {
                        "name": "compression",
                        "in": "query",
                        "required": False,
                        "description": (
                            "none: application/json; zstd: application/zstd; "
                            "gzip: application/gzip."
                        ),
                        "schema": {
                            "type": "string",
                            "enum": ["none", "zstd", "gzip"],
                            "default": "none",
                        },
                    },
                    _int_query("level", "Compression level (zstd 1-19, gzip 1-9).", 3, 1, 19),
                    *RANGE_PARAMETERS,
                ],
                "responses": {
                    "200": {
                        "description": "The bundle.",
                        "headers": EXPORT_HEADERS,
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "application/zstd": {"schema": bundle_schema},
                            "application/gzip": {"schema": bundle_schema},
                        },
                    },
                    "206": {
                        "description": "A byte range of a pinned, uncompressed bundle.",
                        "headers": {
                            **EXPORT_HEADERS,
                            "Content-Range": {
                                "description": "bytes START-END/LENGTH",
                                "schema": {"type": "string"},
                            },
                        },
                        "content": {"application/json": {"schema": bundle_schema}},
                    },
                    "416": _error("The range starts past the end (Content-Range: bytes */N)."),
                    **_AUTH_ERRORS,
                    "404": _error("Model not found."),
                    "422": _error("model_id is not a UUID, or a query value is malformed."),
                    "500": _error("Failed to download ONNX model: ... / Database error."),
                },
            }
        },
        "/api/v1/training/audit": {
            "get": {
                "operationId": "auditHistory",
                "summary": "Exports, imports, registrations, deletions; newest first (role: read).",
                "security": _BEARER,
                "parameters": [
                    _int_query(
                        "limit", "At most this many.", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The entries.",
                        "content": _json_content({"type": "array", "items": _ref("AuditEntry")}),
                    },
                    **_AUTH_ERRORS,
                    "422": _error("A malformed limit."),
                    "500": _error("Database error."),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Whether the registry and the object store answer (no key needed).",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Both answer.",
                        "content": _json_content(_ref("Health")),
                    },
                    "503": {
                        "description": "A part is down: its value is the error.",
                        "content": _json_content(_ref("Health")),
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This description (no key needed).",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": _json_content({"type": "object"}),
                    }
                },
            }
        },
    }


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    _, components = msgspec.json.schema_components(
        [ModelRecord, AuditEntry, ImportResponse, BatchResponse, ErrorBody, Health],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "heimdall-io",
            "version": __version__,
            "description": (
                "Move trained ONNX models between Heimdall instances as .heimdall bundles. "
                "When API keys are configured (HEIMDALL_API_KEYS), send Authorization: "
                "Bearer <key>; read keys may list, show, export and read the audit "
                "history, admin keys may also import and delete. Errors are "
                '{"detail": "..."}.'
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8001"}],
        "paths": _paths(),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from HEIMDALL_API_KEYS or HEIMDALL_API_KEYS_FILE.",
                }
            },
        },
    }


def render() -> str:
    """The document as committed: indented, keys in order, newline at the end."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


@functools.cache
def document_bytes() -> bytes:
    """:func:`render` as UTF-8, built once: what ``GET /openapi.json`` serves."""
    return render().encode()


__all__ = [
    "EXAMPLE_BUNDLE",
    "BatchResponse",
    "BatchResult",
    "ErrorBody",
    "Health",
    "ImportResponse",
    "build",
    "document_bytes",
    "render",
]
