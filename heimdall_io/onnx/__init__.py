"""ONNX without loading weights: metadata, skeletons and onnx.checker runs on any model size.

- :mod:`~heimdall_io.onnx.wire`: the protobuf wire format, read by seeking over payloads.
- :mod:`~heimdall_io.onnx.metadata`: :func:`read_onnx_info` (opset, inputs, outputs, ...).
- :mod:`~heimdall_io.onnx.skeleton`: a copy of a model without its large raw_data.
- :mod:`~heimdall_io.onnx.checker`: :func:`check_model_file`, onnx.checker via a skeleton.
- :mod:`~heimdall_io.onnx.external`: :func:`find_external_tensor`, models a bundle cannot carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .checker import MIN_EXTERNAL_BYTES, PLAIN_CHECK_MAX_BYTES, check_model_file
    from .external import find_external_tensor, reject_external_data
    from .metadata import OnnxInfo, TensorSpec, read_onnx_info, read_onnx_info_path
    from .skeleton import (
        RawDataTensor,
        SkeletonPlan,
        TensorRewrite,
        plan_onnx_skeleton,
        write_onnx_skeleton,
    )
    from .wire import SeekableBinary, SkeletonUnsupported, SupportsWrite

# The checker and the skeleton writer load only when a model is checked.
_LAZY = {
    "MIN_EXTERNAL_BYTES": ".checker",
    "OnnxInfo": ".metadata",
    "PLAIN_CHECK_MAX_BYTES": ".checker",
    "RawDataTensor": ".skeleton",
    "SeekableBinary": ".wire",
    "SkeletonPlan": ".skeleton",
    "SkeletonUnsupported": ".wire",
    "SupportsWrite": ".wire",
    "TensorRewrite": ".skeleton",
    "TensorSpec": ".metadata",
    "check_model_file": ".checker",
    "find_external_tensor": ".external",
    "plan_onnx_skeleton": ".skeleton",
    "read_onnx_info": ".metadata",
    "read_onnx_info_path": ".metadata",
    "reject_external_data": ".external",
    "write_onnx_skeleton": ".skeleton",
}

__all__ = [
    "MIN_EXTERNAL_BYTES",
    "PLAIN_CHECK_MAX_BYTES",
    "OnnxInfo",
    "RawDataTensor",
    "SeekableBinary",
    "SkeletonPlan",
    "SkeletonUnsupported",
    "SupportsWrite",
    "TensorRewrite",
    "TensorSpec",
    "check_model_file",
    "find_external_tensor",
    "plan_onnx_skeleton",
    "read_onnx_info",
    "read_onnx_info_path",
    "reject_external_data",
    "write_onnx_skeleton",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
