"""MLflow: the options `import --mlflow ...` and `export --mlflow-metadata`, and the command
`import-mlflow`. The MLflow client is imported only when one of them is used, and its
absence is one line: "pip install 'heimdall-io[mlflow]'".
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from .options import StorageUrls, collect, quiet_option, stack, storage_options

if TYPE_CHECKING:
    from heimdall_io.mlflow import MlflowTarget, Registration
    from heimdall_io.service import ExportOptions, Service
    from heimdall_io.storage.base import ModelRecord

_URI_HELP = "MLflow tracking server [env: HEIMDALL_MLFLOW_URI, then MLFLOW_TRACKING_URI]."


def _target(
    mlflow: bool,
    mlflow_uri: str | None,
    mlflow_model_name: str | None,
    mlflow_experiment: str,
    mlflow_required: bool,
) -> MlflowTarget | None:
    """The MLflow registration asked for, or None; checked before anything is imported."""
    if not (mlflow or mlflow_required):
        if mlflow_model_name is not None:
            raise click.UsageError("--mlflow-model-name applies to --mlflow")
        return None
    from heimdall_io.mlflow import MlflowTarget, require_mlflow, tracking_uri

    require_mlflow()
    return MlflowTarget(
        uri=tracking_uri(mlflow_uri),
        model_name=mlflow_model_name,
        experiment=mlflow_experiment,
        required=mlflow_required,
    )


def mlflow_options(f: Any) -> Any:
    """--mlflow, --mlflow-uri, --mlflow-model-name, --mlflow-experiment, --mlflow-required,
    passed on as ``mlflow: MlflowTarget | None``."""
    names = ("mlflow", "mlflow_uri", "mlflow_model_name", "mlflow_experiment", "mlflow_required")
    f = collect("mlflow", names, _target)(f)
    return stack(
        click.option("--mlflow", is_flag=True,
                     help="Also register each imported model in MLflow (a run and a model "
                          "version). If MLflow fails, the import stands and a warning is shown."),
        click.option("--mlflow-uri", envvar="HEIMDALL_MLFLOW_URI", help=_URI_HELP),
        click.option("--mlflow-model-name",
                     help="Registered model name [default: the model's name]."),
        click.option("--mlflow-experiment", envvar="HEIMDALL_MLFLOW_EXPERIMENT",
                     default="heimdall", show_default=True,
                     help="Experiment of the run [env: HEIMDALL_MLFLOW_EXPERIMENT]."),
        click.option("--mlflow-required", is_flag=True,
                     help="Implies --mlflow; if MLflow fails, the import fails and is rolled "
                          "back."),
    )(f)  # fmt: skip


def register_in_mlflow(
    service: Service, record: ModelRecord, target: MlflowTarget | None
) -> Registration | None:
    """Register an imported model in MLflow if asked to; warnings go to stderr."""
    if target is None:
        return None
    from heimdall_io.mlflow import register_imported

    registration = register_imported(service, record, target)
    for warning in registration.warnings:
        click.echo(f"Warning: {warning}", err=True)
    return registration


def registration_json(registration: Registration | None) -> dict[str, Any]:
    """The ``mlflow`` member of an import's JSON line ({} if MLflow was not asked for)."""
    if registration is None:
        return {}
    link = registration.link
    return {"mlflow": link.section() if link is not None else None}


def registration_lines(registration: Registration | None) -> str:
    """The MLflow line of an import's report ("" if MLflow was not asked for or failed)."""
    if registration is None or registration.link is None:
        return ""
    link = registration.link
    return f"\n  MLflow: {link.model_uri} (run {link.run_id})"


# -- export --mlflow-metadata ------------------------------------------------------------------


def mlflow_metadata_option(f: Any) -> Any:
    return click.option(
        "--mlflow-metadata", is_flag=True,
        help="Add an `mlflow` section (run, experiment, model name/version, tags) if the "
             "model is linked to MLflow.",
    )(f)  # fmt: skip


def with_mlflow_section(service: Service, model_id: str, options: ExportOptions) -> ExportOptions:
    """``options`` plus the model's ``mlflow`` section (a warning if it has no link)."""
    from heimdall_io.mlflow import find_link

    link = find_link(service, service.get_model(model_id).model_id)
    if link is None:
        click.echo(f"Warning: model {model_id} is not linked to MLflow: no mlflow section",
                   err=True)  # fmt: skip
        return options
    return replace(options, extra={**(options.extra or {}), "mlflow": link.section()})


# -- import-mlflow -----------------------------------------------------------------------------


@click.command(name="import-mlflow")
@click.argument("model_uri", metavar="models:/NAME/VERSION")
@click.option("--mlflow-uri", envvar="HEIMDALL_MLFLOW_URI", help=_URI_HELP)
@click.option("--name", help="heimdall model name [default: the registered model's name].")
@click.option("--no-validate", is_flag=True, help="Skip onnx.checker on the model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@quiet_option
@storage_options
def import_mlflow(
    model_uri: str,
    mlflow_uri: str | None,
    name: str | None,
    no_validate: bool,
    as_json: bool,
    quiet: bool,
    storage: StorageUrls,
) -> None:
    """Register an MLflow model version (models:/NAME/VERSION or models:/NAME@ALIAS) in
    the heimdall registry: its ONNX artifact, its run's params and metrics; print its id."""
    from heimdall_io.mlflow import import_model_version, parse_model_uri, require_mlflow
    from heimdall_io.mlflow import tracking_uri as resolve_uri

    from .progress import Progress
    from .render import echo_json_line

    parse_model_uri(model_uri)
    require_mlflow()
    uri = resolve_uri(mlflow_uri)
    with storage.open_service() as service:
        progress = Progress(f"importing {model_uri}", None, not quiet)
        try:
            imported = import_model_version(
                service, model_uri, tracking_uri=uri, name=name, validate=not no_validate,
                progress=progress,
            )  # fmt: skip
        finally:
            progress.close()
    r, link = imported.record, imported.link
    if as_json:
        echo_json_line({"model_uri": model_uri, "model_id": r.model_id,
                        "model_name": r.model_name, "version": r.version,
                        "onnx_path": r.onnx_path, "onnx_size_bytes": r.onnx_size_bytes,
                        "onnx_md5": r.onnx_md5, "onnx_sha256": r.onnx_sha256,
                        "mlflow": link.section()})  # fmt: skip
    elif quiet:
        click.echo(r.model_id)
    else:
        click.echo(
            f"✓ Import successful!\n  Model ID: {r.model_id}\n  Model: {r.model_name} "
            f"v{r.version}\n  Stored: {r.onnx_path}\n  MLflow: {link.model_uri} (run {link.run_id})"
        )


COMMANDS = (import_mlflow,)
