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
    from heimdall_io.files.bundles import load_json_file

    names = {
        "training_config": "--training-config",
        "performance_metrics": "--metrics",
        "normalization_stats": "--normalization",
        "sample_predictions": "--samples",
    }
    return {
        name: load_json_file(path, names[name]) for name, path in paths.items() if path is not None
    }


def _parse_shape(text: str | None, option: str) -> list[int | str] | None:
    """``1,3,224,224`` -> [1, 3, 224, 224]; names (``batch``) stay strings."""
    if text is None:
        return None
    dims = [d.strip() for d in text.strip("[]() ").split(",")]
    if not all(dims):
        raise click.BadParameter(f"{text!r} is not a comma-separated shape", param_hint=option)
    return [int(d) if d.lstrip("-").isdigit() else d for d in dims]


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
@click.option("--input-shape", help="Override the input shape, e.g. 1,3,224,224 or batch,16.")
@click.option("--output-shape", help="Override the output shape, e.g. 1,2.")
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
    input_shape: str | None,
    output_shape: str | None,
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

    from heimdall_io.files import bundles as bundle_files

    from .progress import Progress

    if level != 3 and not use_zstd:
        raise click.UsageError("--level applies to --zstd; pass --zstd --level N")
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
                "input_shape": _parse_shape(input_shape, "--input-shape"),
                "output_shape": _parse_shape(output_shape, "--output-shape"),
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
    from heimdall_io.files import bundles as bundle_files

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
    from heimdall_io.files import bundles as bundle_files

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
    from heimdall_io.files import bundles as bundle_files

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


# -- the registry ---------------------------------------------------------------------------


def _storage_options(f: Any) -> Any:
    f = click.option(
        "--storage-url",
        envvar="HEIMDALL_STORAGE_URL",
        help="Object store: a directory, file:///dir or s3://BUCKET?endpoint=URL "
        "[env: HEIMDALL_STORAGE_URL; default: $HEIMDALL_HOME/objects].",
    )(f)
    return click.option(
        "--database-url",
        envvar="HEIMDALL_DATABASE_URL",
        help="Registry: sqlite:///path or postgresql://... "
        "[env: HEIMDALL_DATABASE_URL; default: $HEIMDALL_HOME/registry.sqlite3].",
    )(f)


def _service(database_url: str | None, storage_url: str | None) -> Any:
    from heimdall_io.service import Service

    return Service.from_config(database_url, storage_url, actor="cli")


def _record_json(record: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(record)  # type: ignore[no-any-return]


def _accuracy(record: Any) -> str:
    from heimdall_io.service import sections_of

    metrics = sections_of(record.training_metrics).get("performance_metrics") or {}
    value = metrics.get("final_val_accuracy")
    if value is None and metrics.get("val_rmse"):
        values = [v for v in metrics["val_rmse"] if isinstance(v, (int, float))]
        value = min(values) if values else None
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of models.")
@_storage_options
def list_models(as_json: bool, database_url: str | None, storage_url: str | None) -> None:
    """List the models in the registry, newest first."""
    from .render import echo_json

    with _service(database_url, storage_url) as service:
        records = service.list_models()
    if as_json:
        echo_json([_record_json(r) for r in records])
        return
    click.echo(f"{'ID':<38}  {'Model Name':<35}  {'Version':<8}  {'Accuracy (m)':<12}  Created")
    click.echo("-" * 118)
    for r in records:
        created = r.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{r.model_id:<38}  {r.model_name[:35]:<35}  {r.version!s:<8}  "
            f"{_accuracy(r):<12}  {created}"
        )


@cli.command()
@click.argument("model", type=str)
@click.option("--name", required=True, help="Model name.")
@_model_metadata_options
@click.option("--json", "as_json", is_flag=True, help='Print {"model_id": ...}.')
@_quiet_option
@_storage_options
def register(
    model: str,
    name: str,
    model_version: int | None,
    architecture: str | None,
    description: str | None,
    training_config: str | None,
    metrics: str | None,
    normalization: str | None,
    samples: str | None,
    as_json: bool,
    quiet: bool,
    database_url: str | None,
    storage_url: str | None,
) -> None:
    """Add a trained ONNX MODEL file (`-`: stdin) to the registry; print its new id."""
    import contextlib

    from heimdall_io.files.paths import is_seekable, open_input, spooled_copy

    from .progress import Progress
    from .render import echo_json_line

    sections = _sections_from_files(
        training_config=training_config,
        performance_metrics=metrics,
        normalization_stats=normalization,
        sample_predictions=samples,
    )
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(open_input(model, "Model file"))
        if not is_seekable(src):
            src = stack.enter_context(spooled_copy(src))
        service = stack.enter_context(_service(database_url, storage_url))
        progress = Progress("registering", None, not quiet)
        stack.callback(progress.close)
        record = service.register(
            src,
            name=name,
            version=model_version,
            architecture=architecture,
            description=description,
            sections=sections,
            progress=progress,
        )
    if as_json:
        echo_json_line({"model_id": record.model_id, "model_name": record.model_name,
                        "onnx_path": record.onnx_path, "onnx_md5": record.onnx_md5})  # fmt: skip
    else:
        click.echo(record.model_id)


@cli.command()
@click.argument("model_id")
@click.option("-o", "--output", required=True, help="Bundle to write (`-`: stdout).")
@click.option("--no-config", is_flag=True, help="Exclude training_config.")
@click.option("--no-metrics", is_flag=True, help="Exclude performance_metrics.")
@click.option("--no-normalization", is_flag=True, help="Exclude normalization_stats.")
@click.option("--no-samples", is_flag=True, help="Exclude sample_predictions.")
@click.option("-n", "--num-samples", type=click.IntRange(0), default=5, show_default=True,
              help="Number of sample predictions.")  # fmt: skip
@click.option("-d", "--description", help="Description stored in the bundle.")
@click.option("--zstd", "use_zstd", is_flag=True, help="Compress the whole bundle with zstd.")
@click.option("--level", **_SIZE_OPTS, help="zstd level (1-19).")
@_force_option
@_quiet_option
@_storage_options
def export(
    model_id: str,
    output: str,
    no_config: bool,
    no_metrics: bool,
    no_normalization: bool,
    no_samples: bool,
    num_samples: int,
    description: str | None,
    use_zstd: bool,
    level: int,
    force: bool,
    quiet: bool,
    database_url: str | None,
    storage_url: str | None,
) -> None:
    """Export model MODEL_ID to a .heimdall bundle."""
    from heimdall_io.service import ExportOptions

    from .progress import Progress

    if level != 3 and not use_zstd:
        raise click.UsageError("--level applies to --zstd; pass --zstd --level N")
    options = ExportOptions(
        include_config=not no_config,
        include_metrics=not no_metrics,
        include_normalization=not no_normalization,
        include_samples=not no_samples,
        num_samples=num_samples,
        description=description,
        compression="zstd" if use_zstd else "none",
        level=level,
    )
    with _service(database_url, storage_url) as service:
        progress = Progress("exporting", None, not quiet)
        try:
            stream = service.export_to_path(
                model_id, output, options, force=force, progress=progress
            )
        finally:
            progress.close()
    if quiet:
        return
    header = stream.header
    samples = len(header.get("sample_predictions") or [])
    to_stderr = output == "-"

    def tick(flag: Any) -> str:
        return "✓" if flag else "✗"

    lines = [
        "✓ Export successful!",
        f"  Bundle ID: {stream.header['bundle_metadata']['bundle_id']}",
        f"  Model: {stream.record.model_name} v{stream.record.version}",
        f"  Output: {output}",
        f"  Size: {stream.bytes_out / 2**20:.2f} MB",
        "  Components:",
        f"    - ONNX model: {tick(True)}",
        f"    - Config: {tick('training_config' in header)}",
        f"    - Metrics: {tick('performance_metrics' in header)}",
        f"    - Normalization: {tick('normalization_stats' in header)}",
        f"    - Samples: {tick(samples)} ({samples} predictions)",
    ]
    click.echo("\n".join(lines), err=to_stderr)


@cli.command(name="import")
@click.argument("bundles", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per import.")
@click.option("--no-validate", is_flag=True, help="Skip onnx.checker on the imported model.")
@_quiet_option
@_storage_options
def import_(
    bundles: tuple[str, ...],
    as_json: bool,
    no_validate: bool,
    quiet: bool,
    database_url: str | None,
    storage_url: str | None,
) -> None:
    """Import one or more BUNDLE files (`-`: stdin); print each new model id.

    Each bundle is imported whole or not at all. With several bundles, a failure is
    reported and the rest still imported; the exit code is then 1.
    """
    from heimdall_io.files.paths import open_input

    from .errors import message_for
    from .progress import Progress
    from .render import echo_json_line

    failures = 0
    with _service(database_url, storage_url) as service:
        for path in bundles:
            progress = Progress(f"importing {path}", None, not quiet)
            try:
                with open_input(path) as src:
                    result = service.import_bundle(src, validate=not no_validate, progress=progress)
            except Exception as exc:
                msg = message_for(exc)
                if msg is None or len(bundles) == 1:
                    raise
                failures += 1
                click.echo(f"Error: {path}: {msg}", err=True)
                continue
            finally:
                progress.close()
            r = result.record
            if as_json:
                echo_json_line({"bundle": path, "model_id": r.model_id,
                                "model_name": r.model_name, "onnx_path": r.onnx_path,
                                "onnx_size_bytes": r.onnx_size_bytes, "onnx_md5": r.onnx_md5,
                                "onnx_sha256": r.onnx_sha256,
                                "source_model_id": r.source_model_id})  # fmt: skip
            elif quiet:
                click.echo(r.model_id)
            else:
                click.echo(
                    f"✓ Import successful!\n  Model ID: {r.model_id}\n"
                    f"  Model: {r.model_name} v{r.version}\n  Stored: {r.onnx_path}"
                )
    if failures:
        raise SystemExit(1)


@cli.command()
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_storage_options
def show(model_id: str, as_json: bool, database_url: str | None, storage_url: str | None) -> None:
    """Show one model's metadata."""
    from .render import echo_json

    with _service(database_url, storage_url) as service:
        record = service.get_model(model_id)
    data = _record_json(record)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if key in ("training_metrics", "extra"):
            continue
        click.echo(f"{key + ':':<18} {value if value is not None else '-'}")
    for name, section in (record.training_metrics or {}).items():
        size = len(section) if isinstance(section, (list, dict)) else 1
        click.echo(f"{name + ':':<18} {size} entries")


@cli.command()
@click.argument("model_id")
@_storage_options
def delete(model_id: str, database_url: str | None, storage_url: str | None) -> None:
    """Delete a model: its registry row, then its object."""
    with _service(database_url, storage_url) as service:
        record = service.delete(model_id)
    click.echo(f"Deleted {record.model_id} ({record.model_name} v{record.version})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("-n", "--limit", type=click.IntRange(1), help="Show only the newest N entries.")
@_storage_options
def history(
    as_json: bool, limit: int | None, database_url: str | None, storage_url: str | None
) -> None:
    """The audit history of exports, imports, registrations and deletions."""
    from .render import echo_json_line

    with _service(database_url, storage_url) as service:
        entries = service.history(limit)
    for e in entries:
        if as_json:
            echo_json_line(_record_json(e))
            continue
        size = f"{e.bytes:,} B" if e.bytes is not None else "-"
        click.echo(
            f"{e.at.strftime('%Y-%m-%d %H:%M:%S')}  {e.action:<8} {e.result:<5} "
            f"{e.model_id or '-':<36}  {size:>16}  {e.actor or '-'}  {e.detail or ''}"
        )


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--min-age", type=click.IntRange(0), default=3600, show_default=True,
              help="Leave objects younger than this many seconds (imports in flight).")  # fmt: skip
@_storage_options
def gc(dry_run: bool, min_age: int, database_url: str | None, storage_url: str | None) -> None:
    """Remove stored objects that no model references (left by interrupted imports)."""
    import datetime as dt

    with _service(database_url, storage_url) as service:
        result = service.gc(min_age=dt.timedelta(seconds=min_age), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for obj in result.removed:
        click.echo(f"{verb} {obj.key} ({obj.size:,} bytes)")
    click.echo(f"{len(result.removed)} unreferenced object(s) {verb}", err=True)
    if result.incomplete_purged:
        click.echo(f"{result.incomplete_purged} unfinished upload(s) removed", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True,
              help="TCP port.")  # fmt: skip
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Server log level.")  # fmt: skip
@_storage_options
def serve(
    host: str, port: int, log_level: str, database_url: str | None, storage_url: str | None
) -> None:
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
    app = create_app_from_env(database_url, storage_url)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)


def main(prog_name: str | None = None) -> None:
    cli(prog_name=prog_name or "heimdall")


if __name__ == "__main__":  # pragma: no cover
    main()
