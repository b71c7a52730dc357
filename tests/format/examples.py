"""Example bundle documents, shared by the codec and format tests.

Two kinds of bundle exist in the wild:

* the *original* document: format 1.0.0 as the original Heimdall export/import design
  specifies it (spec/bundle-format.md, "Format 1.0.0"): the payload in the middle of
  ``model``, no checksums;
* the *drifted* document: what the earlier Heimdall implementation actually wrote, its
  schema drifted from that design (a string ``version``, a list of output shapes, fields
  the design does not name, nulls).

Each comes with the payload as a placeholder string, so that tests can splice in base64
text spelled any way they like (see ``render`` in tests/codec/test_tolerant_reader.py).
"""

from __future__ import annotations

import copy
from typing import Any

from heimdall_io.format.document import PAYLOAD_KEY

PLACEHOLDER = "@@PAYLOAD@@"


def original_document(payload_b64: str = PLACEHOLDER) -> dict[str, Any]:
    """A format 1.0.0 document of the original design, payload included."""
    return {
        "format_version": "1.0.0",
        "bundle_metadata": {
            "bundle_id": "7c4ad99a-acc7-4f47-a453-5aa8785cf618",
            "created_at": "2025-01-15T10:30:00.123456",
            "exported_by": "Heimdall Training Service",
            "description": "Optional description",
        },
        "model": {
            "model_id": "e3ae8499-64e0-4da7-ae48-db76fe17a382",
            "model_name": "LocalizationNet",
            "version": 1,
            "architecture": "LocalizationNet",
            "framework": "onnx",
            "onnx_opset": 14,
            PAYLOAD_KEY: payload_b64,
            "input_shape": [1, 3, 224, 224],
            "output_shape": [1, 2],
            "parameters_count": 11689538,
        },
        "training_config": {
            "epochs": 100,
            "batch_size": 32,
            "learning_rate": 0.001,
            "optimizer": "Adam",
            "loss_function": "GaussianNLLLoss",
            "early_stopping": True,
            "early_stopping_patience": 10,
        },
        "performance_metrics": {
            "train_loss": [0.9, 0.5, 0.3],
            "val_loss": [1.0, 0.6, 0.4],
            "train_rmse": [10.0, 5.0, 3.0],
            "val_rmse": [11.0, 6.0, 4.0],
            "best_epoch": 2,
            "best_val_loss": 0.4,
            "final_train_loss": 0.3,
            "final_val_loss": 0.4,
        },
        "normalization_stats": {"feature_means": [0.5, 0.25], "feature_stds": [0.1, 0.2]},
        "sample_predictions": [
            {
                "input": {"features": [1.0, 2.0]},
                "ground_truth": {"lat": 45.0, "lon": 9.0},
                "prediction": {"lat": 45.001, "lon": 9.001},
                "error_meters": 12.34,
            }
        ],
    }


def drifted_document(payload_b64: str = PLACEHOLDER) -> dict[str, Any]:
    """A document of the earlier Heimdall implementation, payload included.

    Built from :func:`original_document` by the earlier implementation's changes, so that
    what drifted is spelled out.
    """
    doc = original_document(payload_b64)
    doc["bundle_metadata"] = dict(
        bundle_id="b7e0f3a2-1111-4c3b-9d55-0a1b2c3d4e5f",
        created_at="2025-11-05T17:42:10.000Z",
        created_by="heimdall-backend",  # instead of exported_by
        heimdall_version="0.9.3",
        description="exported from the old instance",
    )
    doc["model"].update(
        model_id="c9bc61c2-d00e-439c-b23c-2b056c20c58e",
        model_name="LocalizationNet (Imported)",
        version="3",
        output_shape=[[1, 2], [1, 2]],
    )
    doc["training_config"].update(
        epochs=50, batch_size=16, learning_rate=0.0005, optimizer="AdamW",
        early_stopping=False, early_stopping_patience=None,
        validation_split=0.2, dataset_ids=["ds-1", "ds-2"], dataset_names=["urban", "rural"],
    )  # fmt: skip
    doc["performance_metrics"].update(
        train_loss=[0.8, 0.4], val_loss=[0.9, 0.5], train_rmse=[], val_rmse=[],
        best_epoch=None, best_val_loss=None, final_train_loss=0.4, final_val_loss=0.5,
        final_train_accuracy=0.91, final_val_accuracy=0.88, training_duration_seconds=3600.5,
        inference_latency_ms=4.2, onnx_speedup_factor=2.5,
    )  # fmt: skip
    doc["normalization_stats"] = {}
    doc["sample_predictions"] = [
        dict(
            sample_id="s-001",
            input_metadata={"station": "A", "freq_mhz": 145.5},
            ground_truth={"lat": 45.0, "lon": 9.0},
            prediction={"lat": 45.01, "lon": 9.02},
            error_meters=1500.0,
        ),
        dict(sample_id=2, input_metadata={}, error_meters=3.5),
    ]
    return doc


def without_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``doc`` without ``model.onnx_model_base64``: what a reader returns."""
    doc = copy.deepcopy(doc)
    del doc["model"][PAYLOAD_KEY]
    return doc
