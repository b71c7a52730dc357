"""heimdall -> MLflow: a run for a registered model, then a model version from that run.

The run gets the model's params, metrics and ``heimdall.*`` tags (see :mod:`.mapping`)
and, under ``model/``, the ONNX file (``model.onnx``), an ``MLmodel`` file with the
``onnx`` flavor (so ``mlflow.onnx.load_model("models:/NAME/VERSION")`` works) and
``heimdall.json`` (the model's fields and every section, so that ``import-mlflow`` gets
back what params and metrics cannot hold). A model saved with external data has its data
files beside ``model.onnx``, at the paths its tensors name (as ``onnx.load`` expects
them). The bytes are never held in memory: a local store's file is linked into the
upload directory, any other store's object is streamed into a temporary file (and its
MD5 checked on the way).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ChecksumMismatchError, MlflowError
from ..format.header import now_iso
from ..service import Service, sections_of
from ..service.records import IMPORTED_SUFFIX, model_fields
from ..storage.base import ModelRecord, ObjectStore
from . import client as mlflow_client
from .links import REGISTERED, MlflowLink
from .mapping import RunData, run_data

ARTIFACT_DIR = "model"
ONNX_FILE = "model.onnx"
METADATA_FILE = "heimdall.json"
CHUNK = 4 << 20
#: How long a new model version may stay PENDING_REGISTRATION.
READY_TIMEOUT = 300.0


@dataclass(frozen=True)
class MlflowTarget:
    """Where and how to register: the tracking server, the registered model's name (None:
    the heimdall model's name without " (Imported)"), the experiment of the run, and
    whether a failure fails the whole import."""

    uri: str
    model_name: str | None = None
    experiment: str = mlflow_client.DEFAULT_EXPERIMENT
    required: bool = False


def default_model_name(record: ModelRecord) -> str:
    """The registered model's name: the heimdall name without the import suffix, with the
    characters MLflow refuses in a name (``/`` and ``:``) as ``_``.

    >>> default_model_name(ModelRecord(model_id="x", model_name="Net:v2 (Imported)", version=1))
    'Net_v2'
    """
    name = record.model_name
    name = name[: -len(IMPORTED_SUFFIX)] if name.endswith(IMPORTED_SUFFIX) else name
    return re.sub(r"[/:]", "_", name).strip() or "model"


def publish(
    service: Service, record: ModelRecord, target: MlflowTarget
) -> tuple[MlflowLink, list[str]]:
    """Register ``record`` in MLflow: a run, then a model version; returns the link and
    warnings (params or metrics MLflow could not take). MlflowError if MLflow fails; the
    run it created is deleted again."""
    client = mlflow_client.connect(target.uri)
    sections = sections_of(record.training_metrics)
    data = run_data(record, sections)
    name = target.model_name or default_model_name(record)
    where = mlflow_client.public_uri(target.uri)
    run_id = None
    try:
        with mlflow_client.errors(f"MLflow at {where}"):
            experiment_id = _experiment(client, target.experiment)
            run = client.create_run(
                experiment_id, tags=data.tags, run_name=f"heimdall {name} v{record.version}"
            )
            run_id = run.info.run_id
            _log(client, run_id, data)
            with tempfile.TemporaryDirectory(prefix="heimdall-mlflow-") as tmp:
                staged = os.path.join(tmp, ARTIFACT_DIR)
                _stage(service.store, record, sections, staged, run_id)
                client.log_artifacts(run_id, staged, ARTIFACT_DIR)
            client.set_terminated(run_id, "FINISHED")
            _registered_model(client, name)
            version = client.create_model_version(
                name, f"runs:/{run_id}/{ARTIFACT_DIR}", run_id=run_id, tags=data.tags,
                description=_description(record), await_creation_for=0,
            )  # fmt: skip
            version = _ready(client, name, str(version.version))
    except BaseException:
        if run_id is not None:
            _abandon(client, run_id)
        raise
    link = MlflowLink(
        tracking_uri=where, run_id=run_id, experiment_id=experiment_id,
        experiment_name=target.experiment, model_name=name, model_version=str(version.version),
        direction=REGISTERED, tags=dict(data.tags), model_version_tags=dict(version.tags or {}),
    )  # fmt: skip
    return link, data.skipped


def _experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, created if missing (another creator may win)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception as exc:
        if mlflow_client.error_code(exc) != "RESOURCE_ALREADY_EXISTS":
            raise
        return str(client.get_experiment_by_name(name).experiment_id)


def _registered_model(client: Any, name: str) -> None:
    """Create the registered model ``name`` unless it exists."""
    try:
        client.create_registered_model(name)
    except Exception as exc:
        if mlflow_client.error_code(exc) != "RESOURCE_ALREADY_EXISTS":
            raise


def _log(client: Any, run_id: str, data: RunData) -> None:
    """Params and metrics in batches of MLflow's maximum size."""
    from mlflow.entities import Metric, Param

    params = [Param(k, v) for k, v in data.params.items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, step) for k, v, step in data.metrics]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])


def _stage(
    store: ObjectStore, record: ModelRecord, sections: dict[str, Any], directory: str, run_id: str
) -> None:
    """Write into ``directory`` what goes under ``model/``: the ONNX file and its external
    data files, MLmodel and heimdall.json."""
    os.mkdir(directory)
    stage_object(store, record, os.path.join(directory, ONNX_FILE))
    for entry in record.external_data or ():
        path = os.path.join(directory, *str(entry["path"]).split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _stage_key(store, str(entry["key"]), entry.get("md5"), path)
    mlmodel = os.path.join(directory, "MLmodel")
    with open(mlmodel, "w", encoding="utf-8") as f:
        json.dump(_mlmodel(run_id), f, indent=2)  # YAML is a superset of JSON
    metadata = os.path.join(directory, METADATA_FILE)
    with open(metadata, "w", encoding="utf-8") as f:
        json.dump({"model": model_fields(record), **sections}, f, ensure_ascii=False, indent=1)


def stage_object(store: ObjectStore, record: ModelRecord, path: str) -> None:
    """Put the model's object at ``path`` without holding it in memory: a symbolic link to
    a local store's file, else a copy streamed chunk by chunk and checked against its MD5."""
    _stage_key(store, record.onnx_path or "", record.onnx_md5, path)


def _stage_key(store: ObjectStore, key: str, expected_md5: str | None, path: str) -> None:
    local = store.local_path(key)
    if local is not None:
        os.symlink(local, path)
        return
    md5 = hashlib.md5(usedforsecurity=False)
    with store.open(key) as src, open(path, "wb") as out:
        while chunk := src.read(CHUNK):
            md5.update(chunk)
            out.write(chunk)
    if expected_md5 and md5.hexdigest() != expected_md5:
        raise ChecksumMismatchError(
            f"stored object {key} has MD5 {md5.hexdigest()}, the registry says {expected_md5}"
        )


def _mlmodel(run_id: str) -> dict[str, Any]:
    """An MLmodel document with the onnx flavor, as mlflow.onnx.log_model writes it."""
    versions = {}
    for package in ("onnx", "mlflow-skinny"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "artifact_path": ARTIFACT_DIR,
        "flavors": {
            "onnx": {
                "code": None,
                "data": ONNX_FILE,
                "onnx_version": versions.get("onnx"),
                "providers": ["CPUExecutionProvider"],
            }
        },
        "mlflow_version": versions.get("mlflow-skinny"),
        "model_uuid": uuid.uuid4().hex,
        "run_id": run_id,
        "utc_time_created": now_iso().replace("T", " ").rstrip("Z"),
    }


def _description(record: ModelRecord) -> str:
    bundle = (record.extra or {}).get("source_bundle") or {}
    origin = f" from bundle {bundle['bundle_id']}" if bundle.get("bundle_id") else ""
    source = f", source model {record.source_model_id}" if record.source_model_id else ""
    text = (
        f"Registered by heimdall-io: heimdall model {record.model_id} "
        f"({record.model_name} v{record.version}){origin}{source}. "
        f"ONNX {record.onnx_size_bytes} bytes, MD5 {record.onnx_md5}, "
        f"SHA-256 {record.onnx_sha256}."
    )
    if record.description:
        text += f"\n\n{record.description}"
    return text


def _ready(client: Any, name: str, version: str) -> Any:
    """The model version once READY (MlflowError if its registration failed or hangs)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        mv = client.get_model_version(name, version)
        if mv.status == "READY":
            return mv
        if mv.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                client.delete_model_version(name, version)
            raise MlflowError(
                f"model version {name}/{version} is {mv.status}: {mv.status_message or ''}"
            )
        time.sleep(0.5)


def _abandon(client: Any, run_id: str) -> None:
    """Best effort: mark a half-made run FAILED and delete it."""
    with contextlib.suppress(Exception):
        client.set_terminated(run_id, "FAILED")
    with contextlib.suppress(Exception):
        client.delete_run(run_id)
