"""What a registry can store: the rules a bundle's metadata must meet to be imported.

The codec reads any valid JSON, but the registry's databases cannot hold all of it:
PostgreSQL text (and JSONB) has no NUL character, neither it nor SQLite stores a lone
surrogate (``"\\ud800"`` is valid JSON, not valid Unicode), JSON has no infinity (a literal
such as ``1e400`` reads as one), and the ``models`` columns have types and sizes
(``heimdall_io/storage/migrations``). :func:`check_storable` states those rules in one
place; import runs it before the payload reaches the store, and ``verify`` reports the
same. A failure is a :class:`~heimdall_io.errors.SchemaError` naming the field, whose
message quotes no raw value (it is shown on terminals and written to the audit log).
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import SchemaError
from .document import BundleHeader

__all__ = ["IMPORTED_SUFFIX", "check_storable", "storable_text"]

#: What import appends to a model's name (unless it already ends with it).
IMPORTED_SUFFIX = " (Imported)"

INT32 = 32
INT64 = 64
# `models` columns filled from `model` fields (PostgreSQL: the strictest of the two).
_TEXT_COLUMNS = {"model_name": 255, "architecture": 100, "framework": 50}  # VARCHAR(n)
_INT_COLUMNS = {"version": INT32, "onnx_opset": INT32, "parameters_count": INT64}
_SHAPE_COLUMNS = ("input_shape", "output_shape")  # INTEGER[], when the shape is flat
_SURROGATE = re.compile("[\ud800-\udfff]")
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_LONG_DIGITS = re.compile(rb"\d{19}")


def check_storable(document: Mapping[str, Any], *, name_suffix: str = IMPORTED_SUFFIX) -> None:
    """Raise SchemaError unless the registry can store this document's metadata as is.

    ``document`` is a bundle document without its payload, already valid for the format's
    types (as the reader returns it). ``name_suffix`` is what the registry appends to
    ``model.model_name`` (``""`` when a model is registered under its own name).

    Rules: no lone surrogate and no NUL in any string, key included; no number that reads
    as infinity; integers of typed fields within 64 bits; ``model.version``,
    ``onnx_opset`` and flat shapes' dimensions within 32 bits, ``parameters_count``
    within 64; ``model_name`` (with the suffix) at most 255 characters, ``architecture``
    100, ``framework`` 50.

    Example:

    ```python
    from heimdall_io.format.storable import check_storable

    check_storable({"model": {"model_name": "Net", "version": 1}})  # fine
    check_storable({"model": {"model_name": "Net", "version": 1 << 40}})
    # SchemaError: invalid bundle: model.version: ... outside the 32-bit integer range ...
    ```
    """
    model = document.get("model")
    if isinstance(model, Mapping):
        _check_columns(model, name_suffix)
    try:
        encoded: bytes | None = msgspec.json.encode(document)
    except UnicodeEncodeError:
        encoded = None
    # Only an integer of 19 digits or more can leave the 64-bit range: without such a run
    # of digits in the JSON (as almost always), the typed fields need no look.
    if encoded is None or _LONG_DIGITS.search(encoded):
        _check_typed_integers(document)
    _check_values(document, encoded)


def storable_text(text: str) -> str:
    """``text`` with what no database stores escaped: lone surrogates and NUL.

    >>> storable_text("a\\x00b\\ud800")
    'a\\\\x00b\\\\ud800'
    """
    if "\0" in text:
        text = text.replace("\0", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- columns -------------------------------------------------------------------------------


def _check_columns(model: Mapping[str, Any], name_suffix: str) -> None:
    for name, size in _TEXT_COLUMNS.items():
        value = model.get(name)
        if not isinstance(value, str):
            continue
        stored = value
        if name == "model_name" and name_suffix and not value.endswith(name_suffix):
            stored = value + name_suffix
        if len(stored) > size:
            how = f" with {name_suffix!r} appended" if stored is not value else ""
            raise SchemaError(
                f"invalid bundle: model.{name}: {len(value)} characters, too long for the "
                f"registry ({size} at most{how})"
            )
    for name, bits in _INT_COLUMNS.items():
        value = model.get(name)
        if name == "version" and isinstance(value, str):
            value = _version_number(value)
        _check_int(value, bits, f"model.{name}", "of its registry column")
    for name in _SHAPE_COLUMNS:
        shape = model.get(name)
        if isinstance(shape, list) and not any(isinstance(d, (list, bool)) for d in shape):
            for i, dim in enumerate(shape):
                _check_int(dim, INT32, f"model.{name}[{i}]", "of its registry column")


def _version_number(value: str) -> int | None:
    """The number the registry reads from a string version (its rule), if it reads one."""
    if not value.strip().lstrip("-").isdigit():
        return None  # kept as text
    try:
        return int(value)
    except ValueError:  # "²" and "--5" pass isdigit, not int()
        raise SchemaError(
            f"invalid bundle: model.version: {ascii(value)[:40]} looks like a number but "
            "is not a decimal integer"
        ) from None


def _check_int(value: Any, bits: int, path: str, what: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        return
    bound = 1 << (bits - 1)
    if -bound <= value < bound:
        return
    digits = len(str(abs(value)))
    shown = str(value) if digits <= 40 else f"a {digits}-digit integer"
    raise SchemaError(
        f"invalid bundle: {path}: {shown} is outside the {bits}-bit integer range {what}".rstrip()
    )


# -- integers of typed fields ---------------------------------------------------------------


def _has_int(tp: Any) -> bool:
    """Whether a field's type admits an integer (bool aside)."""
    if typing.get_origin(tp) is typing.Annotated:
        return _has_int(typing.get_args(tp)[0])
    if tp is int:
        return True
    return any(_has_int(arg) for arg in typing.get_args(tp)) if _is_union(tp) else False


def _is_union(tp: Any) -> bool:
    import types

    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _section_struct(tp: Any) -> tuple[type | None, bool]:
    """The Struct a section holds and whether it is a list of them (``sample_predictions``)."""
    if typing.get_origin(tp) is typing.Annotated:
        return _section_struct(typing.get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp, False
    if typing.get_origin(tp) is list:
        inner, _ = _section_struct(typing.get_args(tp)[0])
        return inner, True
    if _is_union(tp):
        for arg in typing.get_args(tp):
            found = _section_struct(arg)
            if found[0] is not None:
                return found
    return None, False


@functools.cache  # on first use: reading the types' fields costs start-up time
def _typed_integer_fields() -> dict[str, tuple[tuple[str, ...], bool]]:
    """Section -> (fields typed as integers, whether the section is a list)."""
    out = {}
    for section in msgspec.structs.fields(BundleHeader):
        struct, is_list = _section_struct(section.type)
        if struct is None:
            continue
        names = tuple(f.name for f in msgspec.structs.fields(struct) if _has_int(f.type))
        if names:
            out[section.name] = (names, is_list)
    return out


def _check_typed_integers(document: Mapping[str, Any]) -> None:
    for section, (names, is_list) in _typed_integer_fields().items():
        value = document.get(section)
        entries = value if is_list and isinstance(value, list) else [value]
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                continue
            where = f"{section}[{i}]" if is_list else section
            for name in names:
                _check_int(entry.get(name), INT64, f"{where}.{name}")


# -- every value ----------------------------------------------------------------------------


def _check_values(document: Mapping[str, Any], encoded: bytes | None) -> None:
    """Strings (keys too) and floats anywhere. Fast in C when all is well: the encoder
    (``encoded``: the document as msgspec encodes it, None if it refused) refuses lone
    surrogates and escapes NUL as ``\\u0000``; only floats are walked."""
    if encoded is not None and b"\\u0000" not in encoded and not _has_infinity(document):
        return
    problem = _find_problem(document, [])
    if problem is not None:
        raise SchemaError(f"invalid bundle: {problem}")


def _has_infinity(value: Any) -> bool:
    stack = [value]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is dict:
            x = list(x.values())
        elif t is not list:
            if t is float and x - x != 0:
                return True
            continue
        for y in x:
            ty = type(y)
            if ty is float:
                if y - y != 0:  # inf - inf is nan (NaN cannot be read)
                    return True
            elif ty is dict or ty is list:
                stack.append(y)
    return False


def _find_problem(value: Any, path: list[str]) -> str | None:
    """The first unstorable value or key under ``value``, described with its path."""
    if isinstance(value, str):
        problem = _text_problem(value)
        return None if problem is None else f"{_path(path)}: {problem}"
    if isinstance(value, float):
        if value - value != 0:
            return f"{_path(path)}: a number too large for a 64-bit float (it reads as infinity)"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = _text_problem(key)
            if problem is not None:
                return f"a key in {_path(path) or 'the top-level object'}: {problem}"
            found = _find_problem(item, [*path, _segment(key)])
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _find_problem(item, [*path, f"[{i}]"])
            if found is not None:
                return found
    return None


def _text_problem(text: str) -> str | None:
    if "\0" in text:
        return "a NUL character (\\u0000) cannot be stored"
    match = _SURROGATE.search(text)
    if match is not None:
        escaped = match[0].encode("utf-8", "backslashreplace").decode()
        return f"a lone surrogate ({escaped}) is not valid Unicode and cannot be stored"
    return None


def _segment(key: str) -> str:
    return "." + key if _SIMPLE_KEY.fullmatch(key) else f"[{ascii(key)[:66]}]"


def _path(segments: list[str]) -> str:
    return "".join(segments).lstrip(".")
