"""`heimdall`: pack, unpack, inspect and verify bundles; move models between registries.

Heavy modules are imported inside the commands that need them, so `--help` is instant.
"""

from __future__ import annotations

from typing import Any

import click

from .errors import Group, fail

_SIZE_OPTS = {"type": click.IntRange(1, 19), "default": 3, "show_default": True}


def _quiet_option(f: Any) -> Any:
    return click.option("-q", "--quiet", is_flag=True, help="No progress display.")(f)


def _force_option(f: Any) -> Any:
    return click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file.")(f)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="heimdall-io", prog_name="heimdall")
def cli() -> None:
    """Move trained Heimdall models between instances as .heimdall bundles.

    `-` stands for stdin or stdout wherever a path is taken:

      heimdall pack m.onnx -o - | ssh host heimdall unpack - -o m.onnx
    """


# -- bundle files -------------------------------------------------------------------------


def _sections_from_files(**paths: str | None) -> dict[str, Any]:
    from heimdall_io.bundle_files import load_json_file

    names = {
        "training_config": "--training-config",
        "performance_metrics": "--metrics",
        "normalization_stats": "--normalization",
        "sample_predictions": "--samples",
    }
    return {
        name: load_json_file(path, names[name]) for name, path in paths.items() if path is not None
    }


def _model_metadata_options(f: Any) -> Any:
    for decorator in reversed(
        [
            click.option("--version", "model_version", type=int, help="Model version (default 1)."),
            click.option("--architecture", help="Network architecture, e.g. LocalizationNet."),
            click.option("--description", help="Description stored in the bundle."),
            click.option("--training-config", type=click.Path(), help="JSON file."),
            click.option("--metrics", type=click.Path(), help="JSON file: performance_metrics."),
            click.option("--normalization", type=click.Path(), help="JSON file."),
            click.option("--samples", type=click.Path(), help="JSON file: sample_predictions."),
        ]
    ):
        f = decorator(f)
    return f


@cli.command()
@click.argument("model", type=str)
@click.option("-o", "--output", required=True, help="Bundle to write (`-`: stdout).")
@click.option("--name", help="Model name (default: the file name without .onnx).")
@_model_metadata_options
@click.option("--opset", type=int, help="Override the opset read from the model.")
@click.option("--parameters", type=int, help="Override the parameter count.")
@click.option("--zstd", "use_zstd", is_flag=True, help="Compress the whole bundle with zstd.")
@click.option("--level", **_SIZE_OPTS, help="zstd level (1-19).")
@_force_option
@_quiet_option
def pack(
    model: str,
    output: str,
    name: str | None,
    model_version: int | None,
    architecture: str | None,
    description: str | None,
    training_config: str | None,
    metrics: str | None,
    normalization: str | None,
    samples: str | None,
    opset: int | None,
    parameters: int | None,
    use_zstd: bool,
    level: int,
    force: bool,
    quiet: bool,
) -> None:
    """Pack an ONNX MODEL file (`-`: stdin) into a .heimdall bundle.

    Opset, input/output shapes and parameter count are read from the model without
    loading its weights.
    """
    import os

    from heimdall_io import bundle_files

    from .progress import Progress

    if name is None:
        base = os.path.basename(model) if model != "-" else "model"
        name = base[:-5] if base.endswith(".onnx") else base
    sections = _sections_from_files(
        training_config=training_config,
        performance_metrics=metrics,
        normalization_stats=normalization,
        sample_predictions=samples,
    )
    total = os.path.getsize(model) if model != "-" and os.path.isfile(model) else None
    progress = Progress("packing", total, not quiet)
    try:
        done = bundle_files.pack(
            model,
            output,
            model={
                "model_name": name,
                "version": model_version,
                "architecture": architecture,
                "onnx_opset": opset,
                "parameters_count": parameters,
            },
            sections=sections,
            description=description,
            compression="zstd" if use_zstd else "none",
            level=level,
            force=force,
            progress=progress,
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


@cli.command()
@click.argument("bundle", type=str)
@click.option("-o", "--output", required=True, help="ONNX file to write (`-`: stdout).")
@_force_option
@_quiet_option
def unpack(bundle: str, output: str, force: bool, quiet: bool) -> None:
    """Extract the ONNX model of BUNDLE (`-`: stdin), verifying its checksums.

    The output appears only once the whole bundle has been read and checked.
    """
    from heimdall_io import bundle_files

    from .progress import Progress

    progress = Progress("unpacking", None, not quiet)
    try:
        info = bundle_files.unpack(bundle, output, force=force, progress=progress)
    finally:
        progress.close()
    if output != "-" and not quiet:
        click.echo(f"Unpacked {output}: {info.payload_size:,} bytes, md5 {info.md5}", err=True)


@cli.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def inspect(bundle: str, as_json: bool) -> None:
    """Show a bundle's format, metadata sections, payload size and checksums.

    On an uncompressed bundle file written by heimdall-io this reads only the metadata.
    """
    from heimdall_io import bundle_files

    from .render import echo_info, echo_json, info_json

    info = bundle_files.inspect(bundle)
    if as_json:
        echo_json(info_json(info))
    else:
        echo_info(info, bundle)


@cli.command()
@click.argument("bundle", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@_quiet_option
def verify(bundle: str, as_json: bool, quiet: bool) -> None:
    """Check everything: structure, checksums, and the model with onnx.checker.

    Exit code 0 only when every check passes.
    """
    from heimdall_io import bundle_files

    from .progress import Progress
    from .render import echo_json, info_json

    progress = Progress("verifying", None, not quiet)
    try:
        result = bundle_files.verify(bundle, progress=progress)
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


def main(prog_name: str | None = None) -> None:
    cli(prog_name=prog_name or "heimdall")


if __name__ == "__main__":  # pragma: no cover
    main()
