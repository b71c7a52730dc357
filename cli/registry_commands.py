"""The registry commands: list, register, export, import, show, delete, history, gc.

Each opens the registry and object store named by --database-url and --storage-url.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .mlflow_commands import (
    mlflow_metadata_option,
    mlflow_options,
    register_in_mlflow,
    registration_json,
    registration_lines,
    with_mlflow_section,
)
from .options import (
    Compression,
    ModelMetadata,
    StorageUrls,
    collect,
    compression_options,
    force_option,
    model_metadata_options,
    quiet_option,
    stack,
    storage_options,
)
from .remote_options import open_remote, remote_option
from .signing_options import sign_option
from .tool_options import TARGETS, upstream_options

if TYPE_CHECKING:
    from heimdall_io.mlflow import MlflowTarget
    from heimdall_io.service import ExportOptions

#: The metadata sections an export may leave out: --no-NAME, ExportOptions.include_NAME.
_EXPORT_SECTIONS = {
    "config": "training_config",
    "metrics": "performance_metrics",
    "normalization": "normalization_stats",
    "samples": "sample_predictions",
}


def _record_json(record: Any) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(record)


def _accuracy(record: Any) -> str:
    from heimdall_io.service import sections_of

    metrics = sections_of(record.training_metrics).get("performance_metrics") or {}
    value = metrics.get("final_val_accuracy")
    if value is None and metrics.get("val_rmse"):
        values = [v for v in metrics["val_rmse"] if isinstance(v, (int, float))]
        value = min(values) if values else None
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


@click.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of models.")
@remote_option
@storage_options
def list_models(
    as_json: bool, remote: str | None, api_key: str | None, storage: StorageUrls
) -> None:
    """List the models in the registry (or a --remote one), newest first."""
    from .render import echo_json, printable

    if remote is not None:
        with open_remote(remote, api_key) as client:
            records = client.records()
    else:
        with storage.open_service() as service:
            records = service.list_models()
    if as_json:
        echo_json([_record_json(r) for r in records])
        return
    click.echo(f"{'ID':<38}  {'Model Name':<35}  {'Version':<8}  {'Accuracy (m)':<12}  Created")
    click.echo("-" * 118)
    for r in records:
        created = r.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{r.model_id:<38}  {printable(r.model_name)[:35]:<35}  {r.version!s:<8}  "
            f"{_accuracy(r):<12}  {created}"
        )


@click.command()
@click.argument("model", type=str)
@model_metadata_options(name_required=True, overrides=False)
@click.option("--json", "as_json", is_flag=True, help='Print {"model_id": ...}.')
@quiet_option
@storage_options
def register(
    model: str, metadata: ModelMetadata, as_json: bool, quiet: bool, storage: StorageUrls
) -> None:
    """Add a trained ONNX MODEL file (`-`: stdin) to the registry; print its new id. A
    MODEL directory (one .onnx file and its external data files) adds every file."""
    import contextlib
    import os

    from heimdall_io.files.paths import is_seekable, open_input, spooled_copy

    from .progress import Progress
    from .render import echo_json_line

    assert metadata.name is not None  # --name is required
    sections = metadata.sections()
    _check_storable(metadata, sections)
    directory = model if model != "-" and os.path.isdir(model) else None
    with contextlib.ExitStack() as resources:
        src = None
        if directory is None:
            src = resources.enter_context(open_input(model, "Model file"))
            if not is_seekable(src):
                src = resources.enter_context(spooled_copy(src))
        service = resources.enter_context(storage.open_service())
        progress = Progress("registering", None, not quiet)
        resources.callback(progress.close)
        record = service.register(
            src,
            name=metadata.name,
            version=metadata.version,
            architecture=metadata.architecture,
            description=metadata.description,
            sections=sections,
            progress=progress,
            directory=directory,
        )
    if as_json:
        echo_json_line({"model_id": record.model_id, "model_name": record.model_name,
                        "onnx_path": record.onnx_path, "onnx_md5": record.onnx_md5})  # fmt: skip
    else:
        click.echo(record.model_id)


def _check_storable(metadata: ModelMetadata, sections: dict[str, Any]) -> None:
    """The rules of import (heimdall_io.format.storable) for what register stores as given."""
    from heimdall_io.format.storable import check_storable

    model = {"model_name": metadata.name, "version": metadata.version or 1,
             "architecture": metadata.architecture}  # fmt: skip
    document = {**sections, "bundle_metadata": {"description": metadata.description}}
    check_storable({**document, "model": model}, name_suffix="")


def _export_options(
    compression: Compression, num_samples: int, description: str | None, **excluded: bool
) -> ExportOptions:
    from heimdall_io.service import ExportOptions

    included: dict[str, Any] = {
        f"include_{name}": not excluded[f"no_{name}"] for name in _EXPORT_SECTIONS
    }
    return ExportOptions(
        **included,
        num_samples=num_samples,
        description=description,
        compression=compression.name,
        level=compression.level,
    )


def export_options(f: Any) -> Any:
    """--no-config ... --level, passed on as ``options: ExportOptions``."""
    names = [*(f"no_{name}" for name in _EXPORT_SECTIONS), "num_samples", "description"]
    f = collect("options", [*names, "compression"], _export_options)(f)
    return stack(
        *(click.option(f"--no-{name}", is_flag=True, help=f"Exclude {section}.")
          for name, section in _EXPORT_SECTIONS.items()),
        click.option("-n", "--num-samples", type=click.IntRange(0), default=5, show_default=True,
                     help="Number of sample predictions."),
        click.option("-d", "--description", help="Description stored in the bundle."),
    )(compression_options(f))  # fmt: skip


@click.command()
@click.argument("model_id")
@click.option("-o", "--output", required=True,
              help="Bundle to write (`-`: stdout; s3://BUCKET/KEY).")  # fmt: skip
@export_options
@click.option("--reproducible", is_flag=True,
              help="Same model and options, same bytes: a bundle id derived from them and "
              "the model's creation time.")  # fmt: skip
@mlflow_metadata_option
@click.option(
    "--to",
    "to",
    type=click.Choice(TARGETS),
    metavar="VERSION|upstream",
    help="Write another format version, or the upstream service's dialect.",
)
@upstream_options
@sign_option
@force_option
@quiet_option
@storage_options
def export(
    model_id: str,
    output: str,
    options: ExportOptions,
    reproducible: bool,
    mlflow_metadata: bool,
    to: str | None,
    overrides: Any,
    sign: tuple[str, ...],
    force: bool,
    quiet: bool,
    storage: StorageUrls,
) -> None:
    """Export model MODEL_ID to a .heimdall bundle.

    With --sign KEY the bundle is signed (format 1.2.0); it still streams, since the
    registry knows the model's digests. A model imported from a signed bundle keeps
    those signatures as provenance, signed or not.
    """
    import dataclasses

    from heimdall_io.transfer.urls import open_output

    from .progress import Progress
    from .signing_options import load_secret_keys
    from .tool_options import echo_warnings

    signers = tuple(load_secret_keys(sign))  # keys opened (passphrases asked) first
    options = dataclasses.replace(
        options, to=to, overrides=overrides, sign_with=signers, reproducible=reproducible
    )
    with storage.open_service() as service:
        if mlflow_metadata:
            options = with_mlflow_section(service, model_id, options)
        progress = Progress("exporting", None, not quiet)
        try:
            stream = service.export_stream(model_id, options, progress)
            with open_output(output, force=force) as out:
                for chunk in stream:
                    out.write(chunk)
        finally:
            progress.close()
    echo_warnings(stream.warnings)
    if quiet:
        return
    from .render import printable

    header = stream.header
    samples = len(header.get("sample_predictions") or [])
    to_stderr = output == "-"

    def tick(flag: Any) -> str:
        return "✓" if flag else "✗"

    lines = [
        "✓ Export successful!",
        f"  Bundle ID: {stream.header['bundle_metadata']['bundle_id']}",
        f"  Model: {printable(stream.record.model_name)} v{stream.record.version}",
        f"  Output: {printable(output)}",
        f"  Size: {stream.bytes_out / 2**20:.2f} MB",
        "  Components:",
        f"    - ONNX model: {tick(True)}",
        f"    - Config: {tick('training_config' in header)}",
        f"    - Metrics: {tick('performance_metrics' in header)}",
        f"    - Normalization: {tick('normalization_stats' in header)}",
        f"    - Samples: {tick(samples)} ({samples} predictions)",
    ]
    if header.get("signatures"):
        lines.append(f"  Signed by: {', '.join(e['key_id'] for e in header['signatures'])}")
    if (header.get("bundle_metadata") or {}).get("provenance"):
        lines.append(
            f"  Provenance: {len(header['bundle_metadata']['provenance'])} earlier signer(s)"
        )
    click.echo("\n".join(lines), err=to_stderr)


def _import_options(**excluded: bool) -> Any:
    from heimdall_io.service import ImportOptions

    return ImportOptions(**{f"include_{name}": not excluded[f"no_{name}"]
                            for name in _EXPORT_SECTIONS})  # fmt: skip


def import_options(f: Any) -> Any:
    """--no-config ... --no-samples, passed on as ``options: ImportOptions``."""
    f = collect("options", [f"no_{name}" for name in _EXPORT_SECTIONS], _import_options)(f)
    return stack(
        *(click.option(f"--no-{name}", is_flag=True, help=f"Do not store {section}.")
          for name, section in _EXPORT_SECTIONS.items()),
    )(f)  # fmt: skip


@click.command(name="import")
@click.argument("bundles", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per import.")
@click.option("--no-validate", is_flag=True, help="Skip onnx.checker on the imported model.")
@mlflow_options
@import_options
@quiet_option
@storage_options
def import_(
    bundles: tuple[str, ...],
    as_json: bool,
    no_validate: bool,
    mlflow: MlflowTarget | None,
    options: Any,
    quiet: bool,
    storage: StorageUrls,
) -> None:
    """Import one or more BUNDLE files (`-`: stdin; s3:// or http(s):// URLs, whose
    downloads resume if cut); print each new model id.

    Each bundle is imported whole or not at all. With several bundles, a failure is
    reported and the rest still imported; the exit code is then 1. With --mlflow, each
    model is then registered in MLflow; if that fails the import stands (a warning), unless
    --mlflow-required, which rolls the import back and counts it as failed. --no-config ...
    --no-samples leave those sections out (a partial import; the audit names them).
    """
    from heimdall_io.transfer.urls import open_bundle

    from .errors import message_for
    from .progress import Progress
    from .render import echo_json_line, printable
    from .signing_render import echo_verification

    failures = 0
    with storage.open_service() as service:
        for path in bundles:
            progress = Progress(f"importing {path}", None, not quiet)
            try:
                with open_bundle(path) as src:
                    result = service.import_bundle(
                        src, validate=not no_validate, progress=progress, options=options
                    )
                registration = register_in_mlflow(service, result.record, mlflow)
            except Exception as exc:
                msg = message_for(exc)
                if msg is None or len(bundles) == 1:
                    raise
                failures += 1
                click.echo(printable(f"Error: {path}: {msg}"), err=True)
                continue
            finally:
                progress.close()
            r = result.record
            if as_json:
                echo_json_line({"bundle": path, "model_id": r.model_id,
                                "model_name": r.model_name, "onnx_path": r.onnx_path,
                                "onnx_size_bytes": r.onnx_size_bytes, "onnx_md5": r.onnx_md5,
                                "onnx_sha256": r.onnx_sha256,
                                "source_model_id": r.source_model_id,
                                "signature": str(result.verdict.status) if result.verdict
                                else None,
                                "signer_key_id": result.verdict.signer_key_id if result.verdict
                                else None,
                                **registration_json(registration)})  # fmt: skip
            elif quiet:
                click.echo(r.model_id)
            else:
                click.echo(
                    f"✓ Import successful!\n  Model ID: {r.model_id}\n"
                    f"  Model: {printable(r.model_name)} v{r.version}\n"
                    f"  Stored: {printable(r.onnx_path or '-')}" + registration_lines(registration)
                )
                v = result.verdict
                if v is not None and (v.signatures.checks or v.provenance):
                    echo_verification(v.signatures, v.provenance)
    if failures:
        raise SystemExit(1)


@click.command()
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@remote_option
@storage_options
def show(
    model_id: str, as_json: bool, remote: str | None, api_key: str | None, storage: StorageUrls
) -> None:
    """Show one model's metadata (of the local registry or a --remote one)."""
    from .render import echo_json, printable

    if remote is not None:
        with open_remote(remote, api_key) as client:
            record = client.records(model_id)[0]
    else:
        with storage.open_service() as service:
            record = service.get_model(model_id)
    data = _record_json(record)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if key in ("training_metrics", "extra"):
            continue
        click.echo(f"{key + ':':<18} {printable(str(value)) if value is not None else '-'}")
    for name, section in (record.training_metrics or {}).items():
        size = len(section) if isinstance(section, (list, dict)) else 1
        click.echo(f"{printable(name) + ':':<18} {size} entries")
    from .signing_render import echo_recorded

    echo_recorded(record.extra)


@click.command()
@click.argument("model_id")
@storage_options
def delete(model_id: str, storage: StorageUrls) -> None:
    """Delete a model: its registry row, then its object."""
    from .render import printable

    with storage.open_service() as service:
        record = service.delete(model_id)
    click.echo(f"Deleted {record.model_id} ({printable(record.model_name)} v{record.version})")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("-n", "--limit", type=click.IntRange(1), help="Show only the newest N entries.")
@storage_options
def history(as_json: bool, limit: int | None, storage: StorageUrls) -> None:
    """The audit history of exports, imports, registrations and deletions."""
    from .render import echo_json_line, printable

    with storage.open_service() as service:
        entries = service.history(limit)
    for e in entries:
        if as_json:
            echo_json_line(_record_json(e))
            continue
        size = f"{e.bytes:,} B" if e.bytes is not None else "-"
        click.echo(
            f"{e.at.strftime('%Y-%m-%d %H:%M:%S')}  {e.action:<8} {e.result:<5} "
            f"{e.model_id or '-':<36}  {size:>16}  {printable(e.actor or '-')}  "
            f"{printable(e.detail or '')}"
            + (f"  signed by {e.signer_key_id}" if e.signer_key_id else "")
        )


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--min-age", type=click.IntRange(0), default=3600, show_default=True,
              help="Leave unreferenced objects without an import lease younger than this "
                   "many seconds (leased imports in flight are always left).")  # fmt: skip
@storage_options
def gc(dry_run: bool, min_age: int, storage: StorageUrls) -> None:
    """Remove stored objects that no model references (left by interrupted imports)."""
    import datetime as dt

    with storage.open_service() as service:
        result = service.gc(min_age=dt.timedelta(seconds=min_age), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for obj in result.removed:
        click.echo(f"{verb} {obj.key} ({obj.size:,} bytes)")
    click.echo(f"{len(result.removed)} unreferenced object(s) {verb}", err=True)
    if result.incomplete_purged:
        click.echo(f"{result.incomplete_purged} unfinished upload(s) removed", err=True)


COMMANDS = (list_models, register, export, import_, show, delete, history, gc)
