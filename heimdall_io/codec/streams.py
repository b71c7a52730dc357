"""Small stream helpers shared by the codec, bundle files and storage back-ends.

``io.RawIOBase`` builds ``read`` on ``readinto``; most of our streams produce ``bytes``
naturally (a decompressor, a generator of decoded chunks, an HTTP body), so they define
``read`` and derive ``readinto`` from it here, once.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO


def is_seekable(f: BinaryIO) -> bool:
    """True if ``f`` can seek; False for pipes, sockets and closed or odd file objects.

    Args:
        f (`BinaryIO`):
            Any file object; one without ``seekable()`` counts as not seekable.

    Example:

    ```python
    import io, sys
    from heimdall_io.codec.streams import is_seekable

    assert is_seekable(io.BytesIO(b"x"))
    print(is_seekable(sys.stdin.buffer))  # False when stdin is a pipe
    ```
    """
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def readinto_from(read: Callable[[int], bytes], buffer: Any) -> int:
    """Fill ``buffer`` from ``read(len(buffer))``: a ``readinto`` for a stream that has ``read``.

    The bytes are copied once, into ``buffer``; any writable buffer works (bytearray,
    memoryview, array), since it is viewed as unsigned bytes.

    Args:
        read (`Callable[[int], bytes]`):
            Returns at most the number of bytes asked for; ``b""`` at the end.
        buffer (writable buffer):
            Where the bytes go.

    Returns:
        `int`: the number of bytes written into ``buffer`` (0 at the end).

    Example:

    ```python
    import io
    from heimdall_io.codec.streams import readinto_from

    class Body(io.RawIOBase):
        def __init__(self, response):
            self._response = response

        def readable(self):
            return True

        def readinto(self, buffer):
            return readinto_from(self._response.read, buffer)
    ```
    """
    view = memoryview(buffer).cast("B")
    data = read(len(view))
    n = len(data)
    view[:n] = data
    return n


class ReadStream(io.RawIOBase):
    """A raw readable stream whose subclass implements ``read(size)``; ``readinto`` follows.

    Example:

    ```python
    import io
    from heimdall_io.codec.streams import ReadStream

    class Upper(ReadStream):
        def __init__(self, raw):
            self._raw = raw

        def read(self, size=-1):
            return self._raw.read(size).upper()

    assert io.BufferedReader(Upper(io.BytesIO(b"onnx"))).read() == b"ONNX"
    ```
    """

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return readinto_from(self.read, buffer)


class TeeStream(ReadStream):
    """A raw readable stream over ``source`` that also passes every byte read to ``sink``.

    Example:

    ```python
    import io
    from heimdall_io.codec.streams import TeeStream

    copy = io.BytesIO()
    stream = TeeStream(io.BytesIO(b"abc"), copy.write)
    assert stream.read(10) == b"abc" and copy.getvalue() == b"abc"
    ```
    """

    def __init__(self, source: BinaryIO, sink: Callable[[bytes], object]) -> None:
        self._source = source
        self._sink = sink

    def read(self, size: int | None = -1) -> bytes:
        data = self._source.read(-1 if size is None else size)
        if data:
            self._sink(data)
        return data


class ChunkStream(ReadStream):
    """A raw readable stream over an iterator of byte chunks.

    ``read`` hands out whole chunks when the caller asks for as much (no copy); like any
    raw stream it may return fewer bytes than asked, and ``b""`` only at the end.

    Example:

    ```python
    from heimdall_io.codec.streams import ChunkStream

    stream = ChunkStream(iter([b"ab", b"cd"]))
    assert stream.read(10) == b"ab"
    assert stream.read() == b"cd"
    ```
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._rest = chunk
        if size >= len(self._rest):
            out, self._rest = self._rest, b""
        else:
            out, self._rest = self._rest[:size], self._rest[size:]
        return out

    def readall(self) -> bytes:
        parts = [self._rest, *self._chunks]
        self._rest = b""
        return b"".join(parts)
