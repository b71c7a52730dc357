"""Registry records <-> bundle documents: what a column holds, what goes in ``extra``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..codec import BundleInfo
from ..codec.checksums import Digests
from ..format.document import CHECKSUM_KEYS, PAYLOAD_KEY, NormalizationStats, TrainingConfig
from ..format.header import SECTIONS
from ..storage.base import ModelRecord

if TYPE_CHECKING:
    from ..onnx.metadata import OnnxInfo  # the ONNX reader: registering loads it, exports not

IMPORTED_PREFIX = "imported/"
REGISTERED_PREFIX = "models/"
IMPORTED_SUFFIX = " (Imported)"
# Model fields that have registry columns; the rest of `model` is kept in record.extra.
MODEL_COLUMNS = ("model_id", "model_name", "version", "architecture", "framework",
                 "onnx_opset", "input_shape", "output_shape", "parameters_count")  # fmt: skip
# `signatures` sign the bundle as it was: a re-export carries them as provenance instead.
KNOWN_TOP = ("format_version", "bundle_metadata", "model", "signatures", *SECTIONS)


def object_key(prefix: str, name: str, version: int | str, unique: str) -> str:
    """``prefix/<name>-<version>-<unique>.onnx`` with a name that cannot escape the prefix.

    >>> object_key("imported/", "../Net v2", 3, "1a2b3c4d")
    'imported/Net_v2-3-1a2b3c4d.onnx'
    """
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:80] or "model"
    safe_version = re.sub(r"[^A-Za-z0-9_-]+", "_", str(version))[:20] or "0"
    return f"{prefix}{safe}-{safe_version}-{unique}.onnx"


def external_key(key: str, path: str) -> str:
    """The object key of a model's external data file ``path``: under the model's prefix,
    its ONNX object's key without ``.onnx`` (``imported/net-1-abcd/weights.bin``)."""
    return f"{key.removesuffix('.onnx')}/{path}"


def owning_key(key: str) -> str:
    """The ONNX object key whose lease covers ``key``: itself, or for an external data file
    (``imported/net-1-abcd/weights.bin``) the model's ONNX object
    (``imported/net-1-abcd.onnx``)."""
    parts = key.split("/", 2)
    if len(parts) == 3 and f"{parts[0]}/" in (IMPORTED_PREFIX, REGISTERED_PREFIX):
        return f"{parts[0]}/{parts[1]}.onnx"
    return key


def external_entries(key: str, files: Any) -> list[dict[str, Any]] | None:
    """The ``external_data`` column of a model whose ONNX object is ``key``, from
    ``ExternalInfo`` items (path and verified digests)."""
    entries = [{"path": f.path, "key": external_key(key, f.path), "size_bytes": f.size,
                "md5": f.md5, "sha256": f.sha256} for f in files]  # fmt: skip
    return entries or None


def imported_name(name: str) -> str:
    """The " (Imported)" suffix of the original Heimdall service, never stacked.

    >>> imported_name("Net (Imported)")
    'Net (Imported)'
    """
    return name if name.endswith(IMPORTED_SUFFIX) else name + IMPORTED_SUFFIX


def registered_record(
    *,
    model_id: str,
    key: str,
    name: str,
    version: int,
    architecture: str | None,
    description: str | None,
    sections: Mapping[str, Any] | None,
    info: OnnxInfo,
    digests: Digests,
) -> ModelRecord:
    """The row of a model registered from an ONNX file."""
    return ModelRecord(
        model_id=model_id,
        model_name=name,
        version=version,
        architecture=architecture,
        onnx_path=key,
        onnx_opset=info.opset,
        input_shape=shape_column(info.input_shape),
        output_shape=shape_column(info.output_shape),
        parameters_count=info.parameters_count,
        training_metrics={k: v for k, v in (sections or {}).items() if v is not None} or None,
        # What the columns cannot hold, where model_fields() finds it again on export.
        extra={
            "model": {
                **raw_shapes({"input_shape": info.input_shape, "output_shape": info.output_shape}),
                "input_names": info.input_names,
                "output_names": info.output_names,
            }
        },
        description=description,
        onnx_size_bytes=digests.size,
        onnx_md5=digests.md5,
        onnx_sha256=digests.sha256,
    )


def imported_record(info: BundleInfo, model_id: str, key: str) -> ModelRecord:
    """The row of an imported bundle; what no column holds is kept in ``extra``; its
    external data files (if any) are objects under ``key``'s prefix."""
    doc = info.document
    model = doc["model"]
    m = info.header.model
    version = _int_or_none(m.version)
    extra_model = {k: v for k, v in model.items()
                   if k not in MODEL_COLUMNS and k not in CHECKSUM_KEYS}  # fmt: skip
    if version is None or not isinstance(m.version, int):
        extra_model["version"] = m.version  # kept as written ("3", "v2", ...)
    extra_model.update(raw_shapes(model))
    extra = {
        "model": extra_model,
        "top": {k: v for k, v in doc.items() if k not in KNOWN_TOP},
        "source_bundle": doc.get("bundle_metadata"),
        "source_format_version": info.format_version,
    }
    assert info.digests is not None
    return ModelRecord(
        model_id=model_id,
        model_name=imported_name(m.model_name),
        version=version if version is not None else 1,
        architecture=m.architecture,
        framework=m.framework,
        onnx_path=key,
        onnx_opset=m.onnx_opset,
        input_shape=shape_column(m.input_shape),
        output_shape=shape_column(m.output_shape),
        parameters_count=m.parameters_count,
        training_metrics={s: doc[s] for s in SECTIONS if s in doc} or None,
        extra=extra,
        description=(doc.get("bundle_metadata") or {}).get("description"),
        onnx_size_bytes=info.digests.size,
        onnx_md5=info.digests.md5,
        onnx_sha256=info.digests.sha256,
        source_model_id=_uuid_or_none(m.model_id),
        external_data=external_entries(key, info.external),
    )


def model_fields(record: ModelRecord) -> dict[str, Any]:
    """The bundle's ``model`` metadata (no payload, no checksums) from a record."""
    model: dict[str, Any] = {
        "model_id": record.model_id,
        "model_name": record.model_name,
        "version": record.version,
        "architecture": record.architecture,
        "framework": record.framework,
        "onnx_opset": record.onnx_opset,
        "input_shape": record.input_shape,
        "output_shape": record.output_shape,
        "parameters_count": record.parameters_count,
    }
    model.update((record.extra or {}).get("model") or {})
    return {k: v for k, v in model.items()
            if v is not None and k != PAYLOAD_KEY and k not in CHECKSUM_KEYS}  # fmt: skip


def sections_of(training_metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The bundle sections held in a ``training_metrics`` column.

    Rows written by heimdall-io keep one key per section. A row of the original Heimdall
    service holds config, metrics and normalization flat in one object: its fields are
    sorted into sections by the format's types (the rest counts as metrics).

    >>> sections_of({"epochs": 10, "val_loss": [0.3]})
    {'training_config': {'epochs': 10}, 'performance_metrics': {'val_loss': [0.3]}}
    """
    if not training_metrics:
        return {}
    if any(name in training_metrics for name in SECTIONS):
        return dict(training_metrics)
    config_fields, norm_fields = _field_names(TrainingConfig), _field_names(NormalizationStats)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in training_metrics.items():
        if key in config_fields:
            section = "training_config"
        elif key in norm_fields:
            section = "normalization_stats"
        else:
            section = "performance_metrics"
        sections.setdefault(section, {})[key] = value
    return dict(sections)


def shape_column(shape: Any) -> list[int] | None:
    """A flat shape for the INTEGER[] column (dynamic dims -1); None if not flat."""
    if not isinstance(shape, list):
        return None
    out = []
    for dim in shape:
        if isinstance(dim, (bool, list)):
            return None
        out.append(dim if isinstance(dim, int) else -1)
    return out


def raw_shapes(model: Mapping[str, Any]) -> dict[str, Any]:
    """Shapes the INTEGER[] columns cannot hold exactly (symbolic or nested)."""
    out = {}
    for name in ("input_shape", "output_shape"):
        shape = model.get(name)
        if shape is not None and shape_column(shape) != shape:
            out[name] = shape
    return out


def _field_names(struct: Any) -> set[str]:
    return {f.name for f in msgspec.structs.fields(struct)}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value is not None else None
    except ValueError:
        return None
