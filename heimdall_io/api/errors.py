"""The ONE place where failures become HTTP status codes and ``{"detail": "..."}`` bodies.

Library errors (:class:`~heimdall_io.errors.HeimdallError`) are mapped by class *and* by
the operation that failed, because the seed's messages differ by operation: a broken
object store is "Failed to upload ONNX to object store: ..." during an import and
"Failed to download ONNX model: ..." during an export. Handlers say which operation
they run with :func:`operation`::

    with operation("import"):
        result = service.import_bundle(body)

===========================  =====  ========================================================
error                        code   detail
===========================  =====  ========================================================
UploadTimeoutError           408    Request body timeout: <reason> (connection closed)
SignatureError               403    Signature rejected: <reason> (the import policy)
BundleError (all kinds)      400    Invalid bundle format: <reason>
PayloadTooLargeError         413    Bundle too large: <reason>
NotFoundError (lookup)       404    Model not found
RegistryUnavailableError     503    Database unavailable, try again later (Retry-After)
NotFoundError (export)       500    Failed to download ONNX model (a row without object)
ObjectStoreError (import)    500    Failed to upload ONNX to object store
RegistryError (import)       500    Failed to register model
ObjectStoreError (export)    500    Failed to download ONNX model
RegistryError (otherwise)    500    Database error
MlflowError                  502    MLflow registration failed; the import was rolled back
                                    (``?mlflow_required=true``)
any other HeimdallError      500    <operation> failed
anything else                500    Internal server error
===========================  =====  ========================================================

A 5xx body never carries the library's message: a storage error names the database
(user, host, port, name), the S3 endpoint or an absolute path, and the error bodies are
public (``/healthz`` needs no key). Its detail ends with ``(ref <8 hex>)``; the server log
has the whole reason under the same ref. 4xx details keep the reason: it is about the
client's own request.

Request errors raised by the API itself (401, 403, 413 from Content-Length, 415, 422) are
:class:`ApiError`. Every error body is ``{"detail": "<one line>"}``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator, Mapping
from typing import Literal

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from heimdall_io import errors
from heimdall_io.signing.errors import SignatureError

from .bridge import UploadTimeoutError
from .settings import RETRY_AFTER_SECONDS

log = logging.getLogger("heimdall_io.api")

Operation = Literal["lookup", "list", "audit", "export", "import", "delete", "health"]

_JSON = msgspec.json.Encoder()


class ApiError(Exception):
    """An HTTP error with a JSON ``{"detail": ...}`` body; ``reason``, if any, is what the
    server log says about it (never sent)."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.reason = reason


def error_body(detail: str) -> bytes:
    return _JSON.encode({"detail": detail})


def json_error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(detail), status, headers=headers, media_type="application/json")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _server_error(public: str, reason: str, status: int = 500, **headers: str) -> ApiError:
    """A 5xx whose body says ``public`` and a ref; ``reason`` goes only to the log."""
    ref = secrets.token_hex(4)
    return ApiError(status, f"{public} (ref {ref})", headers, reason=f"[ref {ref}] {reason}")


def map_error(exc: errors.HeimdallError, op: Operation) -> ApiError:
    """The status code and detail for a library error raised during ``op``."""
    reason = _one_line(exc)
    if isinstance(exc, UploadTimeoutError):
        return ApiError(408, f"Request body timeout: {reason}", {"Connection": "close"})
    if isinstance(exc, SignatureError):  # a BundleError: mapped before them
        return ApiError(403, f"Signature rejected: {reason}")
    if isinstance(exc, errors.BundleError):
        return ApiError(400, f"Invalid bundle format: {reason}")
    if isinstance(exc, errors.PayloadTooLargeError):
        return ApiError(413, f"Bundle too large: {reason}")
    if isinstance(exc, errors.MlflowError):  # ?mlflow_required=true: MLflow failed, nothing kept
        return _server_error("MLflow registration failed; the import was rolled back", reason,
                             502)  # fmt: skip
    if isinstance(exc, errors.NotFoundError) and op in ("lookup", "delete"):
        return ApiError(404, "Model not found")
    transient = (errors.RegistryUnavailableError, errors.LeaseLostError)  # the client may retry
    if isinstance(exc, transient):
        retry = str(RETRY_AFTER_SECONDS)
        return _server_error("Database unavailable, try again later", reason, 503,
                             **{"Retry-After": retry})  # fmt: skip
    if isinstance(exc, (errors.NotFoundError, errors.ObjectStoreError)) and op == "export":
        return _server_error("Failed to download ONNX model", reason)  # a row without object
    if isinstance(exc, errors.ObjectStoreError):
        if op == "import":
            return _server_error("Failed to upload ONNX to object store", reason)
        return _server_error("Object store error", reason)
    if isinstance(exc, errors.RegistryError):
        if op == "import":
            return _server_error("Failed to register model", reason)
        return _server_error("Database error", reason)
    return _server_error(f"{op} failed", reason)


def _log(err: ApiError, op: str, exc: BaseException) -> None:
    if err.status >= 500:
        log.error("%s failed: %s %s", op, type(exc).__name__, err.reason or _one_line(exc))


@contextlib.contextmanager
def operation(op: Operation) -> Iterator[None]:
    """Turn a HeimdallError raised inside the block into the ApiError for ``op``."""
    try:
        yield
    except errors.HeimdallError as exc:
        err = map_error(exc, op)
        _log(err, op, exc)
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
    assert isinstance(exc, errors.HeimdallError)
    err = map_error(exc, "lookup")
    _log(err, f"{request.method} {request.url.path}", exc)
    return json_error(err.status, err.detail, err.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    ref = secrets.token_hex(4)
    log.exception("[ref %s] unexpected error on %s %s", ref, request.method, request.url.path)
    return json_error(500, f"Internal server error (ref {ref})")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    errors.HeimdallError: _heimdall_error,
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
