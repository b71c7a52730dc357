"""Exports of a known size: ``Content-Length``, a strong ``ETag``, ``Range`` and ``If-Range``.

A plain bundle of a registered model has its length known before a byte is encoded (see
:mod:`heimdall_io.service.sized`). Such an export is sent with ``Content-Length`` and an
``ETag``. Its bytes are the same on every request only when the bundle id is pinned
(``?bundle_id=``; the creation time is then the model's), so only a pinned export honours
``Range`` (one range per request: 206 with ``Content-Range``; 416 past the end) and
``If-Range`` (a different ETag: the whole bundle, 200). An unpinned export names its
pinned twin in ``Content-Location``, where a client resumes; a Range on it is ignored
(200), since a fresh bundle id would change the bytes.

A range is encoded from the 3-byte boundary of the payload before it (a seek on a local
object), never from the start; it is not verified, which the client does over the whole
payload once it has every byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import anyio.to_thread
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from heimdall_io.service import ExportStream

from .errors import ApiError
from .streaming import ExportResponse, aclose_chunks, export_body, export_headers

__all__ = ["parse_range", "query_bundle_id", "sized_export"]


def query_bundle_id(query: QueryParams) -> str | None:
    """``?bundle_id=`` as a canonical UUID (422 if it is not one); None if absent."""
    raw = query.get("bundle_id")
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise ApiError(422, f"bundle_id must be a UUID, got {raw[:64]!r}") from None


def parse_range(value: str | None, length: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` as ``(start, stop)`` (stop exclusive); None to send it all.

    Only one range is served; several, another unit or a malformed value are ignored (the
    whole body, as RFC 9110 allows). A range that starts past the end is 416.

    >>> parse_range("bytes=10-", 100), parse_range("bytes=-10", 100), parse_range("x", 5)
    ((10, 100), (90, 100), None)
    """
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not (first + last).isdigit():
        return None
    if not first:  # a suffix: the last N bytes
        n = int(last)
        if n == 0 or length == 0:
            raise _unsatisfiable(length)
        return max(0, length - n), length
    start = int(first)
    stop = int(last) + 1 if last else length
    if last and stop <= start:
        return None  # an invalid range-spec: ignored
    if start >= length:
        raise _unsatisfiable(length)
    return start, min(stop, length)


def _unsatisfiable(length: int) -> ApiError:
    return ApiError(416, f"Range not satisfiable: the bundle is {length} bytes",
                    {"Content-Range": f"bytes */{length}"})  # fmt: skip


def _pinned_location(request: Request, bundle_id: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "bundle_id"]
    return f"{request.url.path}?{urlencode([*query, ('bundle_id', bundle_id)])}"


async def sized_export(
    request: Request, stream: ExportStream, media_type: str, *, pinned: bool
) -> Response:
    """The response to ``GET|HEAD .../export`` when ``stream.length`` is known."""
    length, etag = stream.length, stream.etag
    assert length is not None and etag is not None and stream.ranges is not None
    headers = export_headers(stream)
    headers["ETag"] = etag
    if pinned:
        headers["Accept-Ranges"] = "bytes"
        if_range = request.headers.get("if-range")
        wanted = None if if_range not in (None, etag) else request.headers.get("range")
        span = parse_range(wanted, length)
    else:
        headers["Accept-Ranges"] = "none"
        headers["Content-Location"] = _pinned_location(
            request, str(stream.header["bundle_metadata"]["bundle_id"])
        )
        span = None
    status = 200
    if span is not None:
        start, stop = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
        headers["Content-Length"] = str(stop - start)
    else:
        headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    chunks: Iterator[bytes] = iter(stream) if span is None else stream.ranges(*span)
    # The first chunk opens the object: a failure there still gets a status code.
    try:
        first = await anyio.to_thread.run_sync(next, chunks, b"")
    except BaseException:
        await aclose_chunks(chunks)
        raise
    body = export_body(first, chunks, stream.record.model_id)
    return ExportResponse(body, headers=headers, media_type=media_type, chunks=chunks,
                          status_code=status)  # fmt: skip
