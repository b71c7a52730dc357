"""MD5 and SHA-256 of a byte stream, each on its own thread.

hashlib releases the GIL while it hashes a large buffer, so with a spare core the
digests run beside the base64 codec and the I/O instead of after them. The queues are
bounded, so a slow hasher applies back-pressure instead of letting memory grow.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import ChecksumMismatchError

_SMALL = 1 << 16  # below this, threads cost more than they save


@dataclass(frozen=True)
class Digests:
    """Size and digests of a payload (lowercase hex).

    Example::

        with open("model.onnx", "rb") as f:
            d = digest_stream(f)
        d.check(md5=record.onnx_md5)  # ChecksumMismatchError if they differ
    """

    size: int
    md5: str
    sha256: str

    def check(
        self,
        *,
        size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        what: str = "payload",
    ) -> None:
        """Raise ChecksumMismatchError if any given expectation differs.

        Expectations left as None are not checked; hex digests match in either case.

        Example:

        ```python
        from heimdall_io.codec.checksums import digest_stream

        with open("model.onnx", "rb") as f:
            digest_stream(f).check(md5=registry_row.md5, what="model.onnx")
        ```
        """
        if size is not None and size != self.size:
            raise ChecksumMismatchError(
                f"{what} size mismatch: declared {size} bytes, got {self.size}"
            )
        if md5 is not None and md5.lower() != self.md5:
            raise ChecksumMismatchError(f"{what} MD5 mismatch: declared {md5}, got {self.md5}")
        if sha256 is not None and sha256.lower() != self.sha256:
            raise ChecksumMismatchError(
                f"{what} SHA-256 mismatch: declared {sha256}, got {self.sha256}"
            )


class _HashThread(threading.Thread):
    def __init__(self, hash_object: Any) -> None:
        super().__init__(name=f"heimdall-{hash_object.name}", daemon=True)
        self.hash = hash_object
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)

    def run(self) -> None:
        update, get = self.hash.update, self.chunks.get
        while (chunk := get()) is not None:
            update(chunk)


class Hasher:
    """Incremental size + MD5 + SHA-256. Use as a context manager or call :meth:`close`.

    MD5, the slowest step of the whole codec (it cannot use the CPU's SHA extensions),
    runs on its own thread; SHA-256, hardware accelerated on common CPUs and so much
    faster, runs inline beside it, or on a second thread when the caller is busy
    compressing. ``update`` takes immutable ``bytes`` (they are handed to another thread).
    With ``md5=False`` only size and SHA-256 are computed (``digests().md5`` is ``""``):
    for bytes whose MD5 is known and whose SHA-256 is checked, which proves them the same.

    Example:

    ```python
    from heimdall_io import Hasher

    with Hasher() as h:
        for chunk in chunks:
            h.update(chunk)
    print(h.digests().md5)
    ```
    """

    def __init__(
        self, threaded: bool = True, *, busy_caller: bool = False, md5: bool = True
    ) -> None:
        """``busy_caller``: the caller has heavy work of its own (zstd), so SHA-256 gets a
        thread too instead of running inline. ``md5``: compute the MD5 too."""
        self.size = 0
        self._md5 = hashlib.md5() if md5 else None
        self._sha256 = hashlib.sha256()
        everything = [self._sha256] if self._md5 is None else [self._md5, self._sha256]
        #: hashed inline until the first large chunk; then what the threads do not hash
        self._inline: list[Any] = everything
        self._on_threads = [h for h in everything if h is self._md5 or busy_caller]
        if not threaded:
            self._on_threads = []
        self._threads: list[_HashThread] = []
        self._done: Digests | None = None

    def update(self, chunk: bytes) -> None:
        """Add ``chunk`` (immutable ``bytes``) to the size and the digests."""
        n = len(chunk)
        if not n:
            return
        self.size += n
        if self._on_threads and n >= _SMALL:
            # What was hashed inline so far continues on the threads.
            self._threads = [_HashThread(h) for h in self._on_threads]
            for t in self._threads:
                t.start()
            self._inline = [h for h in self._inline if h not in self._on_threads]
            self._on_threads = []
        for t in self._threads:
            t.chunks.put(chunk)
        for h in self._inline:
            h.update(chunk)

    def digests(self) -> Digests:
        """Finish (idempotent) and return the digests."""
        if self._done is None:
            self.close()
            md5 = "" if self._md5 is None else self._md5.hexdigest()
            self._done = Digests(self.size, md5, self._sha256.hexdigest())
        return self._done

    def close(self) -> None:
        """Stop the threads; safe to call twice and after an error."""
        threads, self._threads = self._threads, []
        for t in threads:
            t.chunks.put(None)
        for t in threads:
            t.join()

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def digest_stream(stream: BinaryIO, chunk_size: int = 4 << 20) -> Digests:
    """Size, MD5 and SHA-256 of everything ``stream.read`` returns.

    Args:
        stream (`BinaryIO`):
            Read to its end, ``chunk_size`` bytes at a time.

    Returns:
        `Digests`: size in bytes, lowercase hex MD5 and SHA-256.

    Example:

    ```python
    import sys

    from heimdall_io.codec.checksums import digest_stream

    d = digest_stream(sys.stdin.buffer)  # like md5sum and sha256sum of stdin, in one pass
    print(d.size, d.md5, d.sha256)
    ```
    """
    with Hasher() as h:
        while chunk := stream.read(chunk_size):
            h.update(bytes(chunk))
        return h.digests()
