"""``multipart/form-data`` imports: a browser form or ``curl -F file=@model.heimdall``; with
several files, a batch (one import per file, each all or nothing on its own).

The body is parsed as it streams, in the import's worker thread: the
:class:`~heimdall_io.api.bridge.RequestBodyReader` hands over about 1 MiB at a time,
python-multipart splits it (its search for the boundary is ``bytes.find``, in C), and the
current file's :class:`_PartReader` hands the pieces to the codec. Nothing is spooled:
memory holds one piece. Every part with a ``filename`` is a bundle; other fields are
skipped. Each file may be up to the import limit (HEIMDALL_MAX_IMPORT_BYTES).

python-multipart was chosen over streaming-form-data by measurement: as fast on file
parts, and far faster on a hostile body of ``\\r\\n--`` runs (benchmarks/multipart_bench.py).

The response is ``{"results": [...]}``, one entry per file in order: ``status`` (201,
or the status a single import would have had), ``filename``, ``field`` and either the
import's fields or ``detail``. The status is 201 if every file was imported, else 207.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import Response

from heimdall_io.errors import HeimdallError, MalformedBundleError, PayloadTooLargeError
from heimdall_io.service import Service

from .bodies import ImportResponse
from .bridge import COALESCE, RequestBodyReader, UploadAbortedError
from .errors import ApiError, map_error

log = logging.getLogger("heimdall_io.api")

__all__ = ["MAX_FILES", "MultipartFiles", "batch_import", "form_boundary"]

#: Most files one request may carry; further files are reported as errors, not imported.
MAX_FILES = 64
_JSON = msgspec.json.Encoder()


def form_boundary(request: Request) -> bytes | None:
    """The boundary of a ``multipart/form-data`` request; None for any other body."""
    ctype, params = parse_options_header(request.headers.get("content-type"))
    if ctype.lower() != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "multipart/form-data without a valid boundary")
    return boundary


@dataclass
class _Part:
    field: str | None
    filename: str | None
    ended: bool = False
    size: int = 0


class MultipartFiles:
    """The file parts of a multipart body, one after the other, as readable streams.

    ``next_file()`` returns the next part that has a filename (skipping what is left of
    the previous one); its ``reader`` is valid until the next call. For a worker thread.
    """

    def __init__(self, body: Any, boundary: bytes, part_limit: int | None) -> None:
        self._body = body
        self._limit = part_limit
        self._events: deque[tuple[_Part, bytes | None]] = deque()  # (part, data | None=end)
        self._parts: deque[_Part] = deque()  # begun, headers complete
        self._part: _Part | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._finished = False  # the closing boundary was seen
        self._eof = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._on_begin, "on_header_field": self._on_field,
            "on_header_value": self._on_value, "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers, "on_part_data": self._on_data,
            "on_part_end": self._on_end, "on_end": self._on_finish,
        })  # fmt: skip

    # -- parser callbacks ---------------------------------------------------------------

    def _on_begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _on_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _on_headers(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition"))
        name, filename = params.get(b"name"), params.get(b"filename")
        self._part = _Part(_text(name), _text(filename))
        self._events.append((self._part, b""))  # announces the part

    def _on_data(self, data: bytes, start: int, end: int) -> None:
        if self._part is not None and end > start:
            self._events.append((self._part, data[start:end]))

    def _on_end(self) -> None:
        if self._part is not None:
            self._events.append((self._part, None))
            self._part = None

    def _on_finish(self) -> None:
        self._finished = True

    # -- reading ------------------------------------------------------------------------

    @property
    def broken(self) -> bool:
        """True once the body ended without its closing boundary (nothing more to read)."""
        return self._eof and not self._finished

    def _pull(self) -> bool:
        """Parse one more piece of the body; False once it has ended."""
        if self._eof:
            return False
        piece = self._body.read(COALESCE)
        if not piece:
            self._eof = True
            if not self._finished:
                raise MalformedBundleError("multipart body ended before its closing boundary")
            return False
        try:
            self._parser.write(piece)
        except MultipartParseError as exc:
            raise MalformedBundleError(f"malformed multipart body: {exc}") from None
        return True

    def next_file(self) -> tuple[_Part, _PartReader] | None:
        """The next file part and a reader of its bytes; None when there are no more."""
        while True:
            while self._events:
                part, data = self._events.popleft()
                if data == b"" and part.filename is not None and not part.ended:
                    return part, _PartReader(self, part)
            if not self._pull():
                return None

    def read_part(self, part: _Part, n: int) -> bytes:
        while True:
            if part.ended:
                return b""
            if self._events and self._events[0][0] is part:
                _, data = self._events[0]
                if data is None:
                    self._events.popleft()
                    part.ended = True
                    return b""
                if not data:
                    self._events.popleft()
                    continue
                if len(data) > n > 0:
                    self._events[0] = (part, data[n:])
                    data = data[:n]
                else:
                    self._events.popleft()
                part.size += len(data)
                if self._limit is not None and part.size > self._limit:
                    raise PayloadTooLargeError(f"file larger than the limit of {self._limit} bytes")
                return data
            if self._events:  # another part began: this one ended (not reported)
                part.ended = True
                return b""
            if not self._pull():
                raise MalformedBundleError("multipart body ended inside a file")


class _PartReader:
    """One file part as a ``read(n)`` stream for the codec."""

    def __init__(self, files: MultipartFiles, part: _Part) -> None:
        self._files, self._part = files, part

    def read(self, n: int | None = -1) -> bytes:
        return self._files.read_part(self._part, n if n is not None and n > 0 else COALESCE)

    def readable(self) -> bool:
        return True


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _result(part: _Part, result: Any) -> dict[str, Any]:
    r = result.record
    fields = msgspec.to_builtins(ImportResponse(
        model_id=r.model_id, model_name=r.model_name, version=r.version,
        onnx_path=r.onnx_path, onnx_size_bytes=r.onnx_size_bytes, onnx_md5=r.onnx_md5,
        onnx_sha256=r.onnx_sha256, source_model_id=r.source_model_id,
    ))  # fmt: skip
    return {"status": 201, "filename": part.filename, "field": part.field, **fields}


def _failure(part: _Part, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, HeimdallError):
        err = map_error(exc, "import")
        status, detail = err.status, err.detail
    else:
        log.error("batch import of %r failed", part.filename, exc_info=exc)
        status, detail = 500, "Internal server error"
    return {"status": status, "filename": part.filename, "field": part.field, "detail": detail}


def run_batch(
    files: MultipartFiles, service: Service, validate: bool, options: Any = None
) -> list[dict[str, Any]]:
    """Import every file part in turn (in a worker thread); one result each."""
    results: list[dict[str, Any]] = []
    while True:
        found = files.next_file()
        if found is None:
            return results
        part, reader = found
        if len(results) >= MAX_FILES:
            results.append(_failure(part, PayloadTooLargeError(
                f"more than {MAX_FILES} files in one request")))  # fmt: skip
            continue
        try:
            body: Any = reader  # a readable stream, as import_bundle wants
            result = service.import_bundle(body, validate=validate, options=options)
        except UploadAbortedError:
            raise
        except Exception as exc:
            results.append(_failure(part, exc))
            if isinstance(exc, MalformedBundleError) and files.broken:
                return results
            continue
        results.append(_result(part, result))


async def batch_import(
    request: Request,
    service: Service,
    boundary: bytes,
    *,
    validate: bool,
    options: Any,
    limit: int | None,
    limiter: anyio.CapacityLimiter,
    timeout: float | None = None,
) -> Response:
    """The multipart import: 201 if every file was imported, else 207; 400 if none.

    ``limit`` bounds each file (and its decoded model); ``timeout`` each wait for the
    body, as for a single import; ``options`` are the import's (partial imports).
    """
    body = RequestBodyReader(request.receive, timeout=timeout)
    files = MultipartFiles(body, boundary, limit)
    try:
        results = await anyio.to_thread.run_sync(run_batch, files, service, validate, options,
                                                 limiter=limiter)  # fmt: skip
    except UploadAbortedError as exc:
        log.info("batch import by %s aborted: %s", service.actor, exc)
        raise ApiError(400, f"Invalid bundle format: {exc}", {"Connection": "close"}) from exc
    except MalformedBundleError as exc:
        raise ApiError(400, f"Invalid multipart body: {exc}", {"Connection": "close"}) from exc
    if not results:
        raise ApiError(400, "Invalid multipart body: no file part (send each bundle as a file)")
    ok = all(r["status"] == 201 for r in results)
    log.info("%s batch import: %d of %d files imported", service.actor,
             sum(r["status"] == 201 for r in results), len(results))  # fmt: skip
    headers = None if body.complete else {"Connection": "close"}
    return Response(_JSON.encode({"results": results}), 201 if ok else 207, headers=headers,
                    media_type="application/json")  # fmt: skip
