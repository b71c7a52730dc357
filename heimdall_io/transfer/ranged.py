"""A remote object as a readable, seekable stream that survives cut connections.

:class:`RangedReader` reads a remote object (an HTTP resource, an S3 object) through a
:class:`RangeSource`, which opens the bytes ``start..stop-1`` (``stop`` None: to the end).
Read in order, one request streams the whole object; when the connection breaks or the
body ends early, the reader asks again from the last byte it has, with the identity the
first answer gave (an ETag), and fails with :class:`~heimdall_io.errors.RemoteError` if
the object changed meanwhile or if it cannot make progress for ``retries`` attempts in a
row (waits between them grow from 0.25 s to 4 s). Nothing is verified here: the bundle
reader checks the payload's size and digests once it has read every byte.

With ``window``, every request asks for at most that many bytes (doubling, up to 1024
times it, while reads stay sequential, so that a compressed bundle takes few requests):
what ``inspect`` of a remote bundle uses, so that it fetches only the metadata before the
payload and after it, and seeks over the payload.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from heimdall_io.errors import RemoteError

__all__ = ["Opened", "RangeSource", "RangedReader", "TransientError"]

#: Failed attempts in a row (no byte gained) before a read gives up.
RETRIES = 6


class TransientError(Exception):
    """A failure worth retrying from the current position (connection lost, timeout, 5xx)."""


@dataclass
class Opened:
    """An open response: its body, and what it says about the whole object."""

    body: Any  # read(n) -> bytes; close()
    start: int  # the offset of the body's first byte
    size: int | None  # the whole object's size, if known
    etag: str | None  # its identity, if the server gave one
    ranges: bool  # whether the server serves byte ranges
    whole: bool = False  # the body runs to the end of the object (a range was not served)


class RangeSource(Protocol):
    """Where a :class:`RangedReader` gets bytes."""

    #: Named in error messages (a URL without credentials).
    what: str

    def open(self, start: int, stop: int | None, etag: str | None) -> Opened:
        """The bytes ``start..stop-1`` (``stop`` None: to the end); with ``etag``, only of
        that version (else RemoteError). Raises TransientError for what a retry may fix."""
        ...


class RangedReader(io.RawIOBase):
    """A remote object as a raw stream: sequential reads resume, seeks re-request."""

    def __init__(
        self,
        source: RangeSource,
        *,
        window: int | None = None,
        retries: int = RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self._window = window
        self._span = window
        self._retries = retries
        self._sleep = sleep
        self._pos = 0
        self._body: Any = None
        self._body_end: int | None = None  # exclusive end of the open body, if bounded
        self.size: int | None = None
        self.etag: str | None = None
        self._ranges = False
        #: How many times a request was made again after a failure (for tests and reports).
        self.resumed = 0
        #: Bytes received over every request (what inspect fetched, what a resume cost).
        self.bytes_received = 0
        self._open(0)

    # -- requests -------------------------------------------------------------------------

    def _open(self, start: int) -> None:
        stop = None
        if self._span is not None:
            stop = start + self._span
            if self.size is not None:
                stop = min(stop, self.size)
        opened = self._attempt(lambda: self.source.open(start, stop, self.etag))
        if self.etag is None and self.size is None:
            self.size, self.etag, self._ranges = opened.size, opened.etag, opened.ranges
        elif opened.start != start:
            opened.body.close()
            raise RemoteError(f"{self.source.what}: the server does not resume downloads "
                              "(no byte ranges)")  # fmt: skip
        elif opened.etag is not None and opened.etag != self.etag:
            opened.body.close()
            raise RemoteError(f"{self.source.what}: changed while it was being read")
        self._body, self._pos = opened.body, start
        self._body_end = stop
        if opened.whole and stop is not None:
            # The server sent it all instead of a window: read on as one stream.
            self._window = self._span = self._body_end = None

    def _attempt(self, call: Callable[[], Any]) -> Any:
        failures = 0
        while True:
            try:
                return call()
            except TransientError as exc:
                failures += 1
                # Before the first answer: a few tries only (a server that is down).
                limit = self._retries if self.size is not None else min(self._retries, 3)
                if failures >= limit or not self._resumable():
                    tries = f" (tried {failures} times)" if failures > 1 else ""
                    raise RemoteError(f"{self.source.what}: {exc}{tries}") from None
                self._sleep(min(4.0, 0.25 * 2 ** (failures - 1)))
                self.resumed += 1

    def _resumable(self) -> bool:
        first = self.size is None and self.etag is None
        return first or (self._ranges and self.etag is not None)

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                body.close()

    # -- io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.size is not None and self._ranges

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self.size is None:
                raise OSError("size unknown: cannot seek from the end")
            offset += self.size
        if offset < 0:
            raise ValueError("negative seek position")
        if offset != self._pos:
            if not self.seekable():
                raise OSError(f"{self.source.what}: the server does not serve byte ranges")
            self._drop_body()
            self._pos = offset
            self._span = self._window
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        if size == 0 or (self.size is not None and self._pos >= self.size):
            return b""
        failures = 0
        while True:
            if self._body is None:
                if self._span is not None and self._window is not None:
                    self._span = min(self._span * 2, self._window << 10)
                self._open(self._pos)
            error: TransientError | None = None
            try:
                data = self._body.read(size)
            except TransientError as exc:
                data, error = b"", exc
            if data:
                self._pos += len(data)
                self.bytes_received += len(data)
                if self._body_end is not None and self._pos >= self._body_end:
                    self._drop_body()
                return data
            expected = self._body_end if self._body_end is not None else self.size
            if error is None and (expected is None or self._pos >= expected):
                self._drop_body()
                if self._body_end is not None and self.size is not None and self._pos < self.size:
                    continue  # the window ended: the next one
                return b""  # the end of the object
            # Cut short: ask again from here.
            self._drop_body()
            failures += 1
            reason = error or TransientError(f"connection closed after {self._pos} bytes")
            if failures >= self._retries or not (self._ranges and self.etag is not None):
                raise RemoteError(f"{self.source.what}: {reason} after {self._pos} bytes; "
                                  f"gave up after {failures} tries")  # fmt: skip
            self._sleep(min(4.0, 0.25 * 2 ** (failures - 1)))
            self.resumed += 1

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._drop_body()
        super().close()
