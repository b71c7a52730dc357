"""The OpenAPI description of the web page's routes (:mod:`~heimdall_io.api.web`,
:mod:`~heimdall_io.api.downloads`) and the types of their JSON bodies.

:mod:`heimdall_io.api.openapi` merges these paths and schemas into the one document; they
live here so that the page's routes change in one place (and openapi.py stays small).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .openapi_common import MODEL_ID_PARAMETER, error_response, json_content, ref
from .settings import MAX_DESCRIPTION, MAX_NUM_SAMPLES


class RoleInfo(msgspec.Struct, kw_only=True):
    """What the caller may do: the page shows or hides admin actions by it, and checks a
    file's size against the import limit before it uploads it."""

    role: Literal["admin", "read", "anonymous"]
    keys_required: bool
    max_import_bytes: int | None


class DownloadLink(msgspec.Struct, kw_only=True):
    """A short-lived URL that exports one model with the options it was asked for."""

    url: str
    expires_in: int
    expires_at: str


#: The types above, for the document's components.
SCHEMA_TYPES = (RoleInfo, DownloadLink)


def _bool(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"Include {what}. Accepts true, false, 1 or 0.",
        "schema": {"type": "boolean", "default": True},
    }


def export_parameters() -> list[dict[str, Any]]:
    """The export's options, as ``GET .../export`` takes them."""
    return [
        _bool("include_config", "training_config"),
        _bool("include_metrics", "performance_metrics"),
        _bool("include_normalization", "normalization_stats"),
        _bool("include_samples", "sample_predictions"),
        {"name": "num_samples", "in": "query", "required": False,
         "schema": {"type": "integer", "default": 5, "minimum": 0, "maximum": MAX_NUM_SAMPLES}},
        {"name": "description", "in": "query", "required": False,
         "schema": {"type": "string", "maxLength": MAX_DESCRIPTION}},
        {"name": "compression", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["none", "zstd", "gzip"], "default": "none"}},
        {"name": "level", "in": "query", "required": False,
         "schema": {"type": "integer", "default": 3, "minimum": 1, "maximum": 19}},
    ]  # fmt: skip


_AUTH = {
    "401": error_response("No valid API key (only when API keys are configured)."),
    "403": error_response("The API key's role does not allow this."),
}


def _page() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "webPage",
            "summary": "The web page: browse, compare, export and import models (no key needed).",
            "description": (
                "A static page; its data comes from the API with the key the user enters. "
                "Sent with a Content-Security-Policy (scripts and styles from /static only)."
            ),
            "security": [],
            "responses": {
                "200": {
                    "description": "The page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    }


def _static() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "webAsset",
            "summary": "A script, style sheet or icon of the web page (no key needed).",
            "security": [],
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*\\.(js|css|svg)$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        "text/javascript": {"schema": {"type": "string"}},
                        "text/css": {"schema": {"type": "string"}},
                        "image/svg+xml": {"schema": {"type": "string"}},
                    },
                },
                "304": {"description": "Not modified (If-None-Match)."},
                "404": error_response("No such file."),
            },
        }
    }


def _role() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "authRole",
            "summary": "The role of the key sent (anonymous without one), and the import limit.",
            "description": (
                "Open: without keys configured the answer is role admin, keys_required "
                "false. With keys, a request without Authorization gets role anonymous, "
                "keys_required true; an unknown key is 401."
            ),
            "security": [{"bearerAuth": []}, {}],
            "responses": {
                "200": {"description": "The role.", "content": json_content(ref("RoleInfo"))},
                "401": error_response("An invalid API key."),
            },
        }
    }


def _download_link() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "downloadLink",
            "summary": "A short-lived download URL for an export with these options (role: read).",
            "description": (
                "A browser downloads by navigating, and a navigation cannot send the "
                "Authorization header: the URL carries a token instead, valid for 60 "
                "seconds, for this model, these options and the key that asked (it dies "
                "with the key). The long-lived key never appears in a URL."
            ),
            "security": [{"bearerAuth": []}],
            "parameters": [MODEL_ID_PARAMETER, *export_parameters()],
            "responses": {
                "200": {"description": "The link.", "content": json_content(ref("DownloadLink"))},
                **_AUTH,
                "404": error_response("Model not found."),
                "422": error_response("model_id is not a UUID, or a query value is malformed."),
                "500": error_response("Database error."),
            },
        }
    }


def _download() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "downloadModel",
            "summary": "The export of a download link: the .heimdall bundle, streamed.",
            "description": (
                "Exactly GET .../export with the link's options, authorized by its token "
                "instead of a key (open when no keys are configured). A token for another "
                "model or other options, or an expired one, is 401."
            ),
            "security": [],
            "parameters": [
                MODEL_ID_PARAMETER,
                *export_parameters(),
                {
                    "name": "token",
                    "in": "query",
                    "required": False,
                    "description": "From POST .../download-link (needed when keys are configured).",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The bundle (Content-Disposition: attachment).",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "application/zstd": {"schema": {"type": "string", "format": "binary"}},
                        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "401": error_response("A missing, expired or mismatched download token."),
                "404": error_response("Model not found."),
                "422": error_response("model_id is not a UUID, or a query value is malformed."),
                "500": error_response("Failed to download ONNX model: ... / Database error."),
            },
        }
    }


def web_paths() -> dict[str, Any]:
    """The page's paths, for the document's ``paths``."""
    return {
        "/": _page(),
        "/static/{name}": _static(),
        "/api/v1/auth/role": _role(),
        "/api/v1/training/models/{model_id}/download-link": _download_link(),
        "/api/v1/training/models/{model_id}/download": _download(),
    }


__all__ = ["SCHEMA_TYPES", "DownloadLink", "RoleInfo", "export_parameters", "web_paths"]
