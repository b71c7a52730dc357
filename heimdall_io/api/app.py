"""The REST API: a thin Starlette shell over :class:`heimdall_io.service.Service`.

==========================================  =====  ================================================
route                                       role   what
==========================================  =====  ================================================
GET    /api/v1/training/models              read   a page of model summaries, newest first
GET    /api/v1/training/models/{id}         read   one model; 404 "Model not found"
GET    /api/v1/training/models/{id}/export  read   the .heimdall bundle, streamed as it is encoded
POST   /api/v1/training/models/import       admin  import a bundle (the request body), 201
DELETE /api/v1/training/models/{id}         admin  delete a model (row, then object)
GET    /api/v1/training/audit               read   audit history, newest first (?limit=)
GET    /healthz                             open   {"registry": "ok", "store": "ok"} or 503
GET    /openapi.json                        open   the OpenAPI 3.1 description
GET    /, /static/{name}                    open   the web page and its files (web.py)
GET    /api/v1/auth/role                    open   the role of the key sent (web.py)
POST   .../models/{id}/download-link        read   a download URL for 60 s (downloads.py)
GET    .../models/{id}/download             token  that URL: the export, streamed
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
  client that disconnects mid-upload, or sends nothing for
  ``HEIMDALL_REQUEST_BODY_TIMEOUT`` seconds (default 60; then 408 and the connection is
  closed), raises inside the import, which removes its object, registers nothing and
  frees its slot.

The list is paged (``?limit=`` 1-1000, default 100, ``&offset=``) and carries summaries
(no ``training_metrics``/``extra``: their size is the bundle's to choose); a
``Link: <...>; rel="next"`` header names the next page. Nothing blocking runs on the event
loop: service calls, the export's close (which writes its audit row) and the health pings
(bounded by ``HEIMDALL_HEALTH_TIMEOUT``, see :mod:`~heimdall_io.api.health`) run in
worker threads. A registry that does not answer in time is 503 with ``Retry-After``.

Each request gets its own ``Service(registry, store, actor=...)`` over the app's shared
(thread-safe) adapters, so the audit history names the API key that exported or imported.
onnx.checker holds about twice the model in memory, so at most
``max_concurrent_validations`` (HEIMDALL_MAX_CONCURRENT_VALIDATIONS, default 1) imports
validate at once; at most ``max_concurrent_imports`` (HEIMDALL_MAX_CONCURRENT_IMPORTS,
default 16) imports run at once (the others wait, unread), each in its own worker thread,
apart from the pool that serves everything else. ``heimdall serve`` also fixes glibc's
mmap threshold (:func:`~heimdall_io.api.settings.tune_malloc`) so that peak RSS does not
ratchet up with concurrency.

The modules: :mod:`~heimdall_io.api.handlers` (the endpoints),
:mod:`~heimdall_io.api.query` (query and header parsing),
:mod:`~heimdall_io.api.streaming` (the export response),
:mod:`~heimdall_io.api.ranges` (Content-Length, ETag and byte ranges of plain exports),
:mod:`~heimdall_io.api.multipart` (multipart/form-data and batch imports),
:mod:`~heimdall_io.api.bridge` (the import's request body),
:mod:`~heimdall_io.api.settings` (environment, limits), :mod:`~heimdall_io.api.auth`,
:mod:`~heimdall_io.api.errors`, :mod:`~heimdall_io.api.openapi` (the description) and
:mod:`~heimdall_io.api.spec` (which writes it to spec/openapi.json).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heimdall_io.codec import Limits
from heimdall_io.errors import ConfigError
from heimdall_io.onnx.checker import check_model_file
from heimdall_io.service import Service
from heimdall_io.signing.policy import ImportPolicy
from heimdall_io.storage.base import ObjectStore, Registry
from heimdall_io.storage.config import open_adapters

from .auth import ANONYMOUS, ApiKeys, Principal, Role, authenticate
from .downloads import download, download_link
from .errors import EXCEPTION_HANDLERS
from .handlers import (
    ApiContext,
    Handler,
    ServiceFactory,
    audit,
    delete_model,
    export_model,
    get_model,
    healthz,
    import_model,
    list_models,
    openapi_json,
)
from .health import HealthCheck
from .settings import (
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_MAX_CONCURRENT_IMPORTS,
    DEFAULT_MAX_CONCURRENT_VALIDATIONS,
    DEFAULT_MAX_IMPORT_BYTES,
    DEFAULT_MLFLOW_EXPERIMENT,
    DEFAULT_REQUEST_BODY_TIMEOUT,
    ServerSettings,
    tune_malloc,
)
from .web import auth_role, page, static_asset

log = logging.getLogger("heimdall_io.api")

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
    ("GET", "/", page, None),  # the web page (web.py): the page, its files, the key's role
    ("GET", "/static/{name}", static_asset, None),
    ("GET", "/api/v1/auth/role", auth_role, None),
    ("POST", "/api/v1/training/models/{model_id}/download-link", download_link, "read"),
    ("GET", "/api/v1/training/models/{model_id}/download", download, None),  # token inside
]


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


def _routes() -> list[Route]:
    return [
        Route(path, _guarded(role, handler), methods=[method], name=handler.__name__)
        for method, path, handler, role in ROUTES
    ]


def _service_factory(
    registry: Registry,
    store: ObjectStore,
    max_import_bytes: int | None,
    max_concurrent_validations: int,
    import_policy: ImportPolicy | None = None,
) -> ServiceFactory:
    """Services over the shared adapters, with the import limit and bounded validation."""
    limits = Limits(max_payload_bytes=max_import_bytes)
    slots = threading.BoundedSemaphore(max(1, max_concurrent_validations))

    def bounded_check(path: str) -> None:
        # onnx.checker holds about twice a model of up to 8 MiB in memory (larger ones
        # are checked as a skeleton): a few at once must not add up.
        with slots:
            check_model_file(path)

    def service_factory(actor: str) -> Service:
        return Service(registry, store, actor=actor, limits=limits, model_checker=bounded_check,
                       import_policy=import_policy)  # fmt: skip

    return service_factory


def create_app(
    service_factory: ServiceFactory | None = None,
    *,
    registry: Registry | None = None,
    store: ObjectStore | None = None,
    api_keys: ApiKeys | Mapping[str, Role] | None = None,
    max_import_bytes: int | None = DEFAULT_MAX_IMPORT_BYTES,
    max_concurrent_imports: int = DEFAULT_MAX_CONCURRENT_IMPORTS,
    max_concurrent_validations: int = DEFAULT_MAX_CONCURRENT_VALIDATIONS,
    request_body_timeout: float | None = DEFAULT_REQUEST_BODY_TIMEOUT,
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT,
    on_shutdown: Callable[[], None] | None = None,
    mlflow_uri: str | None = None,
    mlflow_experiment: str = DEFAULT_MLFLOW_EXPERIMENT,
    import_policy: ImportPolicy | None = None,
) -> Starlette:
    """The API over ``registry`` + ``store`` (or over ``service_factory(actor)``).

    ``api_keys``: None for an open API, else ``{key: "read"|"admin"}`` or an ApiKeys.
    ``max_import_bytes``: the request body limit (and the decoded model limit) of
    imports; None for none. ``request_body_timeout``: seconds an upload may send nothing
    (None: no bound). ``health_timeout``: seconds ``/healthz`` waits for each part.
    ``mlflow_uri``: the MLflow tracking server of ``?mlflow=true`` imports (None: refused).
    ``import_policy``: which signed bundles imports accept (None: from the environment).
    ``on_shutdown`` runs when the server stops (close adapters)::

        registry, store = open_adapters("sqlite:models.db", "objects/")
        app = create_app(registry=registry, store=store, api_keys={"0123456789abcdef": "admin"})
        uvicorn.run(app, port=8001)
    """
    if service_factory is None:
        if registry is None or store is None:
            raise TypeError("create_app needs a service_factory or a registry and a store")
        service_factory = _service_factory(
            registry, store, max_import_bytes, max_concurrent_validations, import_policy
        )
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
        request_body_timeout=request_body_timeout,
        health=HealthCheck(health_timeout),
        mlflow_uri=mlflow_uri,
        mlflow_experiment=mlflow_experiment,
    )
    return app


def create_app_from_env(
    database_url: str | None = None,
    storage_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Starlette:
    """The app ``heimdall serve`` runs: adapters from the URLs (or HEIMDALL_DATABASE_URL /
    HEIMDALL_STORAGE_URL / HEIMDALL_HOME), keys from HEIMDALL_API_KEYS(_FILE), the limits
    from :class:`~heimdall_io.api.settings.ServerSettings`. The adapters are closed when
    the server stops::

        app = create_app_from_env(environ={"HEIMDALL_API_KEYS": "0123456789abcdef:admin"})
    """
    env = os.environ if environ is None else environ
    tune_malloc()
    keys = ApiKeys.from_env(env)
    settings = ServerSettings.from_env(env)
    policy = ImportPolicy.from_env(env)  # a bad setting stops the server from starting
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
    log.info("registry %s, object store %s, import limit %d bytes", getattr(registry, "url", "?"),
             getattr(store, "url", "?"), settings.max_import_bytes)  # fmt: skip
    if policy.trusted is not None:
        log.info("imports: %d trusted signing key(s) from %s, signatures %s",
                 len(policy.trusted), policy.trusted.source,
                 "required" if policy.require_signature else "checked when present")  # fmt: skip
    return create_app(
        registry=registry,
        store=store,
        api_keys=keys,
        max_import_bytes=settings.max_import_bytes,
        max_concurrent_imports=settings.max_concurrent_imports,
        max_concurrent_validations=settings.max_concurrent_validations,
        request_body_timeout=settings.request_body_timeout,
        health_timeout=settings.health_timeout,
        on_shutdown=close,
        mlflow_uri=settings.mlflow_uri,
        mlflow_experiment=settings.mlflow_experiment,
        import_policy=policy,
    )


__all__ = [
    "ROUTES",
    "create_app",
    "create_app_from_env",
]
