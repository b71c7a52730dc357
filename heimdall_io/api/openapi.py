"""The OpenAPI 3.1 description of the REST API.

The schemas of models, audit entries and responses are generated from the msgspec types
the API encodes (:class:`~heimdall_io.storage.base.ModelRecord`,
:class:`~heimdall_io.storage.base.AuditEntry`, and those of :mod:`~heimdall_io.api.bodies`:
:class:`~heimdall_io.api.bodies.ModelSummary`, ...); the paths
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

from . import openapi_parts as parts
from .bodies import ErrorBody, Health, ImportResponse, ModelSummary
from .openapi_common import (
    MODEL_ID_PARAMETER,
    REF_TEMPLATE,
    error_response,
    json_content,
    ref,
    string_header,
)
from .openapi_web import SCHEMA_TYPES as WEB_SCHEMA_TYPES
from .openapi_web import web_paths
from .settings import (
    DEFAULT_AUDIT_LIMIT,
    DEFAULT_LIST_LIMIT,
    MAX_AUDIT_LIMIT,
    MAX_DESCRIPTION,
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    MAX_NUM_SAMPLES,
    REQUEST_BODY_TIMEOUT_ENV,
    RETRY_AFTER_SECONDS,
)

_NEW_MODEL_LINKS = {
    name: {"operationId": op, "parameters": {"model_id": "$response.body#/model_id"}}
    for name, op in (("GetModel", "getModel"), ("ExportModel", "exportModel"),
                     ("DeleteModel", "deleteModel"))
}  # fmt: skip


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


#: Export and import alike: which metadata sections to write (export) or store (import; the
#: audit entry names those left out).
_SECTION_QUERIES = [
    _bool_query("include_config", "Include training_config."),
    _bool_query("include_metrics", "Include performance_metrics."),
    _bool_query("include_normalization", "Include normalization_stats."),
    _bool_query("include_samples", "Include sample_predictions."),
]

_AUTH_ERRORS = {
    "401": error_response("No valid API key (only when API keys are configured)."),
    "403": error_response("The API key's role does not allow this."),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": f"Seconds to wait before trying again ({RETRY_AFTER_SECONDS}).",
        "schema": {"type": "integer"},
    }
}
#: The database did not answer in time (a timeout, a lock).
_UNAVAILABLE = {
    "503": {
        "description": "The database did not answer in time: try again after Retry-After.",
        "headers": _RETRY_AFTER,
        "content": json_content(ref("ErrorBody")),
    }
}
_SERVER_ERROR = (
    " The detail names no server, user or path; it ends with (ref <8 hex>), the key to the "
    "server log's entry."
)
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _list_responses(
    item: str, description: str, malformed: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The answers of a paged list of ``item``s."""
    ok: dict[str, Any] = {"description": description}
    if headers:
        ok["headers"] = headers
    ok["content"] = json_content({"type": "array", "items": ref(item)})
    return {
        "200": ok,
        **_AUTH_ERRORS,
        "422": error_response(malformed),
        "500": error_response("Database error." + _SERVER_ERROR),
        **_UNAVAILABLE,
    }


def _model_responses(description: str) -> dict[str, Any]:
    """The answers of an operation on one model that returns its record."""
    return {
        "200": {"description": description, "content": json_content(ref("ModelRecord"))},
        **_AUTH_ERRORS,
        "404": error_response("Model not found."),
        "422": error_response("model_id is not a UUID."),
        "500": error_response("Database error." + _SERVER_ERROR),
        **_UNAVAILABLE,
    }


def _paths() -> dict[str, Any]:
    bundle_schema = {"type": "string", "format": "binary"}
    return {
        "/api/v1/training/models": {
            "get": {
                "operationId": "listModels",
                "summary": "A page of models, newest first (role: read).",
                "description": (
                    "Each model as a summary: its record without training_metrics and "
                    "extra (GET /models/{model_id} has them). When more models follow the "
                    'page, a Link: <...?limit=L&offset=O>; rel="next" header names the next '
                    "page."
                ),
                "security": _BEARER,
                "parameters": [
                    _int_query("limit", "Models per page.", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT),
                    _int_query("offset", "Models to skip.", 0, 0, MAX_LIST_OFFSET),
                ],
                "responses": _list_responses(
                    "ModelSummary",
                    "The page.",
                    "A malformed limit or offset.",
                    headers={
                        "Link": string_header('The next page, rel="next" (absent on the last).')
                    },
                ),
            }
        },
        "/api/v1/training/models/import": {
            "post": {
                "operationId": "importModel",
                "summary": "Import a .heimdall bundle as a new model (role: admin).",
                "description": (
                    "The request body is the bundle: JSON, or zstd/gzip-compressed JSON "
                    "(detected by its magic bytes; Content-Encoding: zstd|gzip may say so). "
                    "It is decoded, verified and stored as it arrives. The model gets a new "
                    "id and the name suffix ' (Imported)'; the object goes under imported/. "
                    "All or nothing: a rejected or interrupted import registers nothing. "
                    "The body (and the decoded model) may not exceed "
                    "HEIMDALL_MAX_IMPORT_BYTES (default 104857600). A client that sends "
                    f"nothing for {REQUEST_BODY_TIMEOUT_ENV} seconds (default 60) mid-body "
                    "gets 408 and the connection is closed. " + parts.IMPORT_BODIES
                ),
                "security": _BEARER,
                "parameters": [
                    _bool_query("validate", "Check the model with onnx.checker."),
                    _bool_query(
                        "mlflow",
                        "Also register the model in the server's MLflow (HEIMDALL_MLFLOW_URI):"
                        " a run and a model version. If MLflow fails, the import stands and"
                        " `warnings` says why.",
                        False,
                    ),
                    _bool_query(
                        "mlflow_required",
                        "As mlflow, but if MLflow fails the import is rolled back (502).",
                        False,
                    ),
                    *_SECTION_QUERIES,
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
                            "example": parts.EXAMPLE_BUNDLE,
                        },
                        "application/octet-stream": {"schema": bundle_schema},
                        "application/zstd": {"schema": bundle_schema},
                        "application/gzip": {"schema": bundle_schema},
                        **parts.BATCH_CONTENT,
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
                        "content": json_content(
                            {"oneOf": [ref("ImportResponse"), ref("BatchResponse")]}
                        ),
                        "links": _NEW_MODEL_LINKS,
                    },
                    **parts.BATCH_RESPONSES,
                    "400": error_response(
                        "Invalid bundle format: <reason> (or a bad multipart body)."
                    ),
                    **_AUTH_ERRORS,
                    "403": error_response(
                        "The API key's role does not allow this; or the import policy"
                        " (HEIMDALL_TRUSTED_KEYS, HEIMDALL_REQUIRE_SIGNATURE) rejected the"
                        " bundle's signatures: Signature rejected: <reason>."
                    ),
                    "408": error_response(
                        "The body stalled: nothing arrived for the body timeout."
                    ),
                    "413": error_response("The body or the model is over the size limit."),
                    "415": error_response("An unsupported Content-Encoding."),
                    "422": error_response(
                        "A malformed query value, or mlflow=true on a server without an MLflow URI."
                    ),
                    "500": error_response(
                        "Failed to upload ONNX to object store / Failed to register model."
                        + _SERVER_ERROR
                    ),
                    "501": error_response("mlflow=true on a server without the MLflow client."),
                    "502": error_response(
                        "mlflow_required=true and MLflow failed: nothing imported."
                    ),
                    **_UNAVAILABLE,
                },
            }
        },
        "/api/v1/training/models/{model_id}": {
            "get": {
                "operationId": "getModel",
                "summary": "One model's metadata (role: read).",
                "security": _BEARER,
                "parameters": [MODEL_ID_PARAMETER],
                "responses": _model_responses("The model."),
            },
            "delete": {
                "operationId": "deleteModel",
                "summary": "Delete a model: its row, then its object (role: admin).",
                "security": _BEARER,
                "parameters": [MODEL_ID_PARAMETER],
                "responses": _model_responses("The deleted model."),
            },
        },
        "/api/v1/training/models/{model_id}/export": {
            "get": {
                "operationId": "exportModel",
                "summary": "Export a model as a .heimdall bundle, streamed (role: read).",
                "description": (
                    'Content-Disposition: attachment; filename="{model_name}-v{version}'
                    '.heimdall". The bundle is encoded while it is sent. Errors found before '
                    "the first byte get a status code; an error after that aborts the "
                    "connection, so the body is never a complete bundle. " + parts.EXPORT_RANGES
                ),
                "security": _BEARER,
                "parameters": [
                    MODEL_ID_PARAMETER,
                    *_SECTION_QUERIES,
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
                    *parts.RANGE_PARAMETERS,
                ],
                "responses": {
                    "200": {
                        "description": "The bundle.",
                        "headers": parts.EXPORT_HEADERS,
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "application/zstd": {"schema": bundle_schema},
                            "application/gzip": {"schema": bundle_schema},
                        },
                    },
                    **_AUTH_ERRORS,
                    "404": error_response("Model not found."),
                    **parts.RANGE_RESPONSES,
                    "422": error_response("model_id is not a UUID, or a query value is malformed."),
                    "500": error_response(
                        "Failed to download ONNX model / Database error." + _SERVER_ERROR
                    ),
                    **_UNAVAILABLE,
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
                "responses": _list_responses("AuditEntry", "The entries.", "A malformed limit."),
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Whether the registry and the object store answer (no key needed).",
                "description": (
                    "Each part is pinged for at most HEIMDALL_HEALTH_TIMEOUT seconds "
                    '(default 5); its value is "ok" or "unavailable" (the reason is in the '
                    "server log)."
                ),
                "security": [],
                "responses": {
                    "200": {
                        "description": "Both answer.",
                        "content": json_content(ref("Health")),
                    },
                    "503": {
                        "description": 'A part is "unavailable".',
                        "headers": _RETRY_AFTER,
                        "content": json_content(ref("Health")),
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
                        "content": json_content({"type": "object"}),
                    }
                },
            }
        },
    }


def build() -> dict[str, Any]:
    """The OpenAPI document as a dict."""
    _, components = msgspec.json.schema_components(
        [
            ModelRecord,
            ModelSummary,
            AuditEntry,
            ImportResponse,
            parts.BatchResponse,
            ErrorBody,
            Health,
            *WEB_SCHEMA_TYPES,
        ],
        ref_template=REF_TEMPLATE,
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
        "paths": {**_paths(), **web_paths()},
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "An API key from HEIMDALL_API_KEYS or HEIMDALL_API_KEYS_FILE: 16 to "
                        "512 characters of ASCII letters, digits and - . _ ~ + /, optionally "
                        "ending in = (an RFC 6750 b64token)."
                    ),
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
    "ErrorBody",
    "Health",
    "ImportResponse",
    "ModelSummary",
    "build",
    "document_bytes",
    "render",
]
