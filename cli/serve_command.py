"""`heimdall serve`: the REST API under uvicorn (needs the ``server`` extra)."""

from __future__ import annotations

import click

from .errors import fail
from .options import StorageUrls, storage_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True,
              help="TCP port.")  # fmt: skip
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Server log level.")  # fmt: skip
@storage_options
def serve(host: str, port: int, log_level: str, storage: StorageUrls) -> None:
    """Serve the REST API (export, import, list, audit) with uvicorn.

    Access control: HEIMDALL_API_KEYS=key1:admin,key2:read and/or HEIMDALL_API_KEYS_FILE
    (one key:role per line); without either the API is open. The import body limit is
    HEIMDALL_MAX_IMPORT_BYTES (default 104857600). /healthz needs no key.
    """
    import logging

    try:
        import uvicorn

        from heimdall_io.api import create_app_from_env
    except ModuleNotFoundError as exc:
        fail(f"serve needs the server extra: pip install 'heimdall-io[server]' ({exc.name})")
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    app = create_app_from_env(storage.database_url, storage.storage_url)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)


COMMANDS = (serve,)
