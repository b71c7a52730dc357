"""An ASGI request body as a blocking ``read(n)`` file for the codec in a worker thread.

The import runs in a worker thread (the codec, hashing and the object store are
blocking). Run through :meth:`RequestBodyReader.run`, a task on the event loop receives up
to ``ahead`` batches of the server's body messages (about ``coalesce`` bytes each, handed
over as they came, never joined: no copy) ahead of the worker, so that the socket is read
on one core while the codec decodes on the other; the worker takes them through a
:class:`Handover`, without a round trip through the event loop. Outside ``run``, each
``read`` asks the event loop for the next batch with :func:`anyio.from_thread.run` and
nothing is read ahead. Either way a few batches at most are in memory per upload, and the
server's socket stays under flow control while the codec is busy: a slow consumer slows
the client down instead of buffering its body.

The reader enforces the byte limit while streaming (PayloadTooLargeError, mapped to 413),
turns a client that goes away mid-upload into :class:`UploadAbortedError` raised *inside*
the worker thread (so the service removes its half-written object and registers nothing),
and a client that sends nothing for ``timeout`` seconds (the time between two of its
messages is bounded, not the whole upload) into :class:`UploadTimeoutError` (mapped to
408; the import slot is freed at once). A failure is sticky: every later ``read`` raises
it again, so a caller that catches one cannot mistake the rest for the end of the body.
It also checks that a body sent with ``Content-Encoding: gzip|zstd`` starts with that
format's magic bytes (the codec detects the compression itself; the header only has to
agree with it).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread

from heimdall_io.codec.compression import GZIP_MAGIC, ZSTD_MAGIC
from heimdall_io.errors import (
    HeimdallError,
    MalformedBundleError,
    PayloadTooLargeError,
    TruncatedBundleError,
)

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

ENCODING_MAGIC = {"gzip": GZIP_MAGIC, "x-gzip": GZIP_MAGIC, "zstd": ZSTD_MAGIC}
COALESCE = 1 << 20
#: Pieces received ahead of the worker thread by :meth:`RequestBodyReader.run`.
AHEAD = 4
_T = TypeVar("_T")


class UploadAbortedError(TruncatedBundleError):
    """The client disconnected before the request body was complete."""


class UploadTimeoutError(UploadAbortedError):
    """The client sent no part of the request body for the whole body timeout."""


class Handover:
    """Batches from a task on the event loop to a worker thread: a queue of at most
    ``limit`` batches (0: handed over only to a worker waiting for one), under a lock.

    The worker takes batches without a round trip through the event loop (which is busy
    reading the socket, so each round trip would wait its turn); it wakes the task only
    when the task waits for room. asyncio only: the wake-up goes through the loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = max(0, limit)
        self._queue: deque[list[bytes] | None] = deque()  # None: the end
        self._ready = threading.Condition()
        self._room = asyncio.Event()  # set (through the loop) when the task may go on
        self._task_waiting = False
        self._worker_waiting = False

    def _has_room(self) -> bool:
        """Whether one more batch may be queued (called under ``_ready``)."""
        if self._limit == 0:
            return self._worker_waiting and not self._queue
        return len(self._queue) < self._limit

    async def put(self, batch: list[bytes]) -> None:
        """Queue ``batch``, once there is room. On the event loop."""
        while True:
            with self._ready:
                if self._has_room():
                    self._queue.append(batch)
                    self._ready.notify()
                    return
                self._task_waiting = True
                self._room.clear()
            await self._room.wait()

    def end(self) -> None:
        """No more batches (whatever the room). On the event loop."""
        with self._ready:
            self._task_waiting = False
            self._queue.append(None)
            self._ready.notify()

    def take(self) -> list[bytes]:
        """The next batch, waiting for it; [] at the end (and from then on). In the worker."""
        with self._ready:
            self._worker_waiting = True
            try:
                while not self._queue:
                    self._wake_task()
                    self._ready.wait()
                batch = self._queue.popleft()
                if batch is None:
                    self._queue.append(None)  # the end stays the end
                    return []
                self._wake_task()
                return batch
            finally:
                self._worker_waiting = False

    def _wake_task(self) -> None:
        if self._task_waiting and self._has_room():
            self._task_waiting = False
            self._loop.call_soon_threadsafe(self._room.set)


class RequestBodyReader:
    """``read(n)`` over an ASGI ``receive`` callable, for use in an anyio worker thread.

    ``read`` returns at most ``n`` bytes and may return fewer (never zero before the end);
    ``read()``/``read(-1)`` return the next piece rather than the whole body, so that no
    caller can make it buffer an upload.
    """

    def __init__(
        self,
        receive: Receive,
        *,
        limit: int | None = None,
        encoding: str | None = None,
        coalesce: int = COALESCE,
        timeout: float | None = None,
    ) -> None:
        self._receive = receive
        self._limit = limit
        self._timeout = timeout
        self._magic = ENCODING_MAGIC.get(encoding or "")
        self._encoding = encoding
        self._coalesce = coalesce
        self._piece = b""  # the body message being read
        self._pos = 0
        self._batch: list[bytes] = []  # the messages after it, received with it
        self._head = b""
        self._more = True  # False once the body ended or reading it was given up
        self._complete = False  # True once the last body message arrived
        self._ended = False  # the worker thread has seen the end of the body
        # Batches received ahead by run()'s task; None: no task (then read asks the event
        # loop for each batch itself).
        self._ahead: Handover | None = None
        self.bytes_read = 0
        #: What ended the upload early (disconnect, timeout, limit); raised by every read.
        self.failure: HeimdallError | None = None

    # -- the event-loop side -------------------------------------------------------------

    async def _next_batch(self) -> list[bytes]:
        """Body messages of about ``coalesce`` bytes; [] at the end. Runs in the event loop."""
        try:
            return await self._receive_batch()
        except HeimdallError as exc:
            self._more = False
            self.failure = exc
            raise

    async def _pump(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        assert self._ahead is not None
        try:
            task_status.started()  # from here on, the end is always queued (finally)
            while self._more:
                try:
                    batch = await self._next_batch()
                except HeimdallError:
                    return  # kept in self.failure, which the worker raises
                if batch:
                    await self._ahead.put(batch)
        finally:
            self._ahead.end()  # the end, or a failure in self.failure

    async def run(
        self,
        call: Callable[[], _T],
        *,
        limiter: anyio.CapacityLimiter | None = None,
        ahead: int = AHEAD,
    ) -> _T:
        """``call()`` in a worker thread (it reads this body) while a task receives up to
        ``ahead`` batches of the body ahead of it; its result, or its exception as is.
        (asyncio only: the worker wakes that task through the running loop.)"""
        self._ahead = Handover(asyncio.get_running_loop(), ahead)
        outcome: list[Any] = []
        async with anyio.create_task_group() as tg:
            await tg.start(self._pump)
            try:
                outcome.append(await anyio.to_thread.run_sync(call, limiter=limiter))
            except Exception as exc:
                outcome.append(exc)  # raised below, not wrapped in an exception group
            finally:
                tg.cancel_scope.cancel()
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]

    async def _receive_batch(self) -> list[bytes]:
        """The body messages of the next ``coalesce`` bytes or so (fewer at its end, or when
        the client pauses): handed over as the server made them, so the bytes are not copied
        once more."""
        parts: list[bytes] = []
        size = 0
        last = time.monotonic()  # when the client last sent a message
        while self._more and size < self._coalesce:
            # One deadline for many messages, not one per message (a cancel scope costs
            # more than a small message). When it passes, the batch ends if it has
            # anything; otherwise the client was idle the whole timeout, unless a message
            # without body came meanwhile (then wait for the rest of the timeout).
            with anyio.CancelScope() as scope:
                if self._timeout is not None:
                    idle = time.monotonic() - last
                    scope.deadline = anyio.current_time() + self._timeout - idle
                while self._more and size < self._coalesce:
                    body = self._body_of(await self._receive())
                    last = time.monotonic()
                    if body:
                        parts.append(body)
                        size += len(body)
            if scope.cancelled_caught:
                if parts:
                    break
                assert self._timeout is not None
                if time.monotonic() - last >= self._timeout:
                    raise UploadTimeoutError(
                        f"the client sent nothing for {self._timeout:g} s "
                        f"after {self.bytes_read} bytes of the request body"
                    )
        return parts

    def _body_of(self, message: MutableMapping[str, Any]) -> bytes:
        """The body bytes one ASGI message carries (b"" for none), counted against the
        limit; a disconnect raises UploadAbortedError."""
        kind = message.get("type")
        if kind == "http.disconnect":
            raise UploadAbortedError(f"client disconnected after sending {self.bytes_read} bytes")
        if kind != "http.request":
            return b""
        body = bytes(message.get("body") or b"")
        self._more = bool(message.get("more_body", False))
        self._complete = not self._more
        self.bytes_read += len(body)
        if self._limit is not None and self.bytes_read > self._limit:
            raise PayloadTooLargeError(f"request body larger than the limit of {self._limit} bytes")
        return body

    # -- the worker-thread side ----------------------------------------------------------

    def read(self, n: int | None = -1) -> bytes:
        if self.failure is not None:
            raise self.failure
        if self._pos >= len(self._piece):
            if not self._batch:
                if self._ended or (self._ahead is None and not self._more):
                    return self._end()
                if self._ahead is None:
                    self._batch = anyio.from_thread.run(self._next_batch)
                else:
                    self._batch = self._ahead.take()
                if self.failure is not None:
                    raise self.failure
                if not self._batch:
                    return self._end()
                self._batch.reverse()  # taken from the end: pop() is O(1)
            self._piece = self._batch.pop()
            self._pos = 0
            self._check_magic(final=self._ahead is None and not self._more and not self._batch)
        if n is None or n < 0:
            n = len(self._piece)
        start = self._pos
        self._pos = min(start + n, len(self._piece))
        if start == 0 and self._pos == len(self._piece):
            return self._piece
        return self._piece[start : self._pos]

    def _end(self) -> bytes:
        """The end of the body, for every read from now on."""
        self._ended = True
        self._check_magic(final=True)
        return b""

    def readable(self) -> bool:
        return True

    @property
    def complete(self) -> bool:
        """Whether the whole body has been received (nothing left on the connection)."""
        return self._complete

    def _check_magic(self, final: bool) -> None:
        magic = self._magic
        if magic is None or len(self._head) >= len(magic):
            return
        self._head += self._piece[: len(magic) - len(self._head)]
        if (len(self._head) >= len(magic) or final) and not self._head.startswith(magic):
            raise MalformedBundleError(
                f"Content-Encoding is {self._encoding} but the body is not {self._encoding} data"
            )


__all__ = [
    "AHEAD",
    "ENCODING_MAGIC",
    "Handover",
    "RequestBodyReader",
    "UploadAbortedError",
    "UploadTimeoutError",
]
