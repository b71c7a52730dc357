"""The REST API of heimdall-io (Starlette): ``heimdall serve`` runs it with uvicorn::

    from heimdall_io.api import create_app
    app = create_app(registry=registry, store=store, api_keys={"0123456789abcdef": "admin"})

See :mod:`heimdall_io.api.app` for the routes and their behaviour, ``spec/openapi.json``
for the description, :mod:`heimdall_io.api.auth` for API keys.
"""

from __future__ import annotations

from .app import create_app, create_app_from_env
from .auth import ApiKeys, actor_for
from .settings import DEFAULT_MAX_IMPORT_BYTES

__all__ = ["DEFAULT_MAX_IMPORT_BYTES", "ApiKeys", "actor_for", "create_app", "create_app_from_env"]
