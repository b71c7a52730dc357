"""The options that name a remote instance, shared by the transfer and registry commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from heimdall_io.transfer.client import RemoteClient


def api_key_option(f: Any) -> Any:
    """--api-key [env HEIMDALL_API_KEY]; else the key `remote add` stored."""
    return click.option(
        "--api-key", envvar="HEIMDALL_API_KEY", show_envvar=True,
        help="The remote's API key (default: the key `remote add` stored).",
    )(f)  # fmt: skip


def remote_option(f: Any) -> Any:
    """--remote NAME|URL and --api-key: ask that instance instead of the local registry."""
    f = api_key_option(f)
    return click.option(
        "--remote", metavar="NAME|URL",
        help="Ask a remote `heimdall serve` (a name from `heimdall remote list`, or its URL).",
    )(f)  # fmt: skip


def open_remote(name: str, api_key: str | None) -> RemoteClient:
    """A client of the remote ``name`` (a configured name or a base URL)."""
    from heimdall_io.transfer.client import RemoteClient
    from heimdall_io.transfer.remotes import resolve_remote

    return RemoteClient(resolve_remote(name, api_key))
