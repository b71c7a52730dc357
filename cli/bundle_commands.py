"""The bundle-file commands: pack, unpack, inspect, verify (no registry involved)."""

from __future__ import annotations

import click

from .errors import fail
from .options import (
    Compression,
    ModelMetadata,
    compression_options,
    force_option,
    model_metadata_options,
    quiet_option,
)


@click.command()
@click.argument("model", type=str)
@click.option("-o", "--output", required=True,
              help="Bundle to write (`-`: stdout; s3://BUCKET/KEY).")  # fmt: skip
@model_metadata_options(name_required=False, overrides=True)
@compression_options
@force_option
@quiet_option
def pack(
    model: str,
    output: str,
    metadata: ModelMetadata,
    compression: Compression,
    force: bool,
    quiet: bool,
) -> None:
    """Pack an ONNX MODEL file (`-`: stdin) into a .heimdall bundle.

    Opset, input/output shapes and parameter count are read from the model without
    loading its weights.
    """
    import os

    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_output

    from .progress import Progress

    name = metadata.name
    if name is None:
        base = os.path.basename(model) if model != "-" else "model"
        name = base[:-5] if base.endswith(".onnx") else base
    sections = metadata.sections()
    total = os.path.getsize(model) if model != "-" and os.path.isfile(model) else None
    progress = Progress("packing", total, not quiet)
    try:
        input_shape, output_shape = metadata.shapes()
        done = bundle_files.pack(
            model,
            output,
            model={
                "model_name": name,
                "version": metadata.version,
                "architecture": metadata.architecture,
                "onnx_opset": metadata.opset,
                "input_shape": input_shape,
                "output_shape": output_shape,
                "parameters_count": metadata.parameters,
            },
            sections=sections,
            description=metadata.description,
            compression=compression.name,
            level=compression.level,
            force=force,
            progress=progress,
            output=open_output,
        )
    finally:
        progress.close()
    if output != "-" and not quiet:
        d = done.result.digests
        assert d is not None
        click.echo(
            f"Packed {name} -> {output}: {d.size:,} byte model, "
            f"{done.result.bytes_out:,} byte bundle, md5 {d.md5}",
            err=True,
        )


@click.command()
@click.argument("bundle", type=str)
@click.option("-o", "--output", required=True, help="ONNX file to write (`-`: stdout).")
@force_option
@quiet_option
def unpack(bundle: str, output: str, force: bool, quiet: bool) -> None:
    """Extract the ONNX model of BUNDLE (`-`: stdin; s3:// or http(s):// URL), verifying
    its checksums.

    The output appears only once the whole bundle has been read and checked.
    """
    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_bundle

    from .progress import Progress

    progress = Progress("unpacking", None, not quiet)
    try:
        info = bundle_files.unpack(bundle, output, force=force, progress=progress,
                                   opener=open_bundle)  # fmt: skip
    finally:
        progress.close()
    if output != "-" and not quiet:
        click.echo(f"Unpacked {output}: {info.payload_size:,} bytes, md5 {info.md5}", err=True)


@click.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def inspect(bundle: str, as_json: bool) -> None:
    """Show a bundle's format, metadata sections, payload size and checksums.

    On an uncompressed bundle written by heimdall-io this reads only the metadata (of an
    s3:// or http(s):// URL: only the bytes around the payload, by ranged requests).
    """
    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_probe

    from .render import echo_info, echo_json, info_json

    info = bundle_files.inspect(bundle, opener=open_probe)
    if as_json:
        echo_json(info_json(info))
    else:
        echo_info(info, bundle)


@click.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@quiet_option
def verify(bundle: str, as_json: bool, quiet: bool) -> None:
    """Check everything: structure, checksums, and the model with onnx.checker.

    BUNDLE is a file (`-`: stdin) or an s3:// or http(s):// URL. Exit code 0 only when
    every check passes.
    """
    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_bundle

    from .progress import Progress
    from .render import echo_json, info_json

    progress = Progress("verifying", None, not quiet)
    try:
        result = bundle_files.verify(bundle, progress=progress, opener=open_bundle)
    finally:
        progress.close()
    info = result.info
    if as_json:
        echo_json(
            {
                "ok": result.ok,
                "checks": {"structure": True, "checksums": True, "onnx": result.ok},
                "error": result.model_error,
                **info_json(info),
            }
        )
    elif result.ok:
        click.echo(
            f"OK {bundle}: format {info.format_version}, structure valid, "
            f"{info.payload_size:,} bytes, md5 {info.md5} and sha256 match, onnx.checker passed"
        )
    if not result.ok:
        fail(f"{bundle}: {result.model_error}")


COMMANDS = (pack, unpack, inspect, verify)
