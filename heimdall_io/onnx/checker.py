"""Full ONNX validation with onnx.checker, in memory that does not grow with the model.

``onnx.checker.check_model(path)`` reads the whole file and then parses it, weights included:
about twice the model's size in memory. Yet all it checks of a tensor's raw_data is its
length (against dims and data_type) and, for packed FLOAT6 types, one byte. So a model over
:data:`PLAIN_CHECK_MAX_BYTES` is checked as a *skeleton*: a copy, in a temporary directory, in
which every tensor with :data:`MIN_EXTERNAL_BYTES` of raw_data or more is an external-data
tensor instead (:func:`heimdall_io.onnx.skeleton.plan_onnx_skeleton`); all other bytes are the
model's. The checker validates the skeleton as it would the model, except that for an external
tensor it only checks the location: what it would have checked of the raw_data is checked
here (:func:`_raw_data_error`, which follows onnx 1.23's ``check_tensor``; with an onnx
whose checker disagrees on a set of probe tensors, models are checked plainly).

To give the checker's first error, in its order, a tensor that fails those checks is written
into the skeleton as a tensor that the checker rejects with a marker ``data_type``; its message
for the marker is then replaced by the one the model itself would have produced. A tensor the
checker does not visit is not judged either way, as with the model.

The external data cannot point at the model itself: onnx refuses symbolic links and files with
several hard links, and a copy would defeat the purpose. As the checker never reads external
data (``full_check=False``), a sparse placeholder of the model's size stands in, and offset and
length are those of the raw_data in the model.

Models that already use external data (their locations are relative to the model's directory),
and encodings that protobuf may read differently from heimdall's wire reader, are checked by
the plain checker on the model itself, as are models of :data:`PLAIN_CHECK_MAX_BYTES` or less:
those cost at most about twice that in memory.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable
from types import ModuleType
from typing import BinaryIO

from ..errors import ConfigError, InvalidModelError
from .skeleton import (
    RawDataTensor,
    SkeletonUnsupported,
    TensorRewrite,
    plan_onnx_skeleton,
    write_onnx_skeleton,
)

__all__ = ["MIN_EXTERNAL_BYTES", "PLAIN_CHECK_MAX_BYTES", "check_model_file"]

# Up to this size the checker reads the model itself: onnx's own footprint plus twice the
# model stays within the 80 MiB budget, with room for the caller.
PLAIN_CHECK_MAX_BYTES = 8 << 20
# Smaller raw_data stays inline: it costs the checker little and spares an external entry.
MIN_EXTERNAL_BYTES = 1 << 10

# onnx's ParseProtoFromBytes refuses anything longer (protobuf's 2 GiB limit).
_PROTOBUF_LIMIT = (2048 << 20) - 1
_PLACEHOLDER = "raw_data.bin"
# data_type values marking the tensors that fail _raw_data_error; far from any real type.
_MARKER_BASE = 0x7F000000
_MARKER_MESSAGE = re.compile(
    r"Unrecognized data_type \(tensor name: (.*)\): (\d+)(?=$|\n\n==> Context:)", re.S
)
_INT64_MAX = (1 << 63) - 1

# TensorProto.DataType numbers (onnx.proto), grouped as check_tensor does for raw_data.
_STRING = 8
_TWO_PER_BYTE = frozenset({21, 22, 23})  # UINT4, INT4, FLOAT4E2M1
_FOUR_PER_BYTE = frozenset({25, 26})  # UINT2, INT2
_SIX_BITS = frozenset({27, 28})  # FLOAT6E2M3, FLOAT6E3M2
_BYTES_PER_ELEMENT = {
    **dict.fromkeys((2, 3, 9, 17, 18, 19, 20, 24), 1),  # UINT8 INT8 BOOL FLOAT8* FLOAT8E8M0
    **dict.fromkeys((4, 5, 10, 16), 2),  # UINT16 INT16 FLOAT16 BFLOAT16
    **dict.fromkeys((1, 6, 12), 4),  # FLOAT INT32 UINT32
    **dict.fromkeys((11, 7, 13, 14), 8),  # DOUBLE INT64 UINT64 COMPLEX64
    15: 16,  # COMPLEX128
}

# TensorProto fields a rewrite leaves out besides raw_data: dims, data_type, data_location.
_DIMS, _DATA_TYPE, _DATA_LOCATION = 1, 2, 14

Message = Callable[[str], str]  # the checker's message for a tensor, given its name

# (dims, data_type, raw_data) probing each rule of _raw_data_error against the checker.
_PROBES = [
    ([3], 1, b"\0" * 12),  # exact
    ([3], 1, b"\0" * 13),  # longer is fine
    ([3], 1, b"\0" * 11),
    ([1], _STRING, b"\0" * 4),
    ([2, 0], 1, b"\0" * 4),
    ([2, -1], 1, b"\0" * 4),
    ([1 << 40, 1 << 30], 1, b"\0" * 4),
    ([1 << 31, 1 << 31], 11, b"\0" * 4),
    ([5], 22, b"\0" * 2),  # INT4
    ([9], 25, b"\0" * 2),  # UINT2
    ([3], 27, b"\0" * 3),  # FLOAT6E2M3
    ([3], 27, b"\xff" * 3),
    ([3], 27, b"\0" * 2),
    ([1 << 62], 28, b"\0"),
    ([2], 9, b"\0"),  # BOOL
    ([1], 15, b"\0" * 15),  # COMPLEX128
    ([4], 99, b"\0"),  # no such type: no size to check
]


def check_model_file(
    path: str,
    *,
    plain_check_max_bytes: int = PLAIN_CHECK_MAX_BYTES,
    min_external_bytes: int = MIN_EXTERNAL_BYTES,
) -> None:
    """Raise InvalidModelError unless ``path`` passes ``onnx.checker.check_model``.

    The verdict and the message are those of ``check_model(path, full_check=False)``; models
    over ``plain_check_max_bytes`` are checked as a skeleton (see the module docstring), in
    memory that does not depend on the size of their raw_data. The file is only read.

    Example:

    ```python
    from heimdall_io.errors import InvalidModelError
    from heimdall_io.onnx import check_model_file

    try:
        check_model_file("model.onnx")
    except InvalidModelError as e:
        print(e)  # invalid ONNX model: <the checker's first error>
    ```
    """
    checker = _import_checker()
    try:
        info: os.stat_result | None = os.stat(path)
    except OSError:
        info = None  # the checker says what is wrong with the path
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_size <= plain_check_max_bytes:
        _check(checker, path)
        return
    if info.st_size > _PROTOBUF_LIMIT:
        # What the checker says, after reading all of it.
        raise InvalidModelError(f"invalid ONNX model: {_unparsable(path)}")
    if not _rules_match_checker():
        _check(checker, path)  # another onnx, other rules: exact beats flat
        return
    try:
        _check_skeleton(checker, path, min_external_bytes)
    except SkeletonUnsupported:
        _check(checker, path)


def preload() -> threading.Thread:
    """Import onnx and probe its rules on a thread, while the caller streams a model in.

    Importing onnx is mostly Python work, while an import's decoding runs in C with the
    GIL released, so the two overlap. Errors are left for check_model_file.

    Example:

    ```python
    from heimdall_io.onnx.checker import check_model_file, preload

    preload()  # onnx loads while the model is received
    check_model_file("model.onnx")
    ```
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            _import_checker()
            _rules_match_checker()

    thread = threading.Thread(target=load, name="heimdall-onnx-preload", daemon=True)
    thread.start()
    return thread


@functools.cache
def _rules_match_checker() -> bool:
    """Whether _raw_data_error says what the installed checker says of the probe tensors."""
    import onnx
    from onnx import helper

    for dims, data_type, data in _PROBES:
        tensor = onnx.TensorProto(name="T", dims=dims, data_type=data_type, raw_data=data)
        graph = helper.make_graph([], "probe", [], [], [tensor])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        try:
            onnx.checker.check_model(model.SerializeToString())
            actual = None
        except Exception as e:  # whatever it is, the rules must predict it
            actual = str(e).strip().splitlines()[0]
        probe = RawDataTensor(b"T", tuple(dims), data_type, 0, len(data))
        error = _raw_data_error(probe, io.BytesIO(data))
        if actual != (None if error is None else error("T")):
            return False
    return True


def _import_checker() -> ModuleType:
    try:
        import onnx.checker
    except ImportError:  # pragma: no cover - onnx is in the default extras
        raise ConfigError(
            "model validation needs onnx: pip install onnx (or skip it with --no-validate)"
        ) from None
    return onnx.checker


def _unparsable(path: str) -> str:
    return (
        f"Unable to parse proto from file: {path}. "
        "Please check if it is a valid protobuf file of proto."
    )


def _check(
    checker: ModuleType,
    path: str,
    *,
    shown_as: str | None = None,
    markers: dict[int, Message] | None = None,
) -> None:
    try:
        # A path, not a loaded proto: the checker parses it in C++, without a Python copy.
        checker.check_model(path, full_check=False)
    except (checker.ValidationError, ValueError, RuntimeError) as e:
        error: Exception = e
        if markers and isinstance(e, UnicodeDecodeError):
            error = _redecode(e, markers)
        text = str(error).strip()
        if markers:
            text = _unmark(text, markers)
        if shown_as is not None:
            text = text.replace(path, shown_as)  # name the model, not its skeleton
        first = text.splitlines()[0] if text else type(error).__name__
        raise InvalidModelError(f"invalid ONNX model: {first}") from None
    except Exception as e:  # protobuf DecodeError and friends
        raise InvalidModelError(f"invalid ONNX model: {type(e).__name__}: {e}") from None


def _unmark(text: str, markers: dict[int, Message]) -> str:
    """The checker's message with a marker's stand-in replaced by the tensor's own error."""
    match = _MARKER_MESSAGE.match(text)
    if match is None or int(match[2]) not in markers:
        return text
    return markers[int(match[2])](match[1]) + text[match.end() :]


def _redecode(error: UnicodeDecodeError, markers: dict[int, Message]) -> UnicodeDecodeError:
    """pybind could not decode the checker's message (a tensor name that is not UTF-8): fail
    the same way on the message the model itself would have given."""
    if not isinstance(error.object, bytes):
        return error
    text = _unmark(error.object.decode("utf-8", "surrogateescape"), markers)
    try:
        text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as e:
        return e
    return error


def _check_skeleton(checker: ModuleType, path: str, min_external_bytes: int) -> None:
    with open(path, "rb") as model:
        try:
            plan = plan_onnx_skeleton(model, min_raw_bytes=min_external_bytes)
        except InvalidModelError:
            # Framing protobuf cannot parse either: the checker fails to load the file.
            raise InvalidModelError(f"invalid ONNX model: {_unparsable(path)}") from None
        rewrites: list[TensorRewrite | None] = []
        markers: dict[int, Message] = {}
        for tensor in plan.tensors:
            error = _raw_data_error(tensor, model)
            if error is None:
                drop = frozenset({_DATA_LOCATION})
                rewrites.append(TensorRewrite(_external_fields(tensor), drop))
            elif b"\0" in tensor.name:
                # The checker's message ends at the NUL, before the marker: keep it whole.
                rewrites.append(None)
            else:
                marker = _MARKER_BASE + len(markers)
                markers[marker] = error
                fields = _marker_fields(marker)
                rewrites.append(
                    TensorRewrite(fields, frozenset({_DIMS, _DATA_TYPE, _DATA_LOCATION}))
                )
        with tempfile.TemporaryDirectory(prefix="heimdall-check-") as tmp:
            with open(os.path.join(tmp, _PLACEHOLDER), "wb") as placeholder:
                placeholder.truncate(plan.size)  # sparse: no blocks, and never read
            skeleton = os.path.join(tmp, "model.onnx")
            model.seek(0)
            with open(skeleton, "wb") as out:
                try:
                    write_onnx_skeleton(plan, model, out, rewrites)
                except InvalidModelError:
                    raise InvalidModelError(
                        f"invalid ONNX model: {path} changed while it was checked"
                    ) from None
            _check(checker, skeleton, shown_as=path, markers=markers)


def _external_fields(tensor: RawDataTensor) -> bytes:
    """TensorProto fields that make the tensor refer to its raw_data in the placeholder."""
    import onnx

    entries = {"location": _PLACEHOLDER, "offset": tensor.raw_offset, "length": tensor.raw_length}
    return onnx.TensorProto(
        data_location=onnx.TensorProto.EXTERNAL,
        external_data=[
            onnx.StringStringEntryProto(key=k, value=str(v)) for k, v in entries.items()
        ],
    ).SerializeToString()


def _marker_fields(marker: int) -> bytes:
    """dims [0] and data_type ``marker``: check_tensor's last resort, "Unrecognized data_type"."""
    import onnx

    return onnx.TensorProto(dims=[0], data_type=marker).SerializeToString()


def _raw_data_error(tensor: RawDataTensor, model: BinaryIO | io.BytesIO) -> Message | None:
    """What the checker says of this tensor, whose only value field is raw_data; None if fine.

    Follows onnx 1.23's ``check_tensor`` past its external-data branch, for a non-empty
    raw_data. A missing or UNDEFINED data_type fails before that branch, in the skeleton as
    in the model, so it is left to the checker.
    """
    data_type, size = tensor.data_type, tensor.raw_length
    if not data_type:
        return None
    elements = 1
    for dim in tensor.dims:  # safe_dim_product: the first bad dim decides
        if dim < 0:
            return lambda name: f"Negative dimension value (tensor name: {name})"
        elements *= dim
        if elements > _INT64_MAX:
            return lambda name: f"Tensor dimension product overflow (tensor name: {name})"
    if elements == 0:
        return lambda name: f"TensorProto (tensor name: {name}) is 0-element but contains data!"
    if data_type == _STRING:
        return lambda name: (
            f"STRING data (tensor name: {name}) should not be stored in raw_data field"
        )

    def too_large(name: str) -> str:
        return (
            f"TensorProto (tensor name: {name}) has a shape too large to validate against "
            "its data type."
        )

    # The int64 sums below wrap in C++ for element counts near 2**63: no size is required.
    expected = 0
    if data_type in _TWO_PER_BYTE:
        expected = (elements + 1) // 2 if elements + 1 <= _INT64_MAX else 0
    elif data_type in _FOUR_PER_BYTE:
        expected = (elements + 3) // 4 if elements + 3 <= _INT64_MAX else 0
    elif data_type in _SIX_BITS:
        bits = elements * 6
        if bits > _INT64_MAX:
            return too_large
        expected = (bits + 7) // 8
        used_bits = bits % 8
        if size >= expected and used_bits:
            model.seek(tensor.raw_offset + expected - 1)
            last = model.read(1)
            if last and last[0] & (0xFF << used_bits) & 0xFF:
                return lambda name: (
                    f"TensorProto (tensor name: {name}) has non-zero padding bits in its "
                    "packed FLOAT6 raw_data."
                )
    elif data_type in _BYTES_PER_ELEMENT:
        expected = elements * _BYTES_PER_ELEMENT[data_type]
        if expected > _INT64_MAX:
            return too_large
    if size < expected:
        return lambda name: (
            f"TensorProto (tensor name: {name}) raw_data size ({size} bytes) is too small "
            f"for the declared shape and type ({expected} bytes required)."
        )
    return None
