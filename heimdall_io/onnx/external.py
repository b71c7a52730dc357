"""External data: tensors whose bytes live in another file, found without loading weights.

A tensor with ``data_location = EXTERNAL`` names a file relative to the model's directory.
A bundle carries one file, so such a model cannot travel in it, and resolving the name
against wherever the model happens to be stored (a store directory, a temporary one) would
read files that are not the model's. :func:`find_external_tensor` walks the model with
:mod:`heimdall_io.onnx.wire`, seeking over payloads, where onnx looks for tensors: graph
initializers (sparse ones too), tensor attributes of nodes, nested graphs and model
functions, training graphs. It never reads the external-data entries themselves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping

from ..errors import InvalidModelError
from .wire import LEN, VARINT, Reader, SeekableBinary, as_int32, fields

__all__ = [
    "check_external_locations",
    "check_with_external_data",
    "external_locations",
    "find_external_tensor",
    "reject_external_data",
]

# Messages walked, and for each the LEN fields that hold one (as in skeleton.py).
_MODEL, _GRAPH, _NODE, _ATTRIBUTE, _FUNCTION, _SPARSE, _TRAINING, _TENSOR = range(8)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},  # graph, training_info, functions
    _TRAINING: {1: _GRAPH, 2: _GRAPH},  # initialization, algorithm
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},  # node, initializer, sparse_initializer
    _NODE: {5: _ATTRIBUTE},
    # t, g, tensors, graphs, sparse_tensor, sparse_tensors
    _ATTRIBUTE: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _FUNCTION: {7: _NODE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},  # values, indices
}
_NAME, _EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1  # TensorProto; EXTERNAL
_MAX_LOCATION = 4096  # a longer location names no file of a bundle
_MAX_DEPTH = 100  # protobuf's recursion limit: deeper models do not parse at all
# A data_location field's key (0x70, or 0xF0 0x00 padded): a message of at most this many
# bytes without that byte holds no external tensor and is not walked.
_SMALL = 1 << 12


def find_external_tensor(fileobj: SeekableBinary) -> str | None:
    """The name of the first tensor that uses external data, or None if none does.

    Reads the model from the current position to the end, skipping over payloads. Raises
    InvalidModelError when the framing cannot be read (as protobuf could not either).

    Example:

    ```python
    from heimdall_io.onnx.external import find_external_tensor

    with open("model.onnx", "rb") as f:
        print(find_external_tensor(f))  # None, or e.g. "w"
    ```
    """
    reader = Reader.to_end(fileobj)
    return next((name for name, _ in _walk(reader, _MODEL, reader.size, 0)), None)


def external_locations(fileobj: SeekableBinary) -> list[tuple[str, str | None]]:
    """Every tensor that uses external data: its name (quoted for a message) and the
    ``location`` of its external data entry (None if it has none, or an unreadable one).

    Example:

    ```python
    from heimdall_io.onnx.external import external_locations

    with open("model.onnx", "rb") as f:
        print(external_locations(f))  # e.g. [("'w'", "weights.bin")]
    ```
    """
    reader = Reader.to_end(fileobj)
    return list(_walk(reader, _MODEL, reader.size, 0))


def check_external_locations(path: str, carried: Collection[str]) -> None:
    """Raise InvalidModelError unless every external tensor of the model at ``path`` names
    (by its ``location``) one of the files ``carried`` with it, relative to its directory.

    The message names the tensor and its location, never ``path``. A file that cannot be
    read as a model passes: the model checker says what is wrong with it.
    """
    try:
        with open(path, "rb") as f:
            found = external_locations(f)
    except (OSError, InvalidModelError):
        return
    known = set(carried)
    for name, location in found:
        if location is None:
            raise InvalidModelError(f"model uses external data (tensor {name}) without a location")
        if location not in known:
            raise InvalidModelError(
                f"model uses external data (tensor {name}) in {_quoted(location.encode())},"
                " which is not a file of the bundle"
            )


def reject_external_data(path: str) -> None:
    """Raise InvalidModelError if the ONNX file at ``path`` uses external data.

    The message names the tensor, never a location or a path. A file that cannot be read
    as a model passes: the model checker says what is wrong with it.

    Example:

    ```python
    from heimdall_io.onnx.external import reject_external_data

    reject_external_data("model.onnx")
    # InvalidModelError: model uses external data (tensor 'w'): not supported in a
    # single-file bundle
    ```
    """
    try:
        with open(path, "rb") as f:
            name = find_external_tensor(f)
    except (OSError, InvalidModelError):
        return
    if name is not None:
        raise InvalidModelError(
            f"model uses external data (tensor {name}): not supported in a single-file bundle"
        )


def check_with_external_data(
    path: str, files: Mapping[str, int], check: Callable[[str], None]
) -> None:
    """Check the model at ``path`` whose external data ``files`` (relative path: size)
    travel with it: every location must name one of them, then ``check(model_path)`` runs
    (onnx.checker, given a path as it needs above 2 GB) in a temporary directory where the
    model stands beside sparse placeholders of those files (the checker reads no external
    data, only their presence: nothing is copied but the model file, linked if it can).
    Messages name the model, never a path.
    """
    check_external_locations(path, files)
    if not files:
        check(path)
        return
    with tempfile.TemporaryDirectory(prefix="heimdall-check-") as tmp:
        model = os.path.join(tmp, "model.onnx" if "model.onnx" not in files else "main.onnx")
        try:
            os.link(path, model)
        except OSError:
            shutil.copyfile(path, model)
        for relative, size in files.items():
            placeholder = os.path.join(tmp, *relative.split("/"))
            os.makedirs(os.path.dirname(placeholder), exist_ok=True)
            with open(placeholder, "wb") as f:
                f.truncate(size)
        try:
            check(model)
        except InvalidModelError as e:
            raise InvalidModelError(str(e).replace(model, "the model")) from None


def _walk(reader: Reader, kind: int, end: int, depth: int) -> Iterator[tuple[str, str | None]]:
    if depth > _MAX_DEPTH or _nothing_inside(reader, end):
        return
    children = _CHILDREN[kind]
    for _, number, wire_type, length in fields(reader, end):
        child = children.get(number)
        if child is None or wire_type != LEN:
            continue
        field_end = reader.pos + length
        if child == _TENSOR:
            found = _external_name(reader, field_end)
            if found is not None:
                yield found
        else:
            yield from _walk(reader, child, field_end, depth + 1)
        reader.pos = field_end


def _nothing_inside(reader: Reader, end: int) -> bool:
    start = reader.pos
    if end - start > _SMALL:
        return False
    data = reader.take(end - start)
    reader.pos = start
    return b"\x70" not in data and b"\xf0" not in data


def _external_name(reader: Reader, end: int) -> tuple[str, str | None] | None:
    """The tensor's name, quoted for a message, and its location, if it uses external data."""
    if _nothing_inside(reader, end):
        return None
    location, name, entries = 0, (0, 0), []
    for _, number, wire_type, value in fields(reader, end):
        if number == _DATA_LOCATION and wire_type == VARINT:
            # A closed enum: protobuf keeps unknown values aside, not in the field.
            if as_int32(value) in (0, _EXTERNAL):
                location = as_int32(value)
        elif number == _NAME and wire_type == LEN:
            name = (reader.pos, min(value, 200))  # the last occurrence wins
        elif number == _EXTERNAL_DATA and wire_type == LEN:
            entries.append((reader.pos, reader.pos + value))
    if location != _EXTERNAL:
        return None
    where = None
    for start, stop in entries:  # StringStringEntryProto: key 1, value 2
        reader.pos = start
        key = value_bytes = None
        for _, number, wire_type, length in fields(reader, stop):
            if wire_type == LEN and number in (1, 2) and length <= _MAX_LOCATION:
                at = reader.pos
                text = reader.take(length)
                reader.pos = at
                if number == 1:
                    key = text
                else:
                    value_bytes = text
        if key == b"location" and value_bytes is not None:
            where = value_bytes.decode("utf-8", "replace")  # the last occurrence wins
    reader.pos = name[0]
    return _quoted(reader.take(name[1])), where


def _quoted(raw: bytes) -> str:
    text = raw.decode("utf-8", "backslashreplace")
    return "'" + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text) + "'"
