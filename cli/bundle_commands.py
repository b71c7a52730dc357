"""The bundle-file commands: pack, unpack, inspect, verify (no registry involved)."""

from __future__ import annotations

from typing import Any

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
from .signing_options import sign_option, verification_options


@click.command()
@click.argument("model", type=str)
@click.option("-o", "--output", required=True,
              help="Bundle to write (`-`: stdout; s3://BUCKET/KEY).")  # fmt: skip
@model_metadata_options(name_required=False, overrides=True)
@compression_options
@sign_option
@force_option
@quiet_option
def pack(
    model: str,
    output: str,
    metadata: ModelMetadata,
    compression: Compression,
    sign: tuple[str, ...],
    force: bool,
    quiet: bool,
) -> None:
    """Pack an ONNX MODEL file (`-`: stdin) into a .heimdall bundle; a MODEL directory
    (one .onnx file and its external data files) packs every file (format 1.2.0).

    Opset, input/output shapes and parameter count are read from the model without
    loading its weights. With --sign the model is hashed first, so that its signed size
    and digests stand before the payload (format 1.2.0).
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
    signer = _signer(sign)  # keys opened (passphrases asked) before any work
    total = _input_size(model)
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
            sign=signer,
            output=open_output,
        )
    finally:
        progress.close()
    if output != "-" and not quiet:
        d = done.result.digests
        assert d is not None
        files = done.result.external
        extra = f" + {len(files)} external data files ({sum(e.size for _, e in files):,} bytes)"
        click.echo(
            f"Packed {name} -> {output}: {d.size:,} byte model{extra if files else ''}, "
            f"{done.result.bytes_out:,} byte bundle, md5 {d.md5}",
            err=True,
        )
        if sign:
            ids = ", ".join(e["key_id"] for e in done.header["signatures"])
            click.echo(f"Signed by key {ids} (format 1.2.0)", err=True)


def _input_size(model: str) -> int | None:
    """Bytes to pack: the file's, or every file's in a model directory (for progress)."""
    import os

    if model == "-" or not os.path.exists(model):
        return None
    if os.path.isfile(model):
        return os.path.getsize(model)
    return sum(os.path.getsize(os.path.join(here, n)) for here, _, names in os.walk(model)
               for n in names if os.path.isfile(os.path.join(here, n)))  # fmt: skip


def _signer(refs: tuple[str, ...]) -> Any:
    """A function signing a header with the keys ``refs`` name (None without any)."""
    if not refs:
        return None
    from heimdall_io.signing import sign_document

    from .signing_options import load_secret_keys

    keys = load_secret_keys(refs)
    return lambda header: sign_document(header, keys)


@click.command()
@click.argument("bundle", type=str)
@click.option("-o", "--output", required=True,
              help="ONNX file (`-`: stdout), or directory (external data).")  # fmt: skip
@force_option
@quiet_option
def unpack(bundle: str, output: str, force: bool, quiet: bool) -> None:
    """Extract the ONNX model of BUNDLE (`-`: stdin; s3:// or http(s):// URL), verifying
    its checksums. A model with external data (or `-o DIR/`) is written as a directory:
    the .onnx file and its data files, each path confined to the directory.

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
        extra = f" + {len(info.external)} external data files" if info.external else ""
        click.echo(f"Unpacked {output}: {info.payload_size:,} bytes{extra}, md5 {info.md5}",
                   err=True)  # fmt: skip


@click.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def inspect(bundle: str, as_json: bool) -> None:
    """Show a bundle's format, metadata sections, payload size and checksums.

    On an uncompressed bundle written by heimdall-io this reads only the metadata (of an
    s3:// or http(s):// URL: only the bytes around the payload, by ranged requests), so it
    shows who signed the bundle without checking it (`verify --key` checks).
    """
    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_probe

    from .render import echo_info, echo_json, info_json
    from .signing_render import echo_signers

    info = bundle_files.inspect(bundle, opener=open_probe)
    if as_json:
        echo_json(info_json(info))
    else:
        echo_info(info, bundle)
        echo_signers(info.document)


@click.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@verification_options
@click.option("--detached", metavar="SIG", help="Check only the minisign signature SIG of"
              " BUNDLE, which may then be any file (as `minisign -V` does).")  # fmt: skip
@quiet_option
def verify(
    bundle: str,
    as_json: bool,
    key: tuple[str, ...],
    trusted_keys: str | None,
    detached: str | None,
    quiet: bool,
) -> None:
    """Check everything: structure, checksums, and the model with onnx.checker.

    BUNDLE is a file (`-`: stdin) or an s3:// or http(s):// URL. With --key PUB or
    --trusted-keys DIR, also the signatures: the bundle's own, those it carries as
    provenance, and BUNDLE.minisig if it exists. They pass when none is invalid and a
    trusted key's signature is valid (unsigned and unknown-key fail).
    Exit code 0 only when every check passes.
    """
    from heimdall_io.errors import BundleError
    from heimdall_io.files import bundles as bundle_files
    from heimdall_io.transfer.urls import open_bundle

    from .progress import Progress
    from .render import echo_json, info_json
    from .signature_checks import check_bundle, fail_unless_ok, verify_detached
    from .signing_options import load_trusted

    trusted = load_trusted(key, trusted_keys)
    if detached is not None:
        verify_detached(bundle, detached, trusted, as_json)
        return
    progress = Progress("verifying", None, not quiet)
    try:
        result = bundle_files.verify(bundle, progress=progress, opener=open_bundle)
    except BundleError as e:
        if trusted is None:
            raise
        fail(f"{bundle}: invalid: {e}")  # a changed byte: whatever it broke, it is invalid
    finally:
        progress.close()
    info = result.info
    report = check_bundle(bundle, info, trusted)
    signed_ok = report.problem() is None
    if as_json:
        checks = {"structure": True, "checksums": True, "onnx": result.ok}
        if trusted is not None:
            checks["signature"] = signed_ok
        echo_json(
            {
                "ok": result.ok and signed_ok,
                "checks": checks,
                "error": result.model_error or report.problem(),
                "signatures": report.json(),
                **info_json(info),
            }
        )
    else:
        if result.ok and signed_ok:
            click.echo(
                f"OK {bundle}: format {info.format_version}, structure valid, "
                f"{info.payload_size:,} bytes, md5 {info.md5} and sha256 match, onnx.checker passed"
            )
        if trusted is not None or info.document.get("signatures") or report.detached:
            report.echo()
    if not result.ok:
        fail(f"{bundle}: {result.model_error}")
    fail_unless_ok(bundle, report)


COMMANDS = (pack, unpack, inspect, verify)
