"""The export's response: a bundle sent while the service encodes it, chunk by chunk.

The handler produces the first chunk itself (so that a missing model or object still
gets a status code); :func:`export_body` encodes the rest in worker threads, one chunk
each time the socket wants more, and :class:`ExportResponse` sends it. A failure after
the status line cannot change the status any more: the response is then left
unfinished, so that the server cuts the connection and no client can take the body for
a complete bundle. A client that goes away stops the encoding at once.

Closing the service's chunk iterator is blocking work: a stream that started writes its
audit row then ("client went away", or the error), and the database may keep that waiting
(a lock, a slow server). So it always runs in a worker thread (:func:`aclose_chunks`),
never on the event loop, where it would stall every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import Response

from heimdall_io.errors import HeimdallError
from heimdall_io.service import ExportStream

log = logging.getLogger("heimdall_io.api")

#: Largest body piece handed to the server at once (see export_body).
SEND_PIECE = 1 << 20
_INERT = (inspect.GEN_CREATED, inspect.GEN_CLOSED)


class _ExportAborted(Exception):
    """The export failed after the status line was sent."""


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."`` (RFC 6266), quoted-string safe.

    >>> content_disposition('a "b".heimdall')
    'attachment; filename="a _b_.heimdall"'
    """
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f'attachment; filename="{ascii_name}"'


def export_headers(stream: ExportStream) -> dict[str, str]:
    """The headers of an export: the file name, the model and the bundle it carries."""
    return {
        "Content-Disposition": content_disposition(stream.filename),
        "Cache-Control": "no-store",
        "X-Heimdall-Model-Id": stream.record.model_id,
        "X-Heimdall-Bundle-Id": str(stream.header["bundle_metadata"]["bundle_id"]),
    }


def close_chunks(chunks: Iterator[bytes]) -> None:
    """Close the service's chunk iterator, if it can be, ignoring errors on the way.
    Blocking (it may write the audit row): on the event loop use :func:`aclose_chunks`."""
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def aclose_chunks(chunks: Iterator[bytes]) -> None:
    """:func:`close_chunks` in a worker thread, waited for even by a cancelled task.

    A generator never started or already finished runs no code when closed: that is done
    here at once.
    """
    if inspect.isgenerator(chunks) and inspect.getgeneratorstate(chunks) in _INERT:
        chunks.close()
        return
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(close_chunks, chunks)


async def export_body(first: bytes, chunks: Iterator[bytes], model_id: str) -> AsyncIterator[bytes]:
    """The bundle's chunks, each encoded in a worker thread while the one before is sent.

    One chunk is encoded ahead (the worker reads, hashes and encodes it while the event loop
    writes the last one to the socket: the two overlap on two cores), so at most two
    chunks are held. An error here comes after the status line: it becomes
    _ExportAborted, on which ExportResponse leaves the response unfinished so that the
    server cuts the connection. ``chunks`` is closed (in a worker thread) when this
    generator ends or is closed, once no worker is still inside it.
    """
    sent = 0
    ahead: asyncio.Future[bytes | None] | None = None
    try:
        chunk: bytes | None = first
        while chunk is not None:
            ahead = asyncio.ensure_future(anyio.to_thread.run_sync(next, chunks, None))
            # A chunk larger than SEND_PIECE is sent in pieces: written at once it would sit
            # in the transport's buffer (memory x concurrent exports) and, on Python < 3.12,
            # be shifted down after every partial socket send (quadratic copying). The
            # codec's 1 MiB chunks go whole: slicing all of a bytes object returns it, no copy.
            for start in range(0, len(chunk), SEND_PIECE):
                piece = chunk[start : start + SEND_PIECE]
                sent += len(piece)
                yield piece
            # shield: a cancelled send must not cancel the worker's task (it runs on; the
            # finally below waits for it before the iterator may be closed).
            chunk, ahead = await asyncio.shield(ahead), None
    except HeimdallError as exc:
        log.error("export of %s aborted after %d bytes: %s", model_id, sent, exc)
        raise _ExportAborted from exc
    finally:
        if ahead is not None:  # the client left: let the worker finish before closing
            with anyio.CancelScope(shield=True):
                await asyncio.wait([ahead])
            if not ahead.cancelled():
                ahead.exception()  # retrieved: the export is over either way
        await aclose_chunks(chunks)  # a client that went away: the service audits it


class ExportResponse(Response):
    """A streamed body that, when its iterator fails, leaves the response unfinished.

    Without the final ``more_body: False`` message the server closes the connection
    instead of ending the chunked body cleanly: the client sees a transfer error rather
    than a short "complete" bundle. (Starlette's StreamingResponse would raise through
    the middleware and log the same failure three times.)

    ``chunks``, the service's iterator under ``body``, is closed however the response
    ends, even if ``body`` was never started (in a worker thread: it may audit).
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: Mapping[str, str],
        media_type: str,
        chunks: Iterator[bytes] | None = None,
        status_code: int = 200,
    ) -> None:
        self.body_iterator = body
        self.chunks = chunks
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self._respond(receive, send)
        finally:
            if self.chunks is not None:
                await aclose_chunks(self.chunks)  # a no-op if body closed it already

    async def _respond(self, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = self.body_iterator
        outcome = "disconnected"
        async with anyio.create_task_group() as tg:
            # ASGI 2.3 servers (uvicorn) drop sends after a disconnect silently: watch for
            # it, or a vanished client would have the whole model encoded for nobody.
            tg.start_soon(_cancel_on_disconnect, receive, tg.cancel_scope)
            try:
                outcome = await _send_body(body, send)
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    aclose = getattr(body, "aclose", None)
                    if aclose is not None:
                        await aclose()  # closes the service's stream now, not at GC
        if outcome == "done":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # "aborted": unfinished on purpose, so the server cuts the connection.


async def _send_body(body: AsyncIterator[bytes], send: Any) -> str:
    """Send every chunk of ``body``: "done", "aborted" (_ExportAborted) or "disconnected"."""
    try:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except _ExportAborted:
        return "aborted"
    except OSError:
        return "disconnected"  # ASGI 2.4 servers raise on a send after a disconnect
    return "done"


async def _cancel_on_disconnect(receive: Any, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            scope.cancel()
            return


__all__ = [
    "SEND_PIECE",
    "ExportResponse",
    "aclose_chunks",
    "close_chunks",
    "content_disposition",
    "export_body",
    "export_headers",
]
