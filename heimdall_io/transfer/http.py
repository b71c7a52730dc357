"""HTTP for transfers: one urllib3 pool, streamed bodies both ways, errors as one line.

urllib3 (a dependency of heimdall-io; minio uses it too) streams a request body from any
iterable of byte chunks, sending each as it comes (with ``Content-Length`` when the size
is known, else chunked), and reads responses in the caller's pieces through
``http.client``: no event loop, no thread, one buffer per piece. Its own retries are off:
a streamed body cannot be sent twice, and downloads resume in :mod:`.ranged` instead.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError, SSLError

from heimdall_io.errors import HeimdallError, NotFoundError, RemoteError

from .ranged import Opened, TransientError

__all__ = ["HttpSession", "HttpSource", "detail_of", "redact"]

#: Statuses that a retry may get past (a proxy or a server restarting).
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def redact(url: str) -> str:
    """``url`` without credentials or query (which may hold a signature), for messages.

    >>> redact("https://u:p@host/a/b?X-Amz-Signature=1")
    'https://host/a/b'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def detail_of(response: Any) -> str:
    """The ``detail`` of a JSON error body, else the start of the body, else the reason."""
    try:
        raw = response.read(64 << 10)
    except (HTTPError, OSError):
        raw = b""
    try:
        detail = json.loads(raw).get("detail")
        if isinstance(detail, str):
            return detail.splitlines()[0] if detail else ""
    except (ValueError, AttributeError):
        pass
    text = raw.decode("utf-8", "replace").strip().splitlines()
    return text[0][:200] if text else (getattr(response, "reason", None) or "")


def _reason(exc: BaseException) -> str:
    """A few words for a network failure ("connection refused", "connection reset")."""
    items = [exc, getattr(exc, "reason", None), exc.__cause__, exc.__context__, *exc.args]
    for item in items:
        if isinstance(item, ConnectionRefusedError) or "refused" in str(item).lower():
            return "connection refused"
    for item in items:
        if isinstance(item, ConnectionResetError | BrokenPipeError):
            return "connection reset"
        if type(item).__name__ in ("RemoteDisconnected", "IncompleteRead"):
            return "connection closed by the server"
        if isinstance(item, TimeoutError) or "timed out" in str(item).lower():
            return "timed out"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class HttpSession:
    """A urllib3 pool with the transfer's timeouts; ``request`` never retries by itself."""

    def __init__(self, *, timeout: float = 120.0, connect_timeout: float = 10.0) -> None:
        self.pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
            retries=False,
            maxsize=4,
            # Request bodies given as files go out in 1 MiB writes, not 16 KiB ones.
            blocksize=1 << 20,
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        length: int | None = None,
    ) -> Any:
        """The response, its body unread (``preload_content=False``).

        An iterable ``body`` is sent with ``Content-Length: length`` if given, else
        chunked. Raises TransientError when the server cannot be reached or the exchange
        breaks, RemoteError for TLS errors.
        """
        hdrs = dict(headers or {})
        chunked = False
        if body is not None and not isinstance(body, bytes):
            if length is None:
                chunked = True
            else:
                hdrs["Content-Length"] = str(length)
        try:
            return self.pool.request(
                method, url, headers=hdrs, body=body, chunked=chunked,
                preload_content=False, decode_content=False, redirect=False,
            )  # fmt: skip
        except SSLError as exc:
            raise RemoteError(f"{redact(url)}: TLS error: {_reason(exc)}") from None
        except (HTTPError, OSError) as exc:
            raise TransientError(_reason(exc)) from None

    def close(self) -> None:
        self.pool.clear()


class ResponseBody:
    """A urllib3 response body whose read errors are TransientError; close drops the
    connection (S3 reads use it too: minio answers with urllib3 responses)."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def read(self, n: int) -> bytes:
        try:
            data: bytes = self._response.read(n)
        except (HTTPError, OSError) as exc:
            raise TransientError(f"connection lost: {_reason(exc)}") from None
        return data

    def close(self) -> None:
        # Never back to the pool half read: the connection would hold the rest.
        with contextlib.suppress(Exception):  # closing a broken connection may fail too
            self._response.close()
            self._response.release_conn()


def _error(status: int, detail: str, what: str) -> HeimdallError:
    if status == 404:
        return NotFoundError(f"{what}: not found ({detail})" if detail else f"{what}: not found")
    return RemoteError(f"{what}: HTTP {status}" + (f": {detail}" if detail else ""))


class HttpSource:
    """An HTTP resource as a :class:`~heimdall_io.transfer.ranged.RangeSource`.

    Resuming needs what RFC 9110 gives for it: a size, a strong ETag (or a Last-Modified
    date) and ``Accept-Ranges: bytes``; a later request then carries ``Range`` and
    ``If-Range``, so a changed resource comes back whole (200) and is refused.
    """

    def __init__(
        self,
        session: HttpSession,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        what: str | None = None,
        error: Callable[[int, str, str], HeimdallError] = _error,
    ) -> None:
        self.session = session
        self.url = url
        self.headers = {"Accept-Encoding": "identity", **(headers or {})}
        self.what = what or redact(url)
        self._error = error
        #: The headers of the first response (Content-Disposition, X-Heimdall-...).
        self.first_headers: Mapping[str, str] = {}

    def open(self, start: int, stop: int | None, etag: str | None) -> Opened:
        headers = dict(self.headers)
        if start or stop is not None:
            headers["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
            if etag is not None:
                headers["If-Range"] = etag
        response = self.session.request("GET", self.url, headers=headers)
        status = response.status
        if status >= 400:
            detail = detail_of(response)
            ResponseBody(response).close()
            if status in TRANSIENT_STATUSES:
                raise TransientError(f"HTTP {status}" + (f": {detail}" if detail else ""))
            raise self._error(status, detail, self.what)
        h = response.headers
        tag = h.get("ETag")
        if tag is not None and tag.startswith("W/"):
            tag = None  # a weak tag does not promise the same bytes
        tag = tag or h.get("Last-Modified")
        if status == 206:
            m = _CONTENT_RANGE.fullmatch((h.get("Content-Range") or "").strip())
            if m is None:
                ResponseBody(response).close()
                raise RemoteError(f"{self.what}: malformed Content-Range")
            first = int(m[1])
            size = int(m[3]) if m[3] != "*" else None
            ranges = True
        elif status == 200:
            first = 0
            length = h.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
            ranges = (h.get("Accept-Ranges") or "").strip().lower() == "bytes"
        else:
            ResponseBody(response).close()
            raise RemoteError(f"{self.what}: unexpected HTTP {status}")
        if etag is not None and status == 200 and (start or stop is not None):
            ResponseBody(response).close()
            raise RemoteError(f"{self.what}: changed while it was being read")
        if not self.first_headers:
            self.first_headers = dict(h)
        return Opened(ResponseBody(response), first, size, tag, ranges, whole=status == 200)
