"""The bundle format as msgspec types: the single source of truth for spec/bundle.schema.json.

Every section is validated against these types on read, but what is *kept* is the
document itself (a dict in file order), so fields the types do not name survive a
read-then-write. Fields from the earlier Heimdall implementation (``created_by``,
``heimdall_version``, ``validation_split``, ...) are named here so they are typed too.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

FORMAT_1_0 = "1.0.0"
FORMAT_1_1 = "1.1.0"
#: The version this project writes.
FORMAT_VERSION = FORMAT_1_1
#: Key of the payload, directly under the top-level ``model`` object.
PAYLOAD_KEY = "onnx_model_base64"
#: Checksum fields of format 1.1.0, before or right after the payload.
CHECKSUM_KEYS = ("onnx_size_bytes", "onnx_md5", "onnx_sha256")

# A tensor dimension: a size, a symbolic name ("batch"), or unknown.
Dim = int | str | None
Hex32 = msgspec.Meta(pattern="^[0-9a-f]{32}$", description="lowercase hex MD5")
Hex64 = msgspec.Meta(pattern="^[0-9a-f]{64}$", description="lowercase hex SHA-256")


class _Section(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class BundleMetadata(_Section, kw_only=True):
    """``bundle_metadata``: who made this bundle, and when."""

    bundle_id: str
    created_at: str
    exported_by: str | None = None
    description: str | None = None
    # Earlier Heimdall implementation:
    created_by: str | None = None
    heimdall_version: str | None = None


class ModelInfo(_Section, kw_only=True):
    """``model`` without its payload."""

    model_id: str | None = None
    model_name: str
    version: int | str
    architecture: str | None = None
    framework: str | None = "onnx"
    onnx_opset: int | None = None
    input_shape: list[Dim | list[Dim]] | None = None
    output_shape: list[Dim | list[Dim]] | None = None
    parameters_count: int | None = None
    # Format 1.1.0:
    onnx_size_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    onnx_md5: Annotated[str, Hex32] | None = None
    onnx_sha256: Annotated[str, Hex64] | None = None


class TrainingConfig(_Section, kw_only=True):
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    optimizer: str | None = None
    loss_function: str | None = None
    early_stopping: bool | None = None
    early_stopping_patience: int | None = None
    # Earlier Heimdall implementation:
    validation_split: float | None = None
    dataset_ids: list[str] | None = None
    dataset_names: list[str] | None = None


class PerformanceMetrics(_Section, kw_only=True):
    train_loss: list[float | None] | None = None
    val_loss: list[float | None] | None = None
    train_rmse: list[float | None] | None = None
    val_rmse: list[float | None] | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    # Earlier Heimdall implementation:
    final_train_accuracy: float | None = None
    final_val_accuracy: float | None = None
    training_duration_seconds: float | None = None
    inference_latency_ms: float | None = None
    onnx_speedup_factor: float | None = None


class NormalizationStats(_Section, kw_only=True):
    feature_means: list[Any] | None = None
    feature_stds: list[Any] | None = None


class SamplePrediction(_Section, kw_only=True):
    input: Any = None
    ground_truth: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    error_meters: float | None = None
    # Earlier Heimdall implementation:
    sample_id: str | int | None = None
    input_metadata: dict[str, Any] | None = None


class BundleHeader(_Section, kw_only=True):
    """Everything in a bundle except the payload: what a reader validates and returns."""

    format_version: str
    bundle_metadata: BundleMetadata
    model: ModelInfo
    training_config: TrainingConfig | None = None
    performance_metrics: PerformanceMetrics | None = None
    normalization_stats: NormalizationStats | None = None
    sample_predictions: list[SamplePrediction] | None = None


class ModelDocument(ModelInfo, kw_only=True):
    """``model`` as it stands in the file, payload included."""

    onnx_model_base64: str


class BundleDocument(BundleHeader, kw_only=True):
    """A whole ``.heimdall`` document: the type spec/bundle.schema.json is generated from."""

    model: ModelDocument
