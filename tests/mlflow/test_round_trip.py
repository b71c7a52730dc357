"""MLflow -> heimdall -> bundle -> another heimdall -> MLflow keeps the params and metrics
of a model version that MLflow users logged their own way (no MLmodel, no heimdall tags:
an ONNX file in a folder of the run's artifacts)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from heimdall_io import BundleReader
from tests.support.synthetic import synthetic_model_bytes

from .helpers import Heimdall, client, histories, unique, version_files

PARAMS = {"epochs": "5", "lr": "0.01", "optimizer": "sgd", "layers": "[64, 32]",
          "warmup": "1e-3", "tiny": "true", "compact": "[1,2]", "empty": ""}  # fmt: skip
EPOCHS = 5


def native_version(uri: str, tmp_path: Path) -> tuple[str, str, str]:
    """A model version logged with the plain MLflow client; (name, run id, ONNX MD5)."""
    from mlflow.entities import Metric, Param

    mlflow = client(uri)
    experiment = mlflow.create_experiment(unique("native"))
    run = mlflow.create_run(experiment, run_name="trained elsewhere", tags={"team": "radio"})
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("train_loss", 1.0 / (s + 1), now, s) for s in range(EPOCHS)]
    metrics += [Metric("val_rmse", 10.0 - s, now + s, s) for s in range(EPOCHS)]
    metrics += [Metric("test_accuracy", 0.875, now, 0)]
    mlflow.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in PARAMS.items()])
    model = tmp_path / "net.onnx"
    model.write_bytes(synthetic_model_bytes(200_000))
    mlflow.log_artifact(run_id, str(model), "onnx_model")
    mlflow.set_terminated(run_id)
    name = unique("Native")
    mlflow.create_registered_model(name)
    mlflow.create_model_version(name, f"runs:/{run_id}/onnx_model", run_id=run_id,
                                description="trained on the north sites")  # fmt: skip
    return name, run_id, hashlib.md5(model.read_bytes()).hexdigest()


def test_mlflow_to_heimdall_to_another_heimdall_to_mlflow(
    mlflow_server: Any, tmp_path: Path
) -> None:
    uri = mlflow_server.uri
    name, run_id, md5 = native_version(uri, tmp_path)

    a = Heimdall(tmp_path / "a", HEIMDALL_MLFLOW_URI=uri)
    imported = a.json_line("import-mlflow", f"models:/{name}/1")
    assert imported["onnx_md5"] == md5
    assert imported["mlflow"]["run_id"] == run_id
    assert imported["mlflow"]["tags"] == {"team": "radio"}
    bundle = tmp_path / "moved.heimdall"
    a.ok("export", imported["model_id"], "-o", str(bundle), "--mlflow-metadata", "-q")
    with open(bundle, "rb") as f:
        document = BundleReader(f).document
    assert document["training_config"] == {
        "epochs": 5, "lr": 0.01, "optimizer": "sgd", "layers": [64, 32], "warmup": "1e-3",
        "tiny": True, "compact": "[1,2]", "empty": "",
    }  # fmt: skip
    assert document["performance_metrics"]["test_accuracy"] == 0.875
    assert len(document["performance_metrics"]["train_loss"]) == EPOCHS
    assert document["mlflow"]["model_uri"] == f"models:/{name}/1"
    assert document["bundle_metadata"].get("description") is None
    assert document["model"]["model_name"] == name

    b = Heimdall(tmp_path / "b", HEIMDALL_MLFLOW_URI=uri)
    copy = unique("Copy")
    registered = b.json_line("import", str(bundle), "--mlflow", "--mlflow-model-name", copy)
    new_run = registered["mlflow"]["run_id"]
    assert new_run != run_id

    mlflow = client(uri)
    assert mlflow.get_run(new_run).data.params == PARAMS
    assert histories(uri, new_run) == histories(uri, run_id)
    files = version_files(uri, copy, "1", tmp_path / "copy")
    assert hashlib.md5(files["model.onnx"].read_bytes()).hexdigest() == md5
