"""The JSON bodies the API sends besides the storage records, as msgspec types: the
encoder uses them, and :mod:`heimdall_io.api.openapi` generates their schemas."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from heimdall_io.storage.base import ModelRecord


class ErrorBody(msgspec.Struct):
    """Every error response."""

    detail: str


class ImportResponse(msgspec.Struct, kw_only=True):
    """The model an import created (with ``?mlflow=true``: its MLflow registration)."""

    model_id: str
    model_name: str
    version: int
    onnx_path: str | None
    onnx_size_bytes: int | None
    onnx_md5: str | None
    onnx_sha256: str | None
    source_model_id: str | None
    #: Only with ``?mlflow=true``: the run and model version (null if MLflow failed, and
    #: ``warnings`` says why).
    mlflow: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    warnings: list[str] | msgspec.UnsetType = msgspec.UNSET


class Health(msgspec.Struct):
    """``"ok"`` or ``"unavailable"`` for each part (the reason is in the server log)."""

    registry: str
    store: str


class ModelSummary(msgspec.Struct, kw_only=True):
    """A model in the list: its record without ``training_metrics``, ``extra`` and
    ``external_data``, whose
    size only the bundle it came from bounds (``GET /models/{id}`` has the whole record)."""

    model_id: str
    model_name: str
    version: int
    status: str
    architecture: str | None
    framework: str | None
    onnx_path: str | None
    onnx_opset: int | None
    input_shape: list[int] | None
    output_shape: list[int] | None
    parameters_count: int | None
    description: str | None
    onnx_size_bytes: int | None
    onnx_md5: str | None
    onnx_sha256: str | None
    source_model_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


#: The record fields a summary leaves out.
SUMMARY_OMITS = ("training_metrics", "extra", "external_data")
_SUMMARY_FIELDS = tuple(f.name for f in msgspec.structs.fields(ModelSummary))


def model_summary(record: ModelRecord) -> ModelSummary:
    """``record`` without the fields in :data:`SUMMARY_OMITS`."""
    return ModelSummary(**{name: getattr(record, name) for name in _SUMMARY_FIELDS})


__all__ = [
    "SUMMARY_OMITS",
    "ErrorBody",
    "Health",
    "ImportResponse",
    "ModelSummary",
    "model_summary",
]
