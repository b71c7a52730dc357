"""Moving models between instances: push, pull, copy, and the remotes they name.

    heimdall remote add prod https://models.example.com --key-file prod.key
    heimdall push MODEL_ID prod          # export here, import there, in one stream
    heimdall pull prod MODEL_ID          # export there, import here (resumes if cut)
    heimdall copy prod:MODEL_ID s3://bucket/model.heimdall

The receiving side is all or nothing, as for a local import. Keys are never printed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from .options import StorageUrls, quiet_option, stack, storage_options
from .registry_commands import export_options
from .remote_options import api_key_option, open_remote

if TYPE_CHECKING:
    from heimdall_io.service import ExportOptions


def _common(f: Any) -> Any:
    return stack(
        click.option("--no-validate", is_flag=True, help="Skip onnx.checker where it lands."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        api_key_option,
        quiet_option,
        storage_options,
    )(f)  # fmt: skip


@contextlib.contextmanager
def _progress(label: str, quiet: bool, no_validate: bool) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A progress bar, and the keywords every move takes (validation, progress, total)."""
    from .progress import Progress

    progress = Progress(label, None, not quiet)

    def start(total: int | None) -> None:
        progress.total = total

    try:
        yield progress, {"validate": not no_validate, "progress": progress, "start": start}
    finally:
        progress.close()


def _move_command(first: str, second: str) -> Any:
    """A push or pull command: two arguments, the export options, the common ones."""
    return stack(click.command(), click.argument(first), click.argument(second),
                 export_options, _common)  # fmt: skip


@_move_command("model_id", "remote")
def push(model_id: str, remote: str, **given: Any) -> None:
    """Export MODEL_ID and stream it into REMOTE's import (a name or a base URL)."""
    _move("push", model_id, remote, **given)


@_move_command("remote", "model_id")
def pull(remote: str, model_id: str, **given: Any) -> None:
    """Stream REMOTE's export of MODEL_ID into the local import (resumes if cut)."""
    _move("pull", model_id, remote, **given)


def _move(direction: str, model_id: str, remote: str, options: ExportOptions,
          no_validate: bool, as_json: bool, api_key: str | None, quiet: bool,
          storage: StorageUrls) -> None:  # fmt: skip
    from heimdall_io.transfer import moves

    from .render import echo_json_line

    label = f"pushing to {remote}" if direction == "push" else f"pulling from {remote}"
    with storage.open_service() as service, open_remote(remote, api_key) as client, \
            _progress(label, quiet, no_validate) as (progress, how):  # fmt: skip
        if direction == "push":
            created = moves.push(service, model_id, client, options, **how)
        else:
            r = moves.pull(client, model_id, service, options, **how).record
            created = {"model_id": r.model_id, "model_name": r.model_name, "version": r.version,
                       "onnx_path": r.onnx_path, "onnx_size_bytes": r.onnx_size_bytes,
                       "onnx_md5": r.onnx_md5, "onnx_sha256": r.onnx_sha256,
                       "source_model_id": r.source_model_id}  # fmt: skip
    name = client.remote.name
    if as_json:
        if direction == "pull":
            created.pop("version")
        echo_json_line({"remote": name, "bytes": progress.done, **created})
    elif quiet:
        click.echo(created.get("model_id"))
    elif direction == "push":
        click.echo(f"✓ Push successful!\n  Remote: {name}\n"
                   f"  Model ID: {created.get('model_id')} (on {name})\n"
                   f"  Model: {created.get('model_name')} v{created.get('version')}\n"
                   f"  Sent: {progress.done:,} bytes")  # fmt: skip
    else:
        click.echo(f"✓ Pull successful!\n  Model ID: {created['model_id']}\n"
                   f"  Model: {created['model_name']} v{created['version']}\n"
                   f"  Stored: {created['onnx_path']}\n"
                   f"  Received: {progress.done:,} bytes")  # fmt: skip


@click.command()
@click.argument("source")
@click.argument("destination")
@export_options
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file or object.")
@_common
def copy(source: str, destination: str, options: ExportOptions, force: bool,
         no_validate: bool, as_json: bool, api_key: str | None, quiet: bool,
         storage: StorageUrls) -> None:  # fmt: skip
    """Copy a model or bundle from SOURCE to DESTINATION, streaming.

    Each is `local:ID` (`local:` as a destination: import), `REMOTE:ID` (`REMOTE:`), a
    bundle file (`-`: stdin/stdout), `s3://BUCKET/KEY` or (as a source) an http(s)://
    bundle URL. Export options apply to registry sources. Files and s3:// objects are
    verified while written and appear only when complete.
    """
    from heimdall_io.transfer.moves import copy as copy_bundle
    from heimdall_io.transfer.moves import parse_place

    from .render import echo_json_line

    src, dst = parse_place(source), parse_place(destination)
    with contextlib.ExitStack() as resources:
        service: list[Any] = []
        clients: dict[str, Any] = {}

        def services() -> Any:
            if not service:
                service.append(resources.enter_context(storage.open_service()))
            return service[0]

        def client_for(name: str) -> Any:
            if name not in clients:
                clients[name] = resources.enter_context(open_remote(name, api_key))
            return clients[name]

        _, how = resources.enter_context(_progress("copying", quiet, no_validate))
        done = copy_bundle(src, dst, services=services, clients=client_for, options=options,
                           force=force, **how)  # fmt: skip
    if as_json:
        echo_json_line(done)
    elif not quiet or dst.kind != "bundle":
        created = f" as {done['model_id']}" if done.get("model_id") else ""
        click.echo(f"✓ Copied {source} -> {destination}{created} ({done['bytes']:,} bytes)",
                   err=dst.location == "-")  # fmt: skip


@click.group()
def remote() -> None:
    """Name other `heimdall serve` instances (URL and API key) for push, pull and copy."""


@remote.command(name="add")
@click.argument("name")
@click.argument("url")
@click.option("--key-file", type=click.Path(allow_dash=True),
              help="A file whose first line is the remote's API key (`-`: stdin).")  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="Replace an existing remote of that name.")
def remote_add(name: str, url: str, key_file: str | None, force: bool) -> None:
    """Add remote NAME at URL (http(s)://HOST[:PORT]); its key is stored, never shown."""
    from heimdall_io.transfer.remotes import RemotesConfig, read_key_file

    from .errors import fail

    config = RemotesConfig()
    if name in config.remotes and not force:
        fail(f"remote {name!r} exists; pass --force to replace it")
    key = read_key_file(key_file) if key_file is not None else None
    added = config.add(name, url, key)
    config.save()
    click.echo(f"Added remote {added.name} -> {added.url} (API key: "
               f"{'stored' if key else 'none'}; config {config.path})")  # fmt: skip


@remote.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def remote_list(as_json: bool) -> None:
    """The configured remotes (names and URLs; keys are never printed)."""
    from heimdall_io.transfer.remotes import RemotesConfig

    from .render import echo_json, printable

    config = RemotesConfig()
    rows = [config.get(name) for name in sorted(config.remotes)]
    if as_json:
        echo_json([{"name": r.name, "url": r.url, "api_key": bool(r.api_key)} for r in rows])
        return
    for r in rows:
        click.echo(f"{printable(r.name):<20} {printable(r.url)}  "
                   f"(API key: {'stored' if r.api_key else 'none'})")  # fmt: skip


@remote.command(name="remove")
@click.argument("name")
def remote_remove(name: str) -> None:
    """Forget remote NAME (and its stored key)."""
    from heimdall_io.transfer.remotes import RemotesConfig

    config = RemotesConfig()
    config.remove(name)
    config.save()
    click.echo(f"Removed remote {name}")


COMMANDS = (push, pull, copy, remote)
