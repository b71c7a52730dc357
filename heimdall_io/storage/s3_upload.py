"""One S3 put as a multipart upload with a few parts in flight, in bounded memory.

The caller's thread reads the source (which may be a decoder, or a request body that
must be read on that thread) into part buffers; a small pool of threads uploads the full
parts meanwhile. hashlib (minio signs each part with its SHA-256) and socket sends release
the GIL, so on a second core the uploads overlap the reading instead of following it.

Memory: at most ``parallel`` parts uploading plus one being filled, each a reused buffer
of ``part_size`` bytes, handed to the client without a copy. An object that fits in one
part is one plain PUT. On any failure (the source's or the server's) the parts still
queued are dropped, the ones in flight are waited for, and the multipart upload is
aborted, so nothing appears under the key; only a complete upload becomes the object.

minio has no public API for the single steps of a multipart upload: this module, with
:func:`heimdall_io.storage.s3.list_incomplete_uploads`, is where its private methods
are called, so a minio release that changes them breaks here and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from minio import Minio
from minio.datatypes import Part

from heimdall_io.errors import ObjectStoreError

#: Parts uploading at once (besides the one being read): enough to keep the server and a
#: second core busy while the caller's thread reads (3, as minio's fput_object, measured
#: no faster here, and costs a part buffer more).
PARALLEL_PARTS = 2
_HEADERS = {"Content-Type": "application/octet-stream"}


class SourceFailed(Exception):
    """The source failed (its exception is in :attr:`PartSource.error`)."""


class PartSource:
    """The caller's stream, read into part buffers, counted, its first error kept."""

    def __init__(self, data: BinaryIO, length: int | None) -> None:
        self._data = data
        self._length = length
        self._rest = b""
        self.count = 0
        self.error: BaseException | None = None

    def fill(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from the source; fewer bytes than its size only at the end."""
        if self.error is not None:
            raise SourceFailed
        view = memoryview(buffer)
        got = 0
        try:
            while got < len(view):
                chunk = self._rest or self._data.read(len(view) - got)
                self._rest = b""
                if not chunk:
                    if self._length is not None and self.count + got != self._length:
                        self.error = ObjectStoreError(
                            f"size mismatch: expected {self._length} bytes, got {self.count + got}"
                        )
                    break
                n = min(len(chunk), len(view) - got)
                view[got : got + n] = chunk[:n] if n < len(chunk) else chunk
                self._rest = chunk[n:] if n < len(chunk) else b""
                got += n
                if self._length is not None and self.count + got > self._length:
                    self.error = ObjectStoreError(
                        f"size mismatch: expected {self._length} bytes, got more"
                    )
                    break
        except BaseException as exc:
            self.error = exc
        if self.error is not None:
            raise SourceFailed
        self.count += got
        return got


class _Parts:
    """The part buffers and the uploads in flight of one multipart upload."""

    def __init__(self, client: Minio, bucket: str, key: str, part_size: int, parallel: int):
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._parallel = parallel
        self._free: list[bytearray] = []
        self._allocated = 0
        self._inflight: deque[Future[tuple[Part, bytearray]]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self.upload_id: str | None = None
        self.done: list[Part] = []

    def buffer(self) -> bytearray:
        """A free part buffer; waits for the oldest upload when all are in use."""
        if not self._free and self._allocated <= self._parallel:  # parallel + 1 in all
            self._allocated += 1
            return bytearray(self._part_size)
        while not self._free:
            self._collect()
        return self._free.pop()

    def release(self, buffer: bytearray) -> None:
        self._free.append(buffer)

    def submit(self, number: int, buffer: bytearray, size: int) -> None:
        if self.upload_id is None:
            self.upload_id = self._client._create_multipart_upload(
                self._bucket, self._key, dict(_HEADERS)
            )
            self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="heimdall-s3-part")
        assert self._pool is not None
        while len(self._inflight) >= self._parallel:
            self._collect()
        upload = self._pool.submit(self._upload, self.upload_id, number, buffer, size)
        self._inflight.append(upload)

    def _upload(
        self, upload_id: str, number: int, buffer: bytearray, size: int
    ) -> tuple[Part, bytearray]:
        body = buffer if size == len(buffer) else memoryview(buffer)[:size]
        etag = self._client._upload_part(
            self._bucket,
            self._key,
            body,  # type: ignore[arg-type]  # any buffer: minio hashes it, urllib3 sends it
            None,
            upload_id,
            number,
        )
        return Part(number, etag), buffer

    def _collect(self) -> None:
        part, buffer = self._inflight.popleft().result()
        self.done.append(part)
        self._free.append(buffer)

    def complete(self) -> None:
        while self._inflight:
            self._collect()
        assert self.upload_id is not None
        self._client._complete_multipart_upload(self._bucket, self._key, self.upload_id, self.done)

    def close(self) -> None:
        """Drop queued parts and wait for those in flight (so none lands after an abort)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._inflight.clear()
        self._free.clear()

    def abort(self) -> None:
        """Best effort, tried twice: abort the multipart upload, if one was begun."""
        if self.upload_id is None:
            return
        for _ in range(2):
            with contextlib.suppress(Exception):
                self._client._abort_multipart_upload(self._bucket, self._key, self.upload_id)
                return


def upload(
    client: Minio,
    bucket: str,
    key: str,
    source: PartSource,
    part_size: int,
    parallel: int = PARALLEL_PARTS,
) -> None:
    """Store everything ``source`` yields under ``key``: one PUT if it fits in one part,
    else a multipart upload with up to ``parallel`` parts in flight.

    Raises :class:`SourceFailed` if the source failed, or the client's exception; either
    way after aborting the multipart upload.
    """
    parts = _Parts(client, bucket, key, part_size, max(1, parallel))
    try:
        current = parts.buffer()
        size = source.fill(current)
        number = 1
        if size == part_size:  # more to come? only then is it a multipart upload
            following = parts.buffer()
            view = memoryview(following)
            more = source.fill(view[:1])  # one byte tells: the upload begins before the rest
            if more:
                parts.submit(number, current, size)
                more += source.fill(view[1:])
                current, size, number = following, more, number + 1
            else:
                parts.release(following)
        if parts.upload_id is None:  # the whole object fits in one part
            body = memoryview(current)[:size] if size else b""
            client._put_object(bucket, key, body, dict(_HEADERS))  # type: ignore[arg-type]
            return
        while True:
            parts.submit(number, current, size)
            if size < part_size:
                break
            current = parts.buffer()
            size = source.fill(current)
            if not size:
                parts.release(current)
                break
            number += 1
        parts.complete()
    except BaseException:
        parts.close()
        parts.abort()
        raise
    finally:
        parts.close()
