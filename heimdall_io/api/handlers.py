"""The endpoints: each parses its request, runs one Service call in a worker thread and
encodes the result (the routes they serve are listed in :mod:`heimdall_io.api.app`).

A handler is called as ``handler(request, ctx, who)`` once the API key was checked:
``ctx`` is the app's :class:`ApiContext`, ``who`` the caller, whose actor name the
request's ``Service`` records in the audit history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from heimdall_io.errors import HeimdallError
from heimdall_io.mlflow import Registration, register_imported
from heimdall_io.service import Service

from . import openapi
from .auth import ApiKeys, Principal
from .bodies import ImportResponse, ModelSummary, model_summary
from .bridge import RequestBodyReader, UploadAbortedError
from .errors import ApiError, Operation, operation
from .health import OK, HealthCheck
from .mlflow_import import mlflow_target
from .multipart import batch_import, form_boundary
from .query import (
    EXPORT_MEDIA_TYPES,
    content_encoding,
    content_length,
    export_options,
    import_options,
    path_model_id,
    query_bool,
    query_int,
)
from .ranges import query_bundle_id, sized_export
from .settings import (
    DEFAULT_AUDIT_LIMIT,
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_LIST_LIMIT,
    DEFAULT_REQUEST_BODY_TIMEOUT,
    MAX_AUDIT_LIMIT,
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    RETRY_AFTER_SECONDS,
)
from .streaming import ExportResponse, aclose_chunks, export_body, export_headers

log = logging.getLogger("heimdall_io.api")

#: ``actor -> Service``; the app never closes the services it is given.
ServiceFactory = Callable[[str], Service]
T = TypeVar("T")

_JSON = msgspec.json.Encoder()


@dataclass
class ApiContext:
    """What every request needs: how to make a Service, the keys, the limits."""

    make_service: ServiceFactory
    keys: ApiKeys | None
    max_import_bytes: int | None
    max_concurrent_imports: int
    request_body_timeout: float | None = DEFAULT_REQUEST_BODY_TIMEOUT
    health: HealthCheck = field(default_factory=lambda: HealthCheck(DEFAULT_HEALTH_TIMEOUT))
    _import_limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)
    #: The MLflow tracking server of ``?mlflow=true`` imports (None: they are refused).
    mlflow_uri: str | None = None
    mlflow_experiment: str = "heimdall"

    def service(self, actor: str) -> Service:
        """A Service whose audit entries name ``actor``."""
        return self.make_service(actor)

    @property
    def import_limiter(self) -> anyio.CapacityLimiter:
        """The worker threads that imports run in (``max_concurrent_imports`` of them)."""
        # Created on first use: a CapacityLimiter belongs to the running event loop.
        if self._import_limiter is None:
            self._import_limiter = anyio.CapacityLimiter(self.max_concurrent_imports)
        return self._import_limiter


#: An endpoint, called with the app's context and the authenticated caller.
Handler = Callable[[Request, ApiContext, Principal], Awaitable[Response]]


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_JSON.encode(obj), status, headers=headers, media_type="application/json")


async def _call(ctx: ApiContext, who: Principal, op: Operation, call: Callable[[Service], T]) -> T:
    """``call(service)`` in a worker thread, with a Service for ``who``; errors mapped for
    ``op`` (see :func:`heimdall_io.api.errors.operation`)."""
    service = ctx.service(who.actor)
    with operation(op):
        return await anyio.to_thread.run_sync(call, service)


async def list_models(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /api/v1/training/models?limit=&offset=``: a page of summaries, newest first;
    ``Link: <...>; rel="next"`` when more follow."""
    limit = query_int(request.query_params, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    offset = query_int(request.query_params, "offset", 0, 0, MAX_LIST_OFFSET)

    def page(service: Service) -> list[ModelSummary]:
        # One more than the page, to know whether a next page exists.
        records = service.list_models(limit=limit + 1, offset=offset)
        return [model_summary(r) for r in records]

    rows = await _call(ctx, who, "list", page)
    headers = {}
    if len(rows) > limit:
        del rows[limit:]
        following = f"{request.url.path}?limit={limit}&offset={offset + limit}"
        headers["Link"] = f'<{following}>; rel="next"'
    return _json(rows, headers=headers)


async def get_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /api/v1/training/models/{model_id}``: one model (404 if there is none)."""
    model_id = path_model_id(request)
    return _json(await _call(ctx, who, "lookup", lambda s: s.get_model(model_id)))


async def delete_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``DELETE /api/v1/training/models/{model_id}``: the row, then the object."""
    model_id = path_model_id(request)
    record = await _call(ctx, who, "delete", lambda s: s.delete(model_id))
    log.info("%s deleted model %s", who.actor, record.model_id)
    return _json(record)


async def audit(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /api/v1/training/audit?limit=``: the audit history, newest first."""
    limit = query_int(request.query_params, "limit", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT)
    return _json(await _call(ctx, who, "audit", lambda s: s.history(limit)))


async def export_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET|HEAD /api/v1/training/models/{model_id}/export``: the bundle, streamed."""
    model_id = path_model_id(request)
    options = export_options(request.query_params)
    options.bundle_id = query_bundle_id(request.query_params)
    service = ctx.service(who.actor)
    with operation("lookup"):
        await anyio.to_thread.run_sync(service.get_model, model_id)
    with operation("export"):
        stream = await anyio.to_thread.run_sync(service.export_stream, model_id, options)
        if stream.length is not None:  # a plain bundle: Content-Length, ETag, Range
            media = EXPORT_MEDIA_TYPES[options.compression]
            return await sized_export(request, stream, media, pinned=options.bundle_id is not None)
        chunks = iter(stream)
        # The first chunk opens the object: a failure there still gets a status code.
        # (HEAD: the headers only; the stream is closed unstarted, nothing is read.)
        try:
            if request.method == "HEAD":
                first = b""
            else:
                first = await anyio.to_thread.run_sync(next, chunks, b"")
        except BaseException:
            await aclose_chunks(chunks)
            raise
    headers = export_headers(stream)
    media_type = EXPORT_MEDIA_TYPES[options.compression]
    if request.method == "HEAD":
        await aclose_chunks(chunks)
        return Response(headers=headers, media_type=media_type)
    body = export_body(first, chunks, stream.record.model_id)
    return ExportResponse(body, headers=headers, media_type=media_type, chunks=chunks)


async def import_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``POST /api/v1/training/models/import``: the body is the bundle (any Content-Type);
    201 and the model. ``multipart/form-data``: one import per file, 201 or 207."""
    encoding = content_encoding(request)
    validate = query_bool(request.query_params, "validate", True)
    mlflow = mlflow_target(request.query_params, ctx.mlflow_uri, ctx.mlflow_experiment)
    options = import_options(request.query_params)
    boundary = form_boundary(request)
    if boundary is not None:  # each file part is one import (not registered in MLflow)
        return await batch_import(
            request, ctx.service(who.actor), boundary, validate=validate, options=options,
            limit=ctx.max_import_bytes, limiter=ctx.import_limiter,
            timeout=ctx.request_body_timeout,
        )  # fmt: skip
    length = content_length(request)
    limit = ctx.max_import_bytes
    if length is not None and limit is not None and length > limit:
        raise ApiError(
            413,
            f"Bundle too large: request body of {length} bytes is over the limit of {limit} bytes",
            {"Connection": "close"},
        )
    reader = RequestBodyReader(
        request.receive, limit=limit, encoding=encoding, timeout=ctx.request_body_timeout
    )
    service = ctx.service(who.actor)

    def run_import() -> Any:
        try:
            body: Any = reader  # a readable stream, as import_bundle wants
            return service.import_bundle(body, validate=validate, options=options)
        except HeimdallError as exc:
            # The body's own failure (a timeout, a disconnect) is the real reason, even if
            # the codec reported what it saw next (a truncated document).
            if reader.failure is not None and exc is not reader.failure:
                raise reader.failure from exc
            raise

    try:
        with operation("import"):
            result = await reader.run(run_import, limiter=ctx.import_limiter)
    except ApiError as err:
        if isinstance(err.__cause__, UploadAbortedError):
            log.info("import by %s aborted: %s", who.actor, err.__cause__)
        if not reader.complete:
            # Part of the body is still unread: do not keep the connection.
            err.headers.setdefault("Connection", "close")
        raise
    r = result.record
    log.info("%s imported %s as %s (%s bytes)", who.actor, r.source_model_id, r.model_id,
             r.onnx_size_bytes)  # fmt: skip
    registration = None
    if mlflow is not None:
        with operation("import"):
            registration = await anyio.to_thread.run_sync(register_imported, service, r, mlflow)
        for warning in registration.warnings:
            log.warning("import of %s by %s: %s", r.model_id, who.actor, warning)
    body = ImportResponse(
        model_id=r.model_id,
        model_name=r.model_name,
        version=r.version,
        onnx_path=r.onnx_path,
        onnx_size_bytes=r.onnx_size_bytes,
        onnx_md5=r.onnx_md5,
        onnx_sha256=r.onnx_sha256,
        source_model_id=r.source_model_id,
        **_registration_fields(registration),
    )
    return _json(body, 201, {"Location": f"/api/v1/training/models/{r.model_id}"})


def _registration_fields(registration: Registration | None) -> dict[str, Any]:
    """The ``mlflow`` and ``warnings`` members of an import's answer ({}: not asked for)."""
    if registration is None:
        return {}
    fields: dict[str, Any] = {
        "mlflow": registration.link.section() if registration.link is not None else None
    }
    if registration.warnings:
        fields["warnings"] = list(registration.warnings)
    return fields


async def healthz(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /healthz``: 200 if the registry and the store answer in time, else 503 with
    Retry-After (see :mod:`heimdall_io.api.health`)."""
    service = ctx.service("api:healthz")
    status = await ctx.health.check({"registry": service.registry.ping,
                                     "store": service.store.ping})  # fmt: skip
    if all(v == OK for v in status.values()):
        return _json(status)
    return _json(status, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def openapi_json(request: Request, ctx: ApiContext, who: Principal) -> Response:
    """``GET /openapi.json``: the OpenAPI description (the committed spec/openapi.json)."""
    return Response(openapi.document_bytes(), media_type="application/json")


__all__ = [
    "ApiContext",
    "Handler",
    "ServiceFactory",
    "audit",
    "delete_model",
    "export_model",
    "get_model",
    "healthz",
    "import_model",
    "list_models",
    "openapi_json",
]
