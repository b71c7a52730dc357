"""The upstream Heimdall dialect: what the upstream service's loader accepts.

That loader is a pydantic v2 model (``HeimdallBundle.model_validate_json``), stricter than
the format text: ``model.version`` must be a string, ``output_shape`` a list of shapes,
every field of ``training_config`` and ``performance_metrics`` present, sample predictions
complete. :func:`to_upstream` rewrites a bundle document (without its payload) into that
dialect and never invents a value:

- a representation may change: ``version`` 3 becomes ``"3"``, a flat output shape becomes
  a list of one shape, a ``sample_id`` 7 becomes ``"7"``, 3600.0 seconds become 3600;
- a section that lacks a required field is left out, with a warning naming the section and
  the fields; an incomplete sample prediction likewise;
- a required ``model`` field that is missing or cannot be represented (a symbolic or
  unknown dimension, one shape per input) is a :class:`ConversionError` naming the field
  and the option that supplies it (``--architecture``, ``--input-shape``, ...). Opset,
  shapes and parameter count may instead be read from the ONNX payload (``onnx_info``).

Everything else is kept, unknown fields included: the loader ignores them, and converting
back to the current format loses nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConversionError
from ..onnx.metadata import OnnxInfo

__all__ = ["MODEL_OPTIONS", "UpstreamOverrides", "needs_onnx_info", "to_upstream"]

#: The option that supplies each required model field.
MODEL_OPTIONS = {
    "model_id": "--model-id",
    "architecture": "--architecture",
    "onnx_opset": "--opset",
    "input_shape": "--input-shape",
    "output_shape": "--output-shape",
    "parameters_count": "--parameters",
}
_FROM_ONNX = ("onnx_opset", "input_shape", "output_shape", "parameters_count")


@dataclass(frozen=True)
class UpstreamOverrides:
    """Values given for required model fields; each wins over the bundle's."""

    model_id: str | None = None
    architecture: str | None = None
    onnx_opset: int | None = None
    input_shape: list[int] | None = None
    output_shape: list[list[int]] | None = None
    parameters_count: int | None = None

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in MODEL_OPTIONS
                if getattr(self, name) is not None}  # fmt: skip


# -- value checks: each returns the upstream value, or raises _Bad naming the problem -------


class _Bad(Exception):
    pass


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad("is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise _Bad(f"{value} is not an integer")
        return int(value)
    return value


def _float(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad("is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad("is not finite")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("is not a string")
    return value


def _id(value: Any) -> str:
    """An identifier: a string, or an integer written as one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _str(value)


def _list_of(check: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def checked(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _Bad("is not a list")
        try:
            return [check(v) for v in value]
        except _Bad as e:
            raise _Bad(f"has an item that {e}") from None

    return checked


def _dict_of_floats(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("is not an object")
    try:
        return {k: _float(v) for k, v in value.items()}
    except _Bad as e:
        raise _Bad(f"has a value that {e}") from None


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("is not an object")
    return value


_SECTIONS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "training_config": {
        "epochs": _int, "batch_size": _int, "learning_rate": _float, "optimizer": _str,
        "loss_function": _str, "validation_split": _float,
        "dataset_ids": _list_of(_str), "dataset_names": _list_of(_str),
    },
    "performance_metrics": {
        "final_train_loss": _float, "final_val_loss": _float, "final_train_accuracy": _float,
        "final_val_accuracy": _float, "best_epoch": _int, "training_duration_seconds": _int,
        "inference_latency_ms": _float, "onnx_speedup_factor": _float,
    },
    "normalization_stats": {
        "feature_means": _list_of(_float), "feature_stds": _list_of(_float),
    },
}  # fmt: skip
_SAMPLE: dict[str, Callable[[Any], Any]] = {
    "sample_id": _id, "input_metadata": _dict, "ground_truth": _dict_of_floats,
    "prediction": _dict_of_floats, "error_meters": _float,
}  # fmt: skip


def _fields(value: Any, spec: Mapping[str, Callable[[Any], Any]]) -> tuple[dict[str, Any], str]:
    """``value`` with every field of ``spec`` converted, and '' — or a note of what fails."""
    if not isinstance(value, dict):
        return {}, "is not an object"
    missing = [name for name in spec if value.get(name) is None]
    bad = []
    out = dict(value)
    for name, check in spec.items():
        if name in missing:
            continue
        try:
            out[name] = check(value[name])
        except _Bad as e:
            bad.append(f"{name} {e}")
    notes = ([f"missing {', '.join(missing)}"] if missing else []) + bad
    return out, "; ".join(notes)


# -- the document ---------------------------------------------------------------------------


def needs_onnx_info(document: Mapping[str, Any], overrides: UpstreamOverrides) -> bool:
    """True when a model field the ONNX payload can supply is neither in the bundle nor given."""
    model = document.get("model") or {}
    given = overrides.given()
    return any(model.get(name) is None and name not in given for name in _FROM_ONNX)


def to_upstream(
    document: Mapping[str, Any],
    overrides: UpstreamOverrides | None = None,
    onnx_info: OnnxInfo | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The document (no payload) in the upstream dialect, and the warnings of what was left out.

    Raises:
        ConversionError: a required model field is missing or not representable.

    Example:

    ```python
    from heimdall_io.tools.upstream import UpstreamOverrides, to_upstream

    doc, warnings = to_upstream(document, UpstreamOverrides(architecture="LocalizationNet"))
    for line in warnings:
        print("warning:", line)
    ```
    """
    warnings: list[str] = []
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name == "bundle_metadata":
            out[name] = _bundle_metadata(value, warnings)
        elif name == "model":
            out[name] = _model(value, overrides or UpstreamOverrides(), onnx_info)
        elif name in _SECTIONS and value is not None:
            section, note = _fields(value, _SECTIONS[name])
            if note:
                warnings.append(f"{name} left out (upstream requires all its fields): {note}")
            else:
                out[name] = section
        elif name == "sample_predictions" and value is not None:
            samples = _samples(value, warnings)
            if samples:
                out[name] = samples
        elif name == "signatures":
            warnings.append("signatures left out: the upstream dialect has none")
        elif value is not None or name == "format_version":
            out[name] = value
    return out, warnings


def _bundle_metadata(meta: Any, warnings: list[str]) -> dict[str, Any]:
    out = dict(meta)
    for name in ("bundle_id", "created_at"):
        if not isinstance(out.get(name), str):
            raise ConversionError(f"bundle_metadata.{name} must be a string for upstream")
    for name in ("created_by", "description", "heimdall_version"):
        value = out.get(name)
        if value is None:
            out.pop(name, None)  # absent: the loader's default
        elif not isinstance(value, str):
            warnings.append(f"bundle_metadata.{name} left out: it is not a string")
            del out[name]
    return out


def _model(model: Mapping[str, Any], overrides: UpstreamOverrides, info: OnnxInfo | None
           ) -> dict[str, Any]:  # fmt: skip
    out = {k: v for k, v in model.items() if v is not None}
    out.update(overrides.given())
    if info is not None:
        measured = {"onnx_opset": info.opset, "input_shape": info.input_shape,
                    "output_shape": info.output_shape,
                    "parameters_count": info.parameters_count}  # fmt: skip
        for name, value in measured.items():
            if out.get(name) is None and value is not None:
                out[name] = value
    # The format defines the payload as ONNX: "onnx" is what the bundle is, not a guess.
    out.setdefault("framework", "onnx")
    for name in ("model_id", "architecture"):
        _require(out, name, _str)
    _require(out, "model_name", _str)
    out["version"] = _require(out, "version", _id)
    _require(out, "framework", _str)
    _require(out, "onnx_opset", _int)
    _require(out, "parameters_count", _int)
    out["input_shape"] = _require(out, "input_shape", _input_shape)
    out["output_shape"] = _require(out, "output_shape", _output_shape)
    return out


def _require(model: dict[str, Any], name: str, check: Callable[[Any], Any]) -> Any:
    option = MODEL_OPTIONS.get(name)
    hint = f": pass {option}" if option else ""
    if model.get(name) is None:
        raise ConversionError(f"model.{name} is missing and upstream requires it{hint}")
    try:
        model[name] = check(model[name])
    except _Bad as e:
        message = f"model.{name} cannot be written for upstream: it {e}{hint}"
        raise ConversionError(message) from None
    return model[name]


def _dims(shape: Any) -> list[int]:
    if not isinstance(shape, list):
        raise _Bad("is not a shape")
    for d in shape:
        if isinstance(d, list):
            raise _Bad(f"has one shape per input ({len(shape)} inputs), upstream takes one")
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise _Bad(f"has the symbolic or unknown dimension {json.dumps(d)}")
    return list(shape)


def _input_shape(shape: Any) -> list[int]:
    return _dims(shape)


def _output_shape(shape: Any) -> list[list[int]]:
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        return [_dims(s) for s in shape]
    return [_dims(shape)]  # one output: a list of one shape


def _samples(value: Any, warnings: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        warnings.append("sample_predictions left out: it is not a list")
        return []
    kept, notes = [], []
    for entry in value:
        converted, note = _fields(entry, _SAMPLE)
        if note:
            notes.append(note)
        else:
            kept.append(converted)
    if notes:
        first = sorted(set(notes), key=notes.index)[0]
        what = "left out" if not kept else f"{len(notes)} of {len(value)} entries left out"
        warnings.append(f"sample_predictions {what} (upstream requires all their fields): "
                        f"{first}")  # fmt: skip
    return kept
