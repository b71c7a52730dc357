"""Checking a bundle document against the format's msgspec types.

The reader checks each section as soon as it is parsed (so a bad one fails before a
large payload is decoded) and the whole header at the end; the writer checks what it is
given before writing a byte. Both use the functions here, so they accept the same
documents. The document passed in never holds the payload.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import SchemaError, UnsupportedVersionError
from .document import BundleHeader, ExternalDataInfo

# Sections that can be checked on their own, as soon as they are parsed.
_SECTION_TYPES: dict[str, Any] = {
    f.name: f.type
    for f in msgspec.structs.fields(BundleHeader)
    if f.name not in ("format_version", "model")
}
_SURROGATE_KEY = "invalid bundle: a key is not valid Unicode (a lone surrogate escape)"


def check_version(value: Any) -> str:
    """Return ``value`` if it is a ``format_version`` this reader knows (any ``1.x``).

    Raises:
        SchemaError: ``value`` is not a string.
        UnsupportedVersionError: its major version is not 1.

    Example:

    ```python
    from heimdall_io.format.validation import check_version

    check_version("1.1.0")   # "1.1.0"
    check_version("2.0.0")   # raises UnsupportedVersionError
    ```
    """
    if not isinstance(value, str):
        raise SchemaError(f"format_version must be a string, got {type(value).__name__}")
    major = value.split(".", 1)[0]
    if major != "1":
        raise UnsupportedVersionError(
            f"unsupported format_version {value!r}: this reader knows 1.x bundles"
        )
    return value


def validate_header(document: dict[str, Any]) -> BundleHeader:
    """Type-check a whole document (payload removed); return it as a ``BundleHeader``.

    Fields the types do not name are allowed (and left out of the result).

    Raises:
        SchemaError: a required field is missing or a field has the wrong type.

    Example:

    ```python
    from heimdall_io.format.validation import validate_header

    header = validate_header({
        "format_version": "1.1.0",
        "bundle_metadata": {"bundle_id": "b-1", "created_at": "2025-01-01T00:00:00Z"},
        "model": {"model_name": "tiny", "version": 1},
    })
    assert header.model.model_name == "tiny"
    ```
    """
    try:
        return msgspec.convert(document, BundleHeader)
    except msgspec.ValidationError as e:
        raise SchemaError(f"invalid bundle: {e}") from None
    except UnicodeEncodeError:  # msgspec matches keys as UTF-8
        raise SchemaError(_SURROGATE_KEY) from None


def check_section(name: str, value: Any) -> None:
    """Type-check one top-level section by name; sections the format does not type pass.

    ``format_version`` and ``model`` are not sections here: see :func:`check_version`
    and :func:`validate_header`.

    Raises:
        SchemaError: the section does not match its type; the message names it.

    Example:

    ```python
    from heimdall_io.format.validation import check_section

    check_section("training_config", {"epochs": 10})
    check_section("x_custom", "anything")          # not a typed section
    check_section("training_config", {"epochs": "ten"})  # raises SchemaError
    ```
    """
    section_type = _SECTION_TYPES.get(name)
    if section_type is not None:
        try:
            msgspec.convert(value, section_type)
        except msgspec.ValidationError as e:
            raise SchemaError(f"invalid bundle: {e} (in {name})") from None
        except UnicodeEncodeError:
            raise SchemaError(f"{_SURROGATE_KEY} (in {name})") from None


def check_external_entry(entry: dict[str, Any], where: str) -> ExternalDataInfo:
    """Type-check a ``model.external_data`` entry (without its data); return it typed.

    Raises:
        SchemaError: a required field is missing (``path`` and ``size_bytes`` must precede
            the data) or a field has the wrong type, e.g. a path that is absolute or has a
            ``..`` segment.

    Example:

    ```python
    from heimdall_io.format.validation import check_external_entry

    check_external_entry({"path": "weights.bin", "size_bytes": 4}, "model.external_data[0]")
    ```
    """
    try:
        return msgspec.convert(entry, ExternalDataInfo)
    except msgspec.ValidationError as e:
        raise SchemaError(f"invalid bundle: {e} (in {where})") from None
    except UnicodeEncodeError:
        raise SchemaError(f"{_SURROGATE_KEY} (in {where})") from None
