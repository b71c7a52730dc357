"""The upstream Heimdall service's bundle loader, restated: the client of `--to upstream`.

Upstream loads a bundle with ``HeimdallBundle.model_validate_json`` (pydantic v2, default
lax mode: an int is not accepted for a str, a whole float is accepted for an int, unknown
fields are ignored). Field by field as issue 11 states it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class BundleMetadata(BaseModel):
    bundle_id: str
    created_at: str
    created_by: str = "system"
    description: str | None = None
    heimdall_version: str = "1.0.0"


class Model(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_id: str
    model_name: str
    version: str
    architecture: str
    framework: str
    onnx_opset: int
    onnx_model_base64: str
    input_shape: list[int]
    output_shape: list[list[int]]
    parameters_count: int


class TrainingConfig(BaseModel):
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    loss_function: str
    validation_split: float
    dataset_ids: list[str]
    dataset_names: list[str]


class PerformanceMetrics(BaseModel):
    final_train_loss: float
    final_val_loss: float
    final_train_accuracy: float
    final_val_accuracy: float
    best_epoch: int
    training_duration_seconds: int
    inference_latency_ms: float
    onnx_speedup_factor: float


class NormalizationStats(BaseModel):
    feature_means: list[float]
    feature_stds: list[float]


class SamplePrediction(BaseModel):
    sample_id: str
    input_metadata: dict[str, Any]
    ground_truth: dict[str, float]
    prediction: dict[str, float]
    error_meters: float


class HeimdallBundle(BaseModel):
    bundle_metadata: BundleMetadata
    model: Model
    training_config: TrainingConfig | None = None
    performance_metrics: PerformanceMetrics | None = None
    normalization_stats: NormalizationStats | None = None
    sample_predictions: list[SamplePrediction] | None = None


#: Sections as the upstream service writes them: every field it requires.
UPSTREAM_SECTIONS: dict[str, Any] = {
    "training_config": {
        "epochs": 100, "batch_size": 32, "learning_rate": 0.001, "optimizer": "Adam",
        "loss_function": "GaussianNLLLoss", "validation_split": 0.2,
        "dataset_ids": ["d-1"], "dataset_names": ["north"],
    },
    "performance_metrics": {
        "final_train_loss": 0.21, "final_val_loss": 0.27, "final_train_accuracy": 0.9,
        "final_val_accuracy": 0.88, "best_epoch": 87, "training_duration_seconds": 3600,
        "inference_latency_ms": 1.5, "onnx_speedup_factor": 2.0,
        "val_loss": [0.5, 0.31, 0.27],
    },
    "normalization_stats": {"feature_means": [0.1, 0.2], "feature_stds": [1.0, 2.0]},
    "sample_predictions": [
        {"sample_id": f"s{i}", "input_metadata": {"site": "north"},
         "ground_truth": {"lat": 45.0, "lon": 9.0}, "prediction": {"lat": 45.001, "lon": 9.0},
         "error_meters": 1.5}
        for i in range(3)
    ],
}  # fmt: skip
