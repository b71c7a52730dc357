"""The ONE place where failures become HTTP status codes and ``{"detail": "..."}`` bodies.

Library errors (:class:`~heimdall_io.errors.HeimdallError`) are mapped by class *and* by
the operation that failed, because the seed's messages differ by operation: a broken
object store is "Failed to upload ONNX to object store: ..." during an import and
"Failed to download ONNX model: ..." during an export. Handlers say which operation
they run with :func:`operation`::

    with operation("import"):
        result = service.import_bundle(body)

==========================  =====  =========================================================
error                       code   detail
==========================  =====  =========================================================
BundleError (all kinds)     400    Invalid bundle format: <reason>
PayloadTooLargeError        413    Bundle too large: <reason>
NotFoundError (lookup)      404    Model not found
NotFoundError (export)      500    Failed to download ONNX model: <reason> (row without object)
ObjectStoreError (import)   500    Failed to upload ONNX to object store: <reason>
RegistryError (import)      500    Failed to register model: <reason>
ObjectStoreError (export)   500    Failed to download ONNX model: <reason>
RegistryError (otherwise)   500    Database error: <reason>
MlflowError                 502    <reason> (``?mlflow_required=true`` imports)
any other HeimdallError     500    <operation> failed: <reason>
anything else               500    Internal server error (logged with its traceback)
==========================  =====  =========================================================

Request errors raised by the API itself (401, 403, 413 from Content-Length, 415, 422) are
:class:`ApiError`. Every error body is ``{"detail": "<one line>"}``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Literal

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from heimdall_io.errors import (
    BundleError,
    HeimdallError,
    MlflowError,
    NotFoundError,
    ObjectStoreError,
    PayloadTooLargeError,
    RegistryError,
)

log = logging.getLogger("heimdall_io.api")

Operation = Literal["lookup", "list", "audit", "export", "import", "delete", "health"]

_JSON = msgspec.json.Encoder()


class ApiError(Exception):
    """An HTTP error with a JSON ``{"detail": ...}`` body."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def error_body(detail: str) -> bytes:
    return _JSON.encode({"detail": detail})


def json_error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(detail), status, headers=headers, media_type="application/json")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def map_error(exc: HeimdallError, op: Operation) -> ApiError:
    """The status code and detail for a library error raised during ``op``."""
    reason = _one_line(exc)
    if isinstance(exc, BundleError):
        return ApiError(400, f"Invalid bundle format: {reason}")
    if isinstance(exc, PayloadTooLargeError):
        return ApiError(413, f"Bundle too large: {reason}")
    if isinstance(exc, MlflowError):
        return ApiError(502, reason)
    if isinstance(exc, NotFoundError):
        if op in ("lookup", "delete"):
            return ApiError(404, "Model not found")
        if op == "export":  # a registered model whose object is missing
            return ApiError(500, f"Failed to download ONNX model: {reason}")
        return ApiError(500, f"{op} failed: {reason}")
    if isinstance(exc, ObjectStoreError):
        if op == "import":
            return ApiError(500, f"Failed to upload ONNX to object store: {reason}")
        if op == "export":
            return ApiError(500, f"Failed to download ONNX model: {reason}")
        return ApiError(500, f"Object store error: {reason}")
    if isinstance(exc, RegistryError):
        if op == "import":
            return ApiError(500, f"Failed to register model: {reason}")
        return ApiError(500, f"Database error: {reason}")
    return ApiError(500, f"{op} failed: {reason}")


@contextlib.contextmanager
def operation(op: Operation) -> Iterator[None]:
    """Turn a HeimdallError raised inside the block into the ApiError for ``op``."""
    try:
        yield
    except HeimdallError as exc:
        err = map_error(exc, op)
        if err.status >= 500:
            log.error("%s failed: %s: %s", op, type(exc).__name__, _one_line(exc))
        raise err from exc


# -- Starlette exception handlers ------------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.detail, exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = "Not found"
    return json_error(exc.status_code, detail, exc.headers)


async def _heimdall_error(request: Request, exc: Exception) -> Response:
    # Handlers map errors with operation(); this catches a call made outside one.
    assert isinstance(exc, HeimdallError)
    err = map_error(exc, "lookup")
    return json_error(err.status, err.detail, err.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_error(500, "Internal server error")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    HeimdallError: _heimdall_error,
    Exception: _unexpected,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "ApiError",
    "Operation",
    "error_body",
    "json_error",
    "map_error",
    "operation",
]
