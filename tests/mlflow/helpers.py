"""What the MLflow tests share: bundles to import, heimdall instances run as the user runs
them (``python -m heimdall_io`` in a process of its own), and looks into MLflow."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heimdall_io import write_bundle
from tests.support.servers import STORAGE_VARIABLES
from tests.support.synthetic import synthetic_model_bytes

EPOCHS = 7
SIGNER = "ci-bot"


def unique(prefix: str) -> str:
    """A registered model or experiment name no other test uses (the server is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sections(epochs: int = EPOCHS) -> dict[str, Any]:
    """Every section, with per-epoch lists of ``epochs`` entries."""
    return {
        "training_config": {"epochs": epochs, "batch_size": 32, "learning_rate": 0.001,
                            "optimizer": "Adam", "early_stopping": True,
                            "dataset_names": ["north", "south"]},
        "performance_metrics": {
            "train_loss": [round(1.0 / (i + 1), 4) for i in range(epochs)],
            "val_loss": [round(1.2 / (i + 1), 4) for i in range(epochs)],
            "best_epoch": epochs - 1, "best_val_loss": round(1.2 / epochs, 4),
            "final_val_accuracy": 0.93,
        },
        "normalization_stats": {"feature_means": [0.1, 0.2], "feature_stds": [1.0, 2.0]},
        "sample_predictions": [{"input": {"i": 1}, "ground_truth": {"lat": 45.0, "lon": 9.0},
                                "prediction": {"lat": 45.1, "lon": 9.1}, "error_meters": 12.5}],
    }  # fmt: skip


@dataclass
class Bundle:
    path: Path
    md5: str
    document: dict[str, Any]


def make_bundle(directory: Path, name: str = "LocalizationNet", size: int = 256 << 10) -> Bundle:
    """A signed-looking bundle (a ``signatures`` entry naming SIGNER) of a synthetic model."""
    model = synthetic_model_bytes(size)
    header = {
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": str(uuid.uuid4()), "created_at": "2026-01-01T00:00:00Z"},
        **sections(),
        "signatures": [{"algorithm": "ed25519", "key_id": "0807060504030201",
                        "signature": "c2ln", "signer": SIGNER}],
        "model": {"model_id": str(uuid.uuid4()), "model_name": name, "version": 3,
                  "architecture": "LocalizationNet", "onnx_opset": 17},
    }  # fmt: skip
    path = directory / f"{name}.heimdall"
    import io

    with open(path, "wb") as out:
        write_bundle(out, header, io.BytesIO(model))
    return Bundle(path, hashlib.md5(model).hexdigest(), header)


class Heimdall:
    """One heimdall instance (its own HEIMDALL_HOME), driven through its CLI."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items()
                    if k not in STORAGE_VARIABLES and not k.startswith("MLFLOW_")
                    and k not in ("HEIMDALL_MLFLOW_URI", "HEIMDALL_DEBUG")}  # fmt: skip
        self.env["HEIMDALL_HOME"] = str(home)
        self.env.update(env)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heimdall_io", *args], env=self.env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result

    def json_line(self, *args: str) -> dict[str, Any]:
        """A command run with --json: its one JSON line."""
        lines = self.ok(*args, "--json").stdout.splitlines()
        assert len(lines) == 1, lines
        return json.loads(lines[0])  # type: ignore[no-any-return]

    def models(self) -> list[dict[str, Any]]:
        return json.loads(self.ok("list", "--json").stdout)  # type: ignore[no-any-return]

    def history(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok("history", "--json").stdout.splitlines()]

    def objects(self) -> list[Path]:
        root = self.home / "objects"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def version_files(uri: str, name: str, version: str, directory: Path) -> dict[str, Path]:
    """Download a registered model version's files: {relative path: local path}."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    c = client(uri)
    repo = get_artifact_repository(
        c.get_model_version_download_uri(name, version), tracking_uri=uri, registry_uri=uri
    )
    directory.mkdir(parents=True, exist_ok=True)
    return {f.path: Path(repo.download_artifacts(f.path, str(directory)))
            for f in repo.list_artifacts() if not f.is_dir}  # fmt: skip


def histories(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a run as its (step, value) history, in step order."""
    c = client(uri)
    run = c.get_run(run_id)
    return {key: sorted((m.step, m.value) for m in c.get_metric_history(run_id, key))
            for key in run.data.metrics}  # fmt: skip


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
