"""The REST API of heimdall-io (Starlette): ``heimdall serve`` runs it with uvicorn.

    from heimdall_io.api import create_app
    app = create_app(registry=registry, store=store, api_keys={"k": "admin"})

See :mod:`heimdall_io.api.app` for the routes and their behaviour, ``spec/openapi.json``
for the description, :mod:`heimdall_io.api.auth` for API keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import DEFAULT_MAX_IMPORT_BYTES, create_app, create_app_from_env
    from .auth import ApiKeys, actor_for

__all__ = ["DEFAULT_MAX_IMPORT_BYTES", "ApiKeys", "actor_for", "create_app", "create_app_from_env"]

_FROM = {
    "DEFAULT_MAX_IMPORT_BYTES": "app",
    "create_app": "app",
    "create_app_from_env": "app",
    "ApiKeys": "auth",
    "actor_for": "auth",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `python -m heimdall_io.api.openapi` runs cleanly.
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
