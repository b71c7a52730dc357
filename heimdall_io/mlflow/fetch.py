"""MLflow -> heimdall: register a model version of an MLflow Model Registry in heimdall.

``models:/NAME/VERSION`` (or ``models:/NAME@ALIAS``) names the version. Its ONNX file is
found among the version's artifacts (the ``onnx`` flavor of its ``MLmodel``, else the one
``.onnx`` file at its top or one folder down), downloaded to a temporary file (MLflow
streams it to disk) and registered like ``heimdall register`` does, under the registered
model's name and the version's number; a model with external data brings the files its
tensors name (relative to the ONNX file, as ``onnx.load`` finds them) and is registered
as a model directory. The run's params become ``training_config`` and
its metrics ``performance_metrics`` (see :mod:`.mapping`); a version that heimdall
registered also brings back the other sections from its ``heimdall.json``, and its MD5 is
checked against the ``heimdall.onnx_md5`` tag.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from ..errors import (
    ChecksumMismatchError,
    ConfigError,
    HeimdallError,
    InvalidModelError,
    MlflowError,
    NotFoundError,
)
from ..files.layout import safe_path
from ..onnx.checker import check_model_file
from ..onnx.external import external_locations
from ..service import Progress, Service
from ..storage.base import ModelRecord
from . import client as mlflow_client
from .links import IMPORTED, MlflowLink, record_failure, record_link
from .mapping import param_text, performance_metrics, training_config
from .publish import METADATA_FILE

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?$")
#: The most of heimdall.json read into memory (it holds metadata, not the model).
MAX_METADATA_BYTES = 64 << 20


@dataclass(frozen=True)
class MlflowImport:
    """The model registered in heimdall, its link to MLflow, and warnings."""

    record: ModelRecord
    link: MlflowLink


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` of ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``.

    >>> parse_model_uri("models:/LocalizationNet/3")
    ('LocalizationNet', '3', None)
    """
    match = _MODEL_URI.match(uri.strip())
    if match is None:
        raise ConfigError(f"not an MLflow model version URI: {uri!r} (models:/NAME/VERSION)")
    return match["name"], match["version"], match["alias"]


def import_model_version(
    service: Service,
    model_uri: str,
    *,
    tracking_uri: str,
    name: str | None = None,
    validate: bool = True,
    progress: Progress = None,
) -> MlflowImport:
    """Register the model version ``model_uri`` of the MLflow at ``tracking_uri``."""
    try:
        return _import(service, model_uri, tracking_uri, name, validate, progress)
    except HeimdallError as exc:
        record_failure(service, None, f"MLflow import of {model_uri} failed: {exc}")
        raise


def _import(
    service: Service,
    model_uri: str,
    tracking_uri: str,
    name: str | None,
    validate: bool,
    progress: Progress,
) -> MlflowImport:
    model_name, number, alias = parse_model_uri(model_uri)
    client = mlflow_client.connect(tracking_uri)
    where = mlflow_client.public_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="heimdall-mlflow-") as tmp:
        with mlflow_client.errors(f"MLflow at {where}"):
            if alias is not None:
                mv = client.get_model_version_by_alias(model_name, alias)
            else:
                mv = client.get_model_version(model_name, number)
            run = client.get_run(mv.run_id) if mv.run_id else None
            repo = _repository(client, tracking_uri, mv)
            onnx_file, metadata = _locate(repo, tmp)
            download = os.path.join(tmp, "download")
            os.mkdir(download)
            path = repo.download_artifacts(onnx_file, download)
            # download_artifacts keeps the artifact's path: data files land beside it.
            external = _external_files(path)
            for location in external:
                repo.download_artifacts(posixpath.join(posixpath.dirname(onnx_file), location),
                                        download)  # fmt: skip
            histories = _histories(client, run)
            experiment = client.get_experiment(run.info.experiment_id) if run else None
        params = dict(run.data.params) if run else {}
        tags = dict(run.data.tags) if run else {}
        sections = _sections(params, histories, tags, metadata)
        if validate:
            check_model_file(path)
        model = metadata.get("model")
        model = model if isinstance(model, dict) else {}
        fields: dict[str, Any] = dict(
            name=name or model_name, version=int(mv.version),
            architecture=model.get("architecture") or tags.get("heimdall.architecture"),
            description=mv.description or None, sections=sections, progress=progress,
        )  # fmt: skip
        if external:
            record = service.register(None, directory=os.path.dirname(path), **fields)
        else:
            with open(path, "rb") as f:
                record = service.register(f, **fields)
    expected = tags.get("heimdall.onnx_md5") or (mv.tags or {}).get("heimdall.onnx_md5")
    if expected and expected != record.onnx_md5:
        with contextlib.suppress(HeimdallError):
            service.delete(record.model_id)
        raise ChecksumMismatchError(
            f"{model_uri}: the ONNX artifact has MD5 {record.onnx_md5}, its run says {expected}"
        )
    link = MlflowLink(
        tracking_uri=where, run_id=run.info.run_id if run else None,
        experiment_id=run.info.experiment_id if run else None,
        experiment_name=experiment.name if experiment is not None else None,
        model_name=model_name, model_version=str(mv.version), direction=IMPORTED,
        tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
        model_version_tags=dict(mv.tags or {}),
    )  # fmt: skip
    record_link(service, record.model_id, link)
    return MlflowImport(record, link)


def _external_files(path: str) -> list[str]:
    """The files the ONNX file at ``path`` keeps tensors in (relative paths, each once);
    InvalidModelError for a location a model directory cannot hold (absolute, ``..``)."""
    with open(path, "rb") as f:
        locations = sorted({location or "" for _, location in external_locations(f)})
    for location in locations:
        if not safe_path(location):
            raise InvalidModelError(
                f"the ONNX file keeps tensors in {location!r}, which is not a file beside it"
            )
    return locations


def _repository(client: Any, tracking_uri: str, mv: Any) -> Any:
    """The artifact repository of a model version's files."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    uri = client.get_model_version_download_uri(mv.name, mv.version)
    return get_artifact_repository(uri, tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _locate(repo: Any, tmp: str) -> tuple[str, dict[str, Any]]:
    """The ONNX file's path in ``repo`` and the parsed heimdall.json ({} if none)."""
    top = repo.list_artifacts()
    files = {posixpath.basename(f.path): f for f in top if not f.is_dir}
    metadata: dict[str, Any] = {}
    meta = files.get(METADATA_FILE)
    if meta is not None and (meta.file_size or 0) <= MAX_METADATA_BYTES:
        with open(repo.download_artifacts(meta.path, tmp), encoding="utf-8") as f:
            loaded = json.load(f)
        metadata = loaded if isinstance(loaded, dict) else {}
    if "MLmodel" in files:
        import yaml

        with open(repo.download_artifacts(files["MLmodel"].path, tmp), encoding="utf-8") as f:
            flavors = (yaml.safe_load(f) or {}).get("flavors") or {}
        data = (flavors.get("onnx") or {}).get("data")
        if isinstance(data, str):
            return posixpath.join(posixpath.dirname(files["MLmodel"].path), data), metadata
    found = [f.path for f in top if not f.is_dir and f.path.endswith(".onnx")]
    if not found:
        for folder in (f for f in top if f.is_dir):
            found += [f.path for f in repo.list_artifacts(folder.path)
                      if not f.is_dir and f.path.endswith(".onnx")]  # fmt: skip
    if len(found) != 1:
        what = "no .onnx file" if not found else f"several .onnx files ({', '.join(found)})"
        raise (NotFoundError if not found else MlflowError)(
            f"the model version's artifacts hold {what}"
        )
    return found[0], metadata


def _histories(client: Any, run: Any) -> dict[str, list[tuple[int, int, float]]]:
    """Every metric's whole history, as (step, timestamp, value)."""
    if run is None:
        return {}
    return {
        key: [
            (m.step, m.timestamp, m.value) for m in client.get_metric_history(run.info.run_id, key)
        ]
        for key in run.data.metrics
    }


def _sections(
    params: dict[str, str],
    histories: dict[str, list[tuple[int, int, float]]],
    tags: dict[str, str],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The bundle sections of an MLflow run (and of its heimdall.json, if it has one).

    MLflow's params and metrics win; heimdall.json adds what they cannot hold (the other
    sections, values MLflow could not take) and the exact type of a param whose text is
    the one logged for it ("3" vs 3) or of a metric whose values are the logged ones.
    """
    config = training_config(params)
    meta_config = metadata.get("training_config")
    if isinstance(meta_config, dict):
        for key, value in meta_config.items():
            if key not in params or param_text(value) == params[key]:
                config[key] = value
    metrics = performance_metrics(histories, tags)
    meta_metrics = metadata.get("performance_metrics")
    if isinstance(meta_metrics, dict):
        for key, value in meta_metrics.items():
            if key not in metrics or _same_metric(value, metrics[key]):
                metrics[key] = value
    sections: dict[str, Any] = {"training_config": config, "performance_metrics": metrics}
    for name in ("normalization_stats", "sample_predictions"):
        if metadata.get(name) is not None:
            sections[name] = metadata[name]
    return {k: v for k, v in sections.items() if v}


def _same_metric(written: Any, logged: Any) -> bool:
    """Whether heimdall.json's metric holds the values MLflow has for it (1 == 1.0; a
    list's trailing nulls are not logged)."""
    if isinstance(written, list) and isinstance(logged, list):
        while written and written[-1] is None:
            written = written[:-1]
        return len(written) == len(logged) and all(map(_same_metric, written, logged))
    if isinstance(written, bool) or isinstance(logged, bool):
        return False
    if isinstance(written, (int, float)) and isinstance(logged, (int, float)):
        return float(written) == float(logged)
    return written is None and logged is None


__all__ = ["MlflowImport", "import_model_version", "parse_model_uri"]
