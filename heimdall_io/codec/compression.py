"""Whole-bundle compression: zstd (written with --zstd) and gzip.

gzip is what the original Heimdall export/import design (format 1.0.0, see
spec/bundle-format.md) suggests as a manual workaround for large bundles, so readers
accept it; zstd is this project's own, faster choice. Readers detect the wrapping by its
magic bytes, so no command needs a flag to read one. Decompression is guarded: the zstd
window is capped (memory) and the expansion ratio is watched (a bomb is refused instead
of filling a disk).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..errors import DecompressionBombError, MalformedBundleError, TruncatedBundleError
from .streams import ReadStream

NONE, ZSTD, GZIP = "none", "zstd", "gzip"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
#: zstd levels accepted for writing; 20-22 need windows larger than our readers allow.
ZSTD_LEVELS = range(1, 20)
#: Largest zstd window a reader accepts (level 19 uses 8 MiB).
MAX_WINDOW = 1 << 25
#: Expansion past this ratio, once past BOMB_FLOOR bytes, is treated as a bomb.
MAX_RATIO = 1024
BOMB_FLOOR = 256 << 20


def detect(prefix: bytes) -> str:
    """``"zstd"``, ``"gzip"`` or ``"none"`` from the first bytes of a stream.

    Example:

    ```python
    from heimdall_io.codec.compression import detect

    assert detect(b"\\x28\\xb5\\x2f\\xfd...") == "zstd"
    assert detect(b'{"format_version"') == "none"
    ```
    """
    if prefix.startswith(ZSTD_MAGIC):
        return ZSTD
    if prefix.startswith(GZIP_MAGIC):
        return GZIP
    return NONE


class _ZstdFrames:
    """Follows the frame structure of a zstd stream, to tell a complete stream from a cut one.

    python-zstandard's stream reader just stops when its input ends, even in the middle of
    a frame: a bundle cut inside the last block or the content checksum would read as
    complete. This tracks frame and block headers (a few Python steps per 128 KiB block)
    so that the end of the input can be checked against the end of a frame.
    """

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4  # size of the header field being collected
        self._field = b""
        self._skip = 0  # content bytes to pass over
        self._checksum = 0
        self.frames = 0

    @property
    def complete(self) -> bool:
        """True when the input seen so far ends exactly after a whole data frame."""
        return self._state == "magic" and not self._field and not self._skip and self.frames > 0

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n and self._state != "broken":
            if self._skip:
                k = min(self._skip, n - i)
                self._skip -= k
                i += k
                continue
            k = min(self._need - len(self._field), n - i)
            self._field += data[i : i + k]
            i += k
            if len(self._field) == self._need:
                field, self._field = self._field, b""
                self._advance(field)

    def _advance(self, field: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(field, "little")
            if field == ZSTD_MAGIC:
                self._state, self._need = "descriptor", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
                self._state, self._need = "skippable", 4
            else:  # not zstd: the decompressor reports it
                self._state = "broken"
        elif state == "skippable":
            self._skip = int.from_bytes(field, "little")
            self._state, self._need = "magic", 4
        elif state == "descriptor":
            d = field[0]
            single = (d >> 5) & 1
            fcs = (single, 2, 4, 8)[d >> 6]
            dict_id = (0, 1, 2, 4)[d & 3]
            self._checksum = 4 if d & 4 else 0
            rest = (1 - single) + dict_id + fcs
            if rest:
                self._state, self._need = "header", rest
            else:
                self._state, self._need = "block", 3
        elif state == "header":
            self._state, self._need = "block", 3
        elif state == "block":
            h = int.from_bytes(field, "little")
            self._skip = 1 if (h >> 1) & 3 == 1 else h >> 3  # RLE blocks hold one byte
            if h & 1:  # last block
                if self._checksum:
                    self._state, self._need = "checksum", self._checksum
                else:
                    self._state, self._need = "magic", 4
                    self.frames += 1
        elif state == "checksum":
            self._state, self._need = "magic", 4
            self.frames += 1


class _Counting(ReadStream):
    """Counts the compressed bytes read, for the expansion-ratio guard."""

    def __init__(self, raw: BinaryIO, prefix: bytes, frames: _ZstdFrames | None = None) -> None:
        self._raw = raw
        self._prefix = prefix
        self._frames = frames
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        if self._prefix:
            head, self._prefix = self._prefix, b""
            if n is not None and 0 <= n < len(head):
                head, self._prefix = head[:n], head[n:]
            self.count += len(head)
            if self._frames is not None:
                self._frames.feed(head)
            return head
        data = self._raw.read(n)
        self.count += len(data)
        if self._frames is not None:
            self._frames.feed(data)
        return data


class Decompressed(ReadStream):
    """A readable stream of the decompressed bytes, with the bomb guard.

    Args:
        raw (`BinaryIO`):
            The compressed stream, after ``prefix``.
        prefix (`bytes`):
            Bytes already read from ``raw`` (to detect the kind); they come first.
        kind (`str`):
            ``"zstd"`` or ``"gzip"``.
        max_ratio (`int`, *optional*):
            Largest expansion accepted once past ``BOMB_FLOOR`` bytes.

    Example:

    ```python
    from heimdall_io.codec.compression import Decompressed, detect

    with open("model.heimdall", "rb") as f:
        prefix = f.read(4)
        plain = Decompressed(f, prefix, detect(prefix))   # zstd or gzip
        head = plain.read(64)
    ```
    """

    def __init__(self, raw: BinaryIO, prefix: bytes, kind: str, max_ratio: int = MAX_RATIO):
        self.kind = kind
        self._frames = _ZstdFrames() if kind == ZSTD else None
        self._counting = _Counting(raw, prefix, self._frames)
        self._max_ratio = max_ratio
        self.produced = 0
        if kind == ZSTD:
            import zstandard

            dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
            self._inner: BinaryIO = dctx.stream_reader(
                self._counting,  # type: ignore[arg-type]
                read_size=1 << 20,
                read_across_frames=True,
            )
        else:
            import gzip

            self._inner = gzip.GzipFile(fileobj=self._counting, mode="rb")  # type: ignore[assignment]

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            # Never ask the decompressor for everything at once: a bomb would be expanded
            # in memory before the ratio is looked at. Read in steps, each one checked.
            parts = []
            while chunk := self.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        try:
            data = self._inner.read(n)
        except EOFError as e:
            raise TruncatedBundleError(f"truncated {self.kind} stream: {e}") from None
        except (OSError, zlib.error) as e:  # gzip raises BadGzipFile (an OSError)
            raise MalformedBundleError(f"corrupt {self.kind} stream: {e}") from None
        except Exception as e:
            if type(e).__name__ == "ZstdError":
                msg = str(e)
                # ZSTD_error_frameParameter_windowTooLarge reads "Frame requires too much
                # memory for decoding"; older libzstd versions name the window.
                if "window" in msg.lower() or "too much memory" in msg.lower():
                    raise DecompressionBombError(
                        f"zstd window too large (limit {MAX_WINDOW >> 20} MiB): {msg}"
                    ) from None
                raise MalformedBundleError(f"corrupt zstd stream: {msg}") from None
            raise
        if not data and n != 0 and self._frames is not None and not self._frames.complete:
            raise TruncatedBundleError("truncated zstd stream: input ended inside a frame")
        self.produced += len(data)
        if self.produced > BOMB_FLOOR and self.produced > self._max_ratio * max(
            self._counting.count, 1
        ):
            raise DecompressionBombError(
                f"decompression bomb: {self.kind} data expands more than "
                f"{self._max_ratio}x ({self._counting.count} -> {self.produced}+ bytes)"
            )
        return data

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def compress_iter(chunks: Iterator[bytes], kind: str, level: int = 3) -> Iterator[bytes]:
    """Compress a stream of chunks into a stream of chunks (``kind`` zstd or gzip).

    ``"none"`` passes the chunks through. zstd frames carry a content checksum.

    Example:

    ```python
    from heimdall_io.codec.compression import compress_iter

    with open("model.heimdall.zst", "wb") as out:
        for chunk in compress_iter(iter([b'{"format_version":', b'"1.1.0"}']), "zstd", 19):
            out.write(chunk)
    ```
    """
    if kind == NONE:
        yield from chunks
        return
    if kind == ZSTD:
        import zstandard

        if level not in ZSTD_LEVELS:
            raise ValueError(f"zstd level must be 1..19, got {level}")
        cobj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        compress: Callable[[bytes], bytes] = cobj.compress
        flush: Callable[[], bytes] = cobj.flush
    elif kind == GZIP:
        zobj = zlib.compressobj(level if 1 <= level <= 9 else 6, zlib.DEFLATED, 31)
        compress, flush = zobj.compress, zobj.flush
    else:
        raise ValueError(f"unknown compression {kind!r}")
    for chunk in chunks:
        out = compress(chunk)
        if out:
            yield out
    yield flush()
