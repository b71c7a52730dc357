"""The bundle tools: diff and convert (no registry involved)."""

from __future__ import annotations

from typing import Any

import click

from .options import Compression, compression_options, force_option, quiet_option
from .tool_options import TARGETS, echo_warnings, upstream_options


@click.command()
@click.argument("bundle", type=str)
@click.option("-o", "--output", required=True, help="Bundle to write (`-`: stdout).")
@click.option("--to", "to", required=True, type=click.Choice(TARGETS), metavar="VERSION|upstream",
              help=f"Target: {', '.join(TARGETS)}.")  # fmt: skip
@click.option("--strip-signatures", is_flag=True,
              help="Remove signatures (always done below format 1.2.0).")  # fmt: skip
@upstream_options
@compression_options
@force_option
@quiet_option
def convert(
    bundle: str,
    output: str,
    to: str,
    strip_signatures: bool,
    overrides: Any,
    compression: Compression,
    force: bool,
    quiet: bool,
) -> None:
    """Rewrite BUNDLE (`-`: stdin) in another format version, or for the upstream service.

    The payload streams through (never held in memory) and is verified on the way.
    `--to upstream` never invents a value: a section missing a required field is left out
    (with a warning); a required model field that is missing or not representable is an
    error naming the option that supplies it (--architecture, --input-shape, ...).
    """
    from heimdall_io.tools.convert import convert as convert_bundle

    from .progress import Progress

    progress = Progress("converting", None, not quiet)
    try:
        result = convert_bundle(
            bundle, output, to=to, strip_signatures=strip_signatures, overrides=overrides,
            compression=compression.name, level=compression.level, force=force,
            progress=progress,
        )  # fmt: skip
    finally:
        progress.close()
    echo_warnings(result.warnings)
    if output != "-" and not quiet:
        dialect = ", upstream dialect" if to == "upstream" else ""
        click.echo(
            f"Converted {bundle} ({result.source_version}) -> {output} "
            f"({result.format_version}{dialect}): {result.bytes_out:,} bytes",
            err=True,
        )


#: diff(1)'s exit codes.
SAME, DIFFERENT, TROUBLE = 0, 1, 2


@click.command()
@click.argument("a", type=str)
@click.argument("b", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--ignore", multiple=True, metavar="PATH",
              help="Leave a section or field out, e.g. bundle_metadata or "
                   "training_config.epochs (repeatable).")  # fmt: skip
@click.option("--no-onnx", is_flag=True,
              help="Do not compare the ONNX models when the payloads differ.")  # fmt: skip
def diff(a: str, b: str, as_json: bool, ignore: tuple[str, ...], no_onnx: bool) -> None:
    """Compare bundles A and B (one may be `-`: stdin): metadata section by section,
    payload identity, and the ONNX models (opset, inputs, outputs, parameters, tensors).

    Exit code as diff(1): 0 same, 1 different, 2 trouble. The payloads are compared by
    their declared checksums when both bundles have them, else by streaming; comparing
    the models decodes both payloads to temporary files. Memory stays flat.
    """
    import os
    import sys

    from .errors import message_for

    try:
        from heimdall_io.tools.diff import diff_bundles

        result = diff_bundles(a, b, ignore=ignore, models=not no_onnx)
    except Exception as exc:
        msg = message_for(exc)
        if msg is None or os.environ.get("HEIMDALL_DEBUG"):
            raise
        click.echo(f"Error: {msg}", err=True)
        sys.exit(TROUBLE)
    from .diff_render import diff_json, echo_diff
    from .render import echo_json

    if as_json:
        echo_json(diff_json(result))
    else:
        echo_diff(result)
    sys.exit(SAME if result.same else DIFFERENT)


COMMANDS = (diff, convert)
