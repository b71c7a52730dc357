"""What a request asks for: its path's model id, its query values, its body's headers.

Each function either returns a clean value or raises :class:`~heimdall_io.api.errors.ApiError`
(422 for a malformed model id or query value, 400 for a malformed Content-Length, 415 for
a body the import cannot take). Unknown query names are ignored.

Integers are strict: ASCII digits with at most a leading ``-``, nothing else (no ``+``, no
spaces, no ``5.0``, no ``1e3``, no ``--5``), and at most :data:`MAX_INT_DIGITS` digits, so
that no value reaches ``int()`` that it could refuse (or be slow on). Every message names
the parameter; none of them is a 5xx, and none closes the connection.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import QueryParams
from starlette.requests import Request

from heimdall_io.codec.compression import GZIP, NONE, ZSTD
from heimdall_io.service import ExportOptions, ImportOptions

from .bridge import ENCODING_MAGIC
from .errors import ApiError
from .settings import MAX_DESCRIPTION, MAX_NUM_SAMPLES

#: The media type of an export, by its ``?compression=``.
EXPORT_MEDIA_TYPES = {NONE: "application/json", ZSTD: "application/zstd", GZIP: "application/gzip"}

_TRUE, _FALSE = ("true", "1"), ("false", "0")
#: Digits an integer query value may have (more is out of range whatever the bounds).
MAX_INT_DIGITS = 12
_INTEGER = re.compile(rf"-?[0-9]{{1,{MAX_INT_DIGITS}}}")
_DIGITS = re.compile(r"[0-9]{1,19}")


def path_model_id(request: Request) -> str:
    """The ``{model_id}`` path parameter as a canonical UUID string (422 if not a UUID)."""
    raw = request.path_params["model_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(422, f"model_id must be a UUID, got {raw[:64]!r}") from None


def query_bool(query: QueryParams, name: str, default: bool) -> bool:
    """``?name=`` as a bool: true/1 or false/0, any case (422 otherwise).

    >>> query_bool(QueryParams("validate=0"), "validate", True)
    False
    """
    value = query.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ApiError(422, f"{name} must be true, false, 1 or 0, got {value[:64]!r}")


def strict_int(value: str) -> int | None:
    """``value`` as an integer if it is one written plainly (see above); else None.

    >>> [strict_int(v) for v in ("10", "-3", "--5", "+5", " 5", "5.0", "1e3", "١")]
    [10, -3, None, None, None, None, None, None]
    """
    return int(value) if _INTEGER.fullmatch(value) else None


def query_int(query: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    """``?name=`` as an integer from ``lo`` to ``hi`` (422 otherwise; see :func:`strict_int`).

    >>> query_int(QueryParams("limit=10"), "limit", 1000, 1, 100_000)
    10
    """
    value = query.get(name)
    if value is None:
        return default
    number = strict_int(value)
    if number is None or not lo <= number <= hi:
        raise ApiError(422, f"{name} must be an integer from {lo} to {hi}, got {value[:64]!r}")
    return number


def export_options(query: QueryParams) -> ExportOptions:
    """ExportOptions from the query string (422 on a bad value; unknown names ignored).

    >>> export_options(QueryParams("compression=zstd&include_samples=0")).level
    3
    """
    compression = (query.get("compression") or NONE).strip().lower()
    if compression not in EXPORT_MEDIA_TYPES:
        raise ApiError(422, f"compression must be none, zstd or gzip, got {compression[:64]!r}")
    level = query_int(query, "level", 3, 1, 9 if compression == GZIP else 19)
    description = query.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ApiError(422, f"description longer than {MAX_DESCRIPTION} characters")
    return ExportOptions(
        include_config=query_bool(query, "include_config", True),
        include_metrics=query_bool(query, "include_metrics", True),
        include_normalization=query_bool(query, "include_normalization", True),
        include_samples=query_bool(query, "include_samples", True),
        num_samples=query_int(query, "num_samples", 5, 0, MAX_NUM_SAMPLES),
        description=description,
        compression=compression,
        level=level,
    )


def import_options(query: QueryParams) -> ImportOptions:
    """ImportOptions from the query string: the export's ``include_*`` names (422 if bad).

    >>> import_options(QueryParams("include_samples=false")).skipped
    ('sample_predictions',)
    """
    return ImportOptions(
        include_config=query_bool(query, "include_config", True),
        include_metrics=query_bool(query, "include_metrics", True),
        include_normalization=query_bool(query, "include_normalization", True),
        include_samples=query_bool(query, "include_samples", True),
    )


def content_length(request: Request) -> int | None:
    """The declared body length; None for a chunked body (400 if malformed: ASCII digits
    only, at most 19 of them; the server has usually refused worse already)."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    v = value.strip(" \t")
    if not _DIGITS.fullmatch(v):
        raise ApiError(400, "Invalid Content-Length: expected a number of bytes")
    return int(v)


def content_encoding(request: Request) -> str | None:
    """``gzip``, ``x-gzip`` or ``zstd``; None for none or identity (415 for another)."""
    value = request.headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return None
    if value not in ENCODING_MAGIC:
        raise ApiError(415, f"Unsupported Content-Encoding {value[:64]!r}: use gzip or zstd")
    return value


__all__ = [
    "EXPORT_MEDIA_TYPES",
    "content_encoding",
    "content_length",
    "export_options",
    "import_options",
    "path_model_id",
    "query_bool",
    "query_int",
    "strict_int",
]
