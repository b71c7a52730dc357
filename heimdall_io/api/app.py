"""The REST API: a thin Starlette shell over :class:`heimdall_io.service.Service`.

==========================================  =====  ================================================
route                                       role   what
==========================================  =====  ================================================
GET    /api/v1/training/models              read   all models (JSON array, newest first)
GET    /api/v1/training/models/{id}         read   one model; 404 "Model not found"
GET    /api/v1/training/models/{id}/export  read   the .heimdall bundle, streamed as it is encoded
POST   /api/v1/training/models/import       admin  import a bundle (the request body), 201
DELETE /api/v1/training/models/{id}         admin  delete a model (row, then object)
GET    /api/v1/training/audit               read   audit history, newest first (?limit=)
GET    /healthz                             open   {"registry": "ok", "store": "ok"} or 503
GET    /openapi.json                        open   the OpenAPI 3.1 description
==========================================  =====  ================================================

Roles apply only when API keys are configured (see :mod:`heimdall_io.api.auth`). Errors
are ``{"detail": "..."}``, mapped in :mod:`heimdall_io.api.errors`. A malformed model id
or query value is 422.

Streaming, both ways, never holds a bundle in memory:

* **export** runs the service's encoder in worker threads, one chunk at a time, under the
  socket's flow control. The first chunk is produced before the status line is sent, so
  a missing model or object is a proper 404/500; a failure *after* that (the object
  breaks mid-read, its checksum no longer matches) can only abort the connection: the
  chunked body then lacks its terminating chunk and the JSON document is never closed,
  so no client can mistake it for a complete bundle. Uncompressed bundles are
  ``application/json``; ``?compression=zstd|gzip`` sends ``application/zstd`` /
  ``application/gzip`` (still named ``.heimdall``: every heimdall-io reader detects the
  compression by its magic bytes).
* **import** reads the body in a worker thread through
  :class:`~heimdall_io.api.bridge.RequestBodyReader`: the codec decodes, hashes and
  uploads as the bytes arrive. ``HEIMDALL_MAX_IMPORT_BYTES`` (default 100 MiB) bounds
  the body (413 at once from Content-Length, or as soon as a chunked body passes it)
  and also the decoded model (so a small compressed body cannot expand past it). A
  client that disconnects mid-upload raises inside the import, which removes its object
  and registers nothing.

Each request gets its own ``Service(registry, store, actor=...)`` over the app's shared
(thread-safe) adapters, so the audit history names the API key that exported or imported.
onnx.checker holds about twice the model in memory, so at most
``max_concurrent_validations`` (HEIMDALL_MAX_CONCURRENT_VALIDATIONS, default 1) imports
validate at once; at most ``max_concurrent_imports`` (HEIMDALL_MAX_CONCURRENT_IMPORTS,
default 16) imports run at once (the others wait, unread), each in its own worker thread,
apart from the pool that serves everything else. ``heimdall serve`` also fixes glibc's
mmap threshold (:func:`~heimdall_io.api.settings.tune_malloc`) so that peak RSS does not
ratchet up with concurrency.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heimdall_io.codec import Limits
from heimdall_io.codec.compression import GZIP, NONE, ZSTD
from heimdall_io.errors import ConfigError, HeimdallError
from heimdall_io.onnx.checker import check_model_file
from heimdall_io.service import ExportOptions, Service
from heimdall_io.storage.base import ObjectStore, Registry
from heimdall_io.storage.config import open_adapters

from . import openapi
from .auth import ANONYMOUS, ApiKeys, Principal, Role, authenticate
from .bridge import ENCODING_MAGIC, RequestBodyReader, UploadAbortedError
from .errors import EXCEPTION_HANDLERS, ApiError, operation
from .settings import (
    DEFAULT_AUDIT_LIMIT,
    DEFAULT_MAX_CONCURRENT_IMPORTS,
    DEFAULT_MAX_CONCURRENT_VALIDATIONS,
    DEFAULT_MAX_IMPORT_BYTES,
    MAX_AUDIT_LIMIT,
    MAX_DESCRIPTION,
    MAX_NUM_SAMPLES,
    ServerSettings,
    tune_malloc,
)

log = logging.getLogger("heimdall_io.api")

#: Largest body piece handed to the server at once (see _export_body).
SEND_PIECE = 256 << 10

EXPORT_MEDIA_TYPES = {NONE: "application/json", ZSTD: "application/zstd", GZIP: "application/gzip"}
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

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
    _import_limiter: anyio.CapacityLimiter | None = field(default=None, repr=False)

    def service(self, actor: str) -> Service:
        return self.make_service(actor)

    @property
    def import_limiter(self) -> anyio.CapacityLimiter:
        # Created on first use: a CapacityLimiter belongs to the running event loop.
        if self._import_limiter is None:
            self._import_limiter = anyio.CapacityLimiter(self.max_concurrent_imports)
        return self._import_limiter


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_JSON.encode(obj), status, headers=headers, media_type="application/json")


async def _run(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


# -- request parsing -----------------------------------------------------------------------

_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _model_id(request: Request) -> str:
    raw = request.path_params["model_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(422, f"model_id must be a UUID, got {raw[:64]!r}") from None


def query_bool(query: QueryParams, name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ApiError(422, f"{name} must be true, false, 1 or 0, got {value[:64]!r}")


def query_int(query: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    v = value.strip()
    if not (v.isascii() and v.lstrip("-").isdigit() and len(v) <= 12) or not lo <= int(v) <= hi:
        raise ApiError(422, f"{name} must be an integer from {lo} to {hi}, got {value[:64]!r}")
    return int(v)


def export_options(query: QueryParams) -> ExportOptions:
    """ExportOptions from the query string (422 on a bad value; unknown names ignored)."""
    compression = (query.get("compression") or NONE).strip().lower()
    if compression not in EXPORT_MEDIA_TYPES:
        raise ApiError(422, f"compression must be none, zstd or gzip, got {compression[:64]!r}")
    level = query_int(query, "level", 3, 1, 9 if compression == GZIP else 19)
    description = query.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ApiError(422, f"description longer than {MAX_DESCRIPTION} characters")
    return ExportOptions(
        include_config=query_bool(query, "include_config", True),
        include_metrics=query_bool(query, "include_metrics", True),
        include_normalization=query_bool(query, "include_normalization", True),
        include_samples=query_bool(query, "include_samples", True),
        num_samples=query_int(query, "num_samples", 5, 0, MAX_NUM_SAMPLES),
        description=description,
        compression=compression,
        level=level,
    )


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."`` (RFC 6266), quoted-string safe."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f'attachment; filename="{ascii_name}"'


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ApiError(400, "Invalid Content-Length")
    return int(value)


def _content_encoding(request: Request) -> str | None:
    value = request.headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if value not in ENCODING_MAGIC:
        raise ApiError(415, f"Unsupported Content-Encoding {value[:64]!r}: use gzip or zstd")
    return value


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in _FORM_TYPES:
        raise ApiError(
            415,
            f"Unsupported Content-Type {ctype}: send the bundle itself as the body, e.g. "
            "curl --data-binary @model.heimdall -H 'Content-Type: application/json'",
        )


# -- endpoints -----------------------------------------------------------------------------

Handler = Callable[[Request, ApiContext, Principal], Awaitable[Response]]


def _guarded(role: Role | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the API-key check for ``role`` (None: open to everyone)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        ctx: ApiContext = request.app.state.heimdall
        if role is None:
            principal = Principal(ANONYMOUS, "read")
        else:
            principal = authenticate(ctx.keys, request.headers.get("authorization"), role)
        return await handler(request, ctx, principal)

    return endpoint


async def list_models(request: Request, ctx: ApiContext, who: Principal) -> Response:
    service = ctx.service(who.actor)
    with operation("list"):
        records = await _run(service.list_models)
    return _json(records)


async def get_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    model_id = _model_id(request)
    service = ctx.service(who.actor)
    with operation("lookup"):
        record = await _run(service.get_model, model_id)
    return _json(record)


async def delete_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    model_id = _model_id(request)
    service = ctx.service(who.actor)
    with operation("delete"):
        record = await _run(service.delete, model_id)
    log.info("%s deleted model %s", who.actor, record.model_id)
    return _json(record)


async def audit(request: Request, ctx: ApiContext, who: Principal) -> Response:
    limit = query_int(request.query_params, "limit", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT)
    service = ctx.service(who.actor)
    with operation("audit"):
        entries = await _run(service.history, limit)
    return _json(entries)


async def export_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    model_id = _model_id(request)
    options = export_options(request.query_params)
    service = ctx.service(who.actor)
    with operation("lookup"):
        await _run(service.get_model, model_id)
    with operation("export"):
        stream = await _run(service.export_stream, model_id, options)
        chunks = iter(stream)
        # The first chunk opens the object: a failure there still gets a status code.
        # (HEAD: the headers only; the stream is closed unstarted, nothing is read.)
        try:
            first = b"" if request.method == "HEAD" else await _run(next, chunks, b"")
        except BaseException:
            _close(chunks)
            raise
    headers = {
        "Content-Disposition": content_disposition(stream.filename),
        "Cache-Control": "no-store",
        "X-Heimdall-Model-Id": stream.record.model_id,
        "X-Heimdall-Bundle-Id": str(stream.header["bundle_metadata"]["bundle_id"]),
    }
    media_type = EXPORT_MEDIA_TYPES[options.compression]
    if request.method == "HEAD":
        _close(chunks)
        return Response(headers=headers, media_type=media_type)
    body = _export_body(first, chunks, stream.record.model_id)
    return ExportResponse(body, headers=headers, media_type=media_type)


class _ExportAborted(Exception):
    """The export failed after the status line was sent."""


class ExportResponse(Response):
    """A streamed body that, when its iterator fails, leaves the response unfinished.

    Without the final ``more_body: False`` message the server closes the connection
    instead of ending the chunked body cleanly: the client sees a transfer error rather
    than a short "complete" bundle. (Starlette's StreamingResponse would raise through
    the middleware and log the same failure three times.)
    """

    def __init__(
        self, body: AsyncIterator[bytes], headers: Mapping[str, str], media_type: str
    ) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        body = self.body_iterator
        outcome = "disconnected"
        async with anyio.create_task_group() as tg:
            # ASGI 2.3 servers (uvicorn) drop sends after a disconnect silently: watch for
            # it, or a vanished client would have the whole model encoded for nobody.
            tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
            try:
                outcome = await _send_body(body, send)
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    aclose = getattr(body, "aclose", None)
                    if aclose is not None:
                        await aclose()  # closes the service's stream now, not at GC
        if outcome == "done":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # "aborted": unfinished on purpose, so the server cuts the connection.


async def _send_body(body: AsyncIterator[bytes], send: Any) -> str:
    try:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except _ExportAborted:
        return "aborted"
    except OSError:
        return "disconnected"  # ASGI 2.4 servers raise on a send after a disconnect
    return "done"


async def _cancel_on_disconnect(receive: Any, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            scope.cancel()
            return


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def _export_body(
    first: bytes, chunks: Iterator[bytes], model_id: str
) -> AsyncIterator[bytes]:
    """The bundle's chunks, each encoded in a worker thread when the socket wants more.

    An error here comes after the status line: it becomes _ExportAborted, on which
    ExportResponse leaves the response unfinished so that the server cuts the connection.
    """
    sent = 0
    try:
        chunk: bytes | None = first
        while chunk is not None:
            # Sent in pieces: a 4 MiB chunk written at once would sit in the transport's
            # buffer (memory x concurrent exports) and, on Python < 3.12, be shifted down
            # after every partial socket send (quadratic copying).
            for start in range(0, len(chunk), SEND_PIECE):
                piece = chunk[start : start + SEND_PIECE]
                sent += len(piece)
                yield piece
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
    except HeimdallError as exc:
        log.error("export of %s aborted after %d bytes: %s", model_id, sent, exc)
        raise _ExportAborted from exc
    finally:
        _close(chunks)  # a client that went away: the service audits it


async def import_model(request: Request, ctx: ApiContext, who: Principal) -> Response:
    _check_content_type(request)
    encoding = _content_encoding(request)
    validate = query_bool(request.query_params, "validate", True)
    length = _content_length(request)
    limit = ctx.max_import_bytes
    if length is not None and limit is not None and length > limit:
        raise ApiError(
            413,
            f"Bundle too large: request body of {length} bytes is over the limit of {limit} bytes",
            {"Connection": "close"},
        )
    reader = RequestBodyReader(request.receive, limit=limit, encoding=encoding)
    service = ctx.service(who.actor)

    def run_import() -> Any:
        return service.import_bundle(reader, validate=validate)  # type: ignore[arg-type]

    try:
        with operation("import"):
            result = await anyio.to_thread.run_sync(run_import, limiter=ctx.import_limiter)
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
    body = openapi.ImportResponse(
        model_id=r.model_id,
        model_name=r.model_name,
        version=r.version,
        onnx_path=r.onnx_path,
        onnx_size_bytes=r.onnx_size_bytes,
        onnx_md5=r.onnx_md5,
        onnx_sha256=r.onnx_sha256,
        source_model_id=r.source_model_id,
    )
    return _json(body, 201, {"Location": f"/api/v1/training/models/{r.model_id}"})


async def healthz(request: Request, ctx: ApiContext, who: Principal) -> Response:
    service = ctx.service("api:healthz")
    status = await _run(service.health)
    ok = all(v == "ok" for v in status.values())
    return _json(status, 200 if ok else 503)


async def openapi_json(request: Request, ctx: ApiContext, who: Principal) -> Response:
    return Response(openapi.document_bytes(), media_type="application/json")


#: (method, path, handler, role); the OpenAPI description must list exactly these.
ROUTES: list[tuple[str, str, Handler, Role | None]] = [
    ("GET", "/api/v1/training/models", list_models, "read"),
    ("POST", "/api/v1/training/models/import", import_model, "admin"),
    ("GET", "/api/v1/training/models/{model_id}", get_model, "read"),
    ("DELETE", "/api/v1/training/models/{model_id}", delete_model, "admin"),
    ("GET", "/api/v1/training/models/{model_id}/export", export_model, "read"),
    ("GET", "/api/v1/training/audit", audit, "read"),
    ("GET", "/healthz", healthz, None),
    ("GET", "/openapi.json", openapi_json, None),
]


def _routes() -> list[Route]:
    return [
        Route(path, _guarded(role, handler), methods=[method], name=handler.__name__)
        for method, path, handler, role in ROUTES
    ]


# -- construction --------------------------------------------------------------------------


def create_app(
    service_factory: ServiceFactory | None = None,
    *,
    registry: Registry | None = None,
    store: ObjectStore | None = None,
    api_keys: ApiKeys | Mapping[str, Role] | None = None,
    max_import_bytes: int | None = DEFAULT_MAX_IMPORT_BYTES,
    max_concurrent_imports: int = DEFAULT_MAX_CONCURRENT_IMPORTS,
    max_concurrent_validations: int = DEFAULT_MAX_CONCURRENT_VALIDATIONS,
    on_shutdown: Callable[[], None] | None = None,
) -> Starlette:
    """The API over ``registry`` + ``store`` (or over ``service_factory(actor)``).

    ``api_keys``: None for an open API, else ``{key: "read"|"admin"}`` or an ApiKeys.
    ``max_import_bytes``: the request body limit (and the decoded model limit) of
    imports; None for none. ``on_shutdown`` runs when the server stops (close adapters).
    """
    if service_factory is None:
        if registry is None or store is None:
            raise TypeError("create_app needs a service_factory or a registry and a store")
        limits = Limits(max_payload_bytes=max_import_bytes)
        slots = threading.BoundedSemaphore(max(1, max_concurrent_validations))
        reg, st = registry, store

        def bounded_check(path: str) -> None:
            # onnx.checker holds about twice a model of up to 8 MiB in memory (larger ones
            # are checked as a skeleton): a few at once must not add up.
            with slots:
                check_model_file(path)

        def service_factory(actor: str) -> Service:
            return Service(reg, st, actor=actor, limits=limits, model_checker=bounded_check)

    keys = api_keys if isinstance(api_keys, ApiKeys) or api_keys is None else ApiKeys(api_keys)
    if max_concurrent_imports < 1:
        raise ConfigError("max_concurrent_imports must be at least 1")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = Starlette(
        routes=_routes(),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.heimdall = ApiContext(
        make_service=service_factory,
        keys=keys,
        max_import_bytes=max_import_bytes,
        max_concurrent_imports=max_concurrent_imports,
    )
    return app


def create_app_from_env(
    database_url: str | None = None,
    storage_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Starlette:
    """The app ``heimdall serve`` runs: adapters from the URLs (or HEIMDALL_DATABASE_URL /
    HEIMDALL_STORAGE_URL / HEIMDALL_HOME), keys from HEIMDALL_API_KEYS(_FILE), the import
    limits from :class:`~heimdall_io.api.settings.ServerSettings`. The adapters are closed
    when the server stops."""
    env = os.environ if environ is None else environ
    tune_malloc()
    keys = ApiKeys.from_env(env)
    settings = ServerSettings.from_env(env)
    registry, store = open_adapters(database_url, storage_url)

    def close() -> None:
        try:
            registry.close()
        finally:
            store.close()

    if keys is None:
        log.warning("no API keys configured (HEIMDALL_API_KEYS): the API is open to anyone")
    else:
        log.info("API keys: %d admin, %d read", keys.count("admin"), keys.count("read"))
    log.info("registry %s, object store %s, import limit %d bytes",
             getattr(registry, "url", "?"), getattr(store, "url", "?"),
             settings.max_import_bytes)  # fmt: skip
    return create_app(
        registry=registry,
        store=store,
        api_keys=keys,
        max_import_bytes=settings.max_import_bytes,
        max_concurrent_imports=settings.max_concurrent_imports,
        max_concurrent_validations=settings.max_concurrent_validations,
        on_shutdown=close,
    )


__all__ = [
    "DEFAULT_MAX_IMPORT_BYTES",
    "ROUTES",
    "ApiContext",
    "ServiceFactory",
    "create_app",
    "create_app_from_env",
    "export_options",
]
