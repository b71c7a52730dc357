"""Two ONNX models compared at model level, read with the wire-format reader.

Opset, IR version, inputs and outputs (names and shapes) and parameter count come from
:func:`~heimdall_io.onnx.metadata.read_onnx_info`; the stored tensors (initializers at any
depth, sparse initializers, Constant values) from
:func:`~heimdall_io.onnx.tensors.model_tensors`, each with a SHA-256 of its bytes computed
by streaming them. Nothing is loaded whole: memory grows with the number of tensors, not
with their size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidModelError
from ..onnx.metadata import OnnxInfo, TensorSpec, read_onnx_info
from ..onnx.tensors import TensorInfo, model_tensors
from .document_diff import Change

__all__ = ["DTYPES", "ModelDiff", "TensorChange", "diff_models"]

#: onnx.TensorProto.DataType names, for messages.
DTYPES = {
    1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64",
    14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8e4m3fn",
    18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
    23: "float4e2m1",
}  # fmt: skip


@dataclass(frozen=True)
class TensorChange:
    """A stored tensor ``added``, ``removed`` or ``changed`` (``what``: shape, type, bytes)."""

    key: str
    kind: str
    a: TensorInfo | None
    b: TensorInfo | None
    what: tuple[str, ...] = ()


@dataclass
class ModelDiff:
    """Model-level differences; ``error`` when a payload is not a readable ONNX model."""

    changes: list[Change] = field(default_factory=list)
    tensors: list[TensorChange] = field(default_factory=list)
    unchanged_tensors: int = 0
    error: str | None = None

    @property
    def same(self) -> bool:
        return not self.changes and not self.tensors and self.error is None

    def count(self, kind: str) -> int:
        return sum(1 for t in self.tensors if t.kind == kind)


def diff_models(path_a: str | os.PathLike[str], path_b: str | os.PathLike[str]) -> ModelDiff:
    """Compare the ONNX models in two files (see the module docstring).

    Example:

    ```python
    from heimdall_io.tools.model_diff import diff_models

    d = diff_models("a.onnx", "b.onnx")
    print([c.summary for c in d.changes], d.count("changed"), "tensors changed")
    ```
    """
    try:
        info_a, tensors_a = _read(path_a)
        info_b, tensors_b = _read(path_b)
    except InvalidModelError as e:
        return ModelDiff(error=str(e))
    diff = ModelDiff()
    for name, va, vb in (
        ("opset", info_a.opset, info_b.opset),
        ("ir_version", info_a.ir_version, info_b.ir_version),
        ("parameters_count", info_a.parameters_count, info_b.parameters_count),
    ):
        if va != vb:
            diff.changes.append(Change(name, "changed", va, vb, f"{_num(va)} -> {_num(vb)}"))
    diff.changes += _tensor_specs("inputs", info_a.inputs, info_b.inputs)
    diff.changes += _tensor_specs("outputs", info_a.outputs, info_b.outputs)
    for key in [*tensors_a, *(k for k in tensors_b if k not in tensors_a)]:
        ta, tb = tensors_a.get(key), tensors_b.get(key)
        if ta is None or tb is None:
            diff.tensors.append(TensorChange(key, "added" if ta is None else "removed", ta, tb))
            continue
        what = tuple(
            name
            for name, differs in (
                ("shape", ta.dims != tb.dims),
                ("type", ta.data_type != tb.data_type),
                ("bytes", ta.sha256 != tb.sha256),
            )
            if differs
        )
        if what:
            diff.tensors.append(TensorChange(key, "changed", ta, tb, what))
        else:
            diff.unchanged_tensors += 1
    return diff


def _read(path: str | os.PathLike[str]) -> tuple[OnnxInfo, dict[str, TensorInfo]]:
    with open(path, "rb") as f:
        info = read_onnx_info(f)
        f.seek(0)
        return info, {t.key: t for t in model_tensors(f, hashes=True)}


def _tensor_specs(kind: str, a: list[TensorSpec], b: list[TensorSpec]) -> list[Change]:
    """Inputs or outputs by name: added, removed, or changed in shape or element type."""
    by_a, by_b = {s.name: s for s in a}, {s.name: s for s in b}
    out = []
    for name in [*by_a, *(n for n in by_b if n not in by_a)]:
        sa, sb = by_a.get(name), by_b.get(name)
        path = f"{kind}.{name}"
        if sa is None or sb is None:
            spec = sb if sa is None else sa
            assert spec is not None
            kind_ = "added" if sa is None else "removed"
            out.append(Change(path, kind_, _spec(sa), _spec(sb), spec_text(spec)))
        elif (sa.shape, sa.elem_type) != (sb.shape, sb.elem_type):
            out.append(Change(path, "changed", _spec(sa), _spec(sb),
                              f"{spec_text(sa)} -> {spec_text(sb)}"))  # fmt: skip
    if not out and [s.name for s in a] != [s.name for s in b]:
        order = f"{[s.name for s in a]} -> {[s.name for s in b]}"
        out.append(Change(f"{kind}.order", "changed", [s.name for s in a],
                          [s.name for s in b], order))  # fmt: skip
    return out


def _spec(spec: TensorSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {"name": spec.name, "elem_type": DTYPES.get(spec.elem_type or 0, spec.elem_type),
            "shape": spec.shape}  # fmt: skip


def shape_text(shape: Any) -> str:
    """``[batch, 16]``; ``?`` for an unknown dimension, ``unknown`` for no shape."""
    if shape is None:
        return "unknown"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def spec_text(spec: TensorSpec) -> str:
    dtype = DTYPES.get(spec.elem_type or 0, str(spec.elem_type))
    return f"{dtype} {shape_text(spec.shape)}"


def tensor_text(t: TensorInfo) -> str:
    """``float [16, 2] sha256 1a2b3c4d5e6f``."""
    dtype = DTYPES.get(t.data_type or 0, str(t.data_type))
    digest = f" sha256 {t.sha256[:12]}" if t.sha256 else ""
    return f"{dtype} {shape_text(list(t.dims))}{digest}" + (" (external)" if t.external else "")


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
