"""Streaming bundle reader: metadata as a typed header, the payload as a stream.

    with open("model.heimdall", "rb") as f:
        reader = BundleReader(f)
        print(reader.document["model"]["model_name"])   # metadata before the payload
        with open("model.onnx", "wb") as out:
            info = reader.copy_payload(out)              # decoded, hashed, verified

The payload ends only once the whole document has been read and checked: a consumer that
sees the payload's end has a valid bundle; on any problem the last ``read`` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..errors import MalformedBundleError
from ..format.document import PAYLOAD_KEY
from . import compression
from .checksums import Digests
from .external import ExternalFiles
from .info import BundleInfo, Declared
from .payload import decode_hashed, skip_string
from .scanner import Limits, Scanner
from .streams import ChunkStream, is_seekable
from .walker import DocumentWalker

#: Bytes read per payload step. Large enough that the per-read Python work vanishes
#: beside the base64 and hashing work; not larger, because each step's buffers are
#: fresh memory: bigger reads cost more in page faults and resident memory than they
#: save in calls.
READ_SIZE = 1 << 20
_WHERE = f"model.{PAYLOAD_KEY}"

Progress = Callable[[int], None] | None

__all__ = [
    "READ_SIZE",
    "BundleInfo",
    "BundleReader",
    "Declared",
    "Limits",
    "inspect_bundle",
    "open_source",
    "read_bundle",
]


def open_source(src: BinaryIO, limits: Limits) -> tuple[BinaryIO, bytes, str]:
    """Detect the compression of ``src`` by its magic bytes.

    Returns:
        `(stream, prefix, kind)`: the stream to parse, bytes already read from it that
        come first, and ``"none"``, ``"zstd"`` or ``"gzip"``.

    Example:

    ```python
    import io
    from heimdall_io.codec.decoder import open_source
    from heimdall_io.codec.scanner import Limits

    stream, prefix, kind = open_source(io.BytesIO(b'{"format_version": ...'), Limits())
    assert (prefix, kind) == (b'{"fo', "none")
    ```
    """
    prefix = b""
    while len(prefix) < 4:
        more = src.read(4 - len(prefix))
        if not more:
            break
        prefix += more
    if not prefix:
        raise MalformedBundleError("empty input: not a .heimdall bundle")
    kind = compression.detect(prefix)
    if kind == compression.NONE:
        return src, prefix, kind
    stream = compression.Decompressed(src, prefix, kind, max_ratio=limits.max_ratio)
    return stream, b"", kind  # type: ignore[return-value]


class BundleReader:
    """Pull-parser over one bundle (plain, zstd or gzip; detected by magic bytes).

    On construction it reads up to the payload (or to the end, if the payload comes
    last in a document that puts metadata after it). Then exactly one of
    :meth:`iter_payload`, :meth:`copy_payload`, :attr:`payload` or :meth:`skip_payload`
    consumes the payload, and :meth:`finish` returns the :class:`BundleInfo`.

    Args:
        src (`BinaryIO`):
            The bundle, from its current position; need not be seekable.
        limits (`Limits`, *optional*):
            Safety bounds for untrusted input; the defaults when omitted.
        default_version (`str`, *optional*):
            Assumed when ``format_version`` is absent (bundles of the upstream service's
            dialect, read by ``convert``); by default its absence is an error.

    A bundle with ``model.external_data`` (format 1.2.0) has more payloads after the
    main one: :meth:`iter_external` streams them, one file after the other.

    Example:

    ```python
    reader = BundleReader(open("model.heimdall", "rb"))
    model = b"".join(reader.iter_payload())             # metadata in reader.document
    files = {path: b"".join(chunks) for path, chunks in reader.iter_external()}
    ```
    """

    def __init__(
        self, src: BinaryIO, *, limits: Limits | None = None, default_version: str | None = None
    ) -> None:
        self.limits = limits or Limits()
        self._src = src
        self._start = _tell(src)
        stream, prefix, self.compression = open_source(src, self.limits)
        self._scan = Scanner(stream, self.limits, prefix)
        self._walker = DocumentWalker(self._scan, default_version)
        #: The document read so far, in file order, without the payload.
        self.document: dict[str, Any] = self._walker.document
        self._digests: Digests | None = None
        self._info: BundleInfo | None = None
        self._external = ExternalFiles(self._scan, self._walker, READ_SIZE)
        self._at_payload = self._walker.to_payload()
        if not self._at_payload:
            self._finalize()  # raises: a bundle without a payload

    @property
    def at_payload(self) -> bool:
        """True while the payload waits to be consumed (read, copied or skipped)."""
        return self._at_payload

    @property
    def start(self) -> int:
        """Where the bundle starts in ``src`` (0 if ``src`` cannot tell)."""
        return self._start

    def _claim_payload(self) -> None:
        if not self._at_payload:
            raise RuntimeError("the payload was already consumed")
        self._at_payload = False

    def _resume(self) -> None:
        """Parse the document after the payload string, up to any external data."""
        self._external.pending = self._walker.past_payload()
        self._at_payload = False

    def _finalize(self) -> BundleInfo:
        header, declared = self._walker.check()
        if self._digests is not None:
            self._digests.check(size=declared.size, md5=declared.md5, sha256=declared.sha256)
        self._info = BundleInfo(
            format_version=header.format_version,
            compression=self.compression,
            document=self.document,
            header=header,
            declared=declared,
            digests=self._digests,
            payload_offset=self._walker.payload_offset,
            external=tuple(self._external.done),
        )
        return self._info

    # -- the payload ---------------------------------------------------------------------

    def iter_payload(self, progress: Progress = None) -> Iterator[bytes]:
        """Yield the decoded payload in chunks; the last step raises if the bundle is bad
        (with external data to follow, that is checked by :meth:`iter_external`)."""
        self._claim_payload()
        self._digests = yield from decode_hashed(
            self._scan, READ_SIZE, _WHERE, busy=self.compression != compression.NONE,
            max_size=self.limits.max_payload_bytes, progress=progress,
        )  # fmt: skip
        self._resume()
        if self._external.pending is None:
            self._finalize()

    @property
    def has_external(self) -> bool:
        """True while ``model.external_data`` entries wait (known once past the payload)."""
        return self._external.pending is not None

    def iter_external(self, progress: Progress = None) -> Iterator[tuple[str, Iterator[bytes]]]:
        """After the payload: ``(path, chunks)`` per external data file, in bundle order.

        Each file's chunks are decoded, hashed and checked against its entry (an unread
        rest is read on); after the last one the whole bundle is checked, as at the end
        of :meth:`iter_payload`.
        """
        if self._at_payload:
            raise RuntimeError("the payload comes first")
        busy, limit = self.compression != compression.NONE, self.limits.max_payload_bytes
        while (entry := self._external.pending) is not None:
            chunks = self._external.chunks(busy, limit, progress)
            yield entry["path"], chunks
            for _ in chunks:
                pass
        if self._info is None:
            self._finalize()

    def copy_payload(self, sink: BinaryIO, progress: Progress = None) -> BundleInfo:
        """Write the decoded payload to ``sink``; return the verified :class:`BundleInfo`
        (external data, if any, is verified and discarded: see :meth:`iter_external`)."""
        write = sink.write
        for chunk in self.iter_payload(progress):
            write(chunk)
        return self.finish()

    @property
    def payload(self) -> BinaryIO:
        """The decoded payload as a readable stream (EOF only after full validation)."""
        return self.open_payload()

    def open_payload(self, progress: Progress = None) -> BinaryIO:
        """:attr:`payload`, reporting decoded byte counts to ``progress``."""
        return ChunkStream(self.iter_payload(progress))  # type: ignore[return-value]

    def skip_payload(self) -> BundleInfo:
        """Move past the payload without decoding it (for inspect); return the info.

        On an uncompressed, seekable file whose size is declared before the payload,
        this is a seek: constant time at any size (external data files too). Checksums
        are then as declared."""
        self._claim_payload()
        model, offset = self._walker.model, self._walker.payload_offset
        size = model.get("onnx_size_bytes") if model else None
        if (
            self.compression == compression.NONE
            and isinstance(size, int)
            and size >= 0
            and is_seekable(self._src)
        ):
            end = offset + 4 * ((size + 2) // 3)
            self._src.seek(self._start + end)
            if self._src.read(1) == b'"':
                self._scan.reset(end + 1)
                return self._skip_external()
            self._src.seek(self._start + offset)  # not ours after all: scan it
            self._scan.reset(offset)
        skip_string(self._scan, READ_SIZE, _WHERE)
        return self._skip_external()

    def _skip_external(self) -> BundleInfo:
        self._resume()
        seekable = self.compression == compression.NONE and is_seekable(self._src)
        self._external.skip(self._src, self._start, seekable)
        return self._finalize()

    def finish(self) -> BundleInfo:
        """Decode and verify the payload (and external data) if nobody did, then return the
        :class:`BundleInfo`: ``BundleReader(f).finish()`` checks everything, keeps nothing."""
        if self._at_payload:
            for _ in self.iter_payload():
                pass
        busy = self.compression != compression.NONE
        self._external.drain(busy, self.limits.max_payload_bytes)
        if self._info is None:
            return self._finalize()
        return self._info


def _tell(f: BinaryIO) -> int:
    if not is_seekable(f):
        return 0
    try:
        return f.tell()
    except (AttributeError, OSError, ValueError):
        return 0


def read_bundle(src: BinaryIO, sink: BinaryIO, *, limits: Limits | None = None) -> BundleInfo:
    """Read a bundle from ``src``, write its ONNX payload to ``sink``; return the info.

    The payload is decoded, hashed and checked against any declared size and checksums
    as it streams; a bad bundle raises a ``BundleError`` (``sink`` may then hold part of
    the payload: write to a temporary file and rename it on success).

    Args:
        src (`BinaryIO`):
            The bundle: plain, zstd or gzip; need not be seekable.
        sink (`BinaryIO`):
            Where the decoded ONNX bytes are written.
        limits (`Limits`, *optional*):
            Safety bounds for untrusted input.

    Returns:
        `BundleInfo`: the document, typed header and verified checksums.

    Example:

    ```python
    from heimdall_io import read_bundle

    with open("model.heimdall", "rb") as f, open("model.onnx", "wb") as out:
        info = read_bundle(f, out)
    print(info.md5)
    ```
    """
    return BundleReader(src, limits=limits).copy_payload(sink)


def inspect_bundle(
    src: BinaryIO, *, limits: Limits | None = None, default_version: str | None = None
) -> BundleInfo:
    """Read a bundle's metadata; skip (seek past) the payload when it can.

    Checksums are then those the bundle declares; a bundle that declares none (format
    1.0.0) has its payload decoded so they can be computed and reported.

    Args:
        src (`BinaryIO`):
            The bundle; seeking past the payload needs it uncompressed and seekable.
        limits (`Limits`, *optional*):
            Safety bounds for untrusted input.

    Returns:
        `BundleInfo`: ``verified`` is False when the checksums are only declared.

    Example:

    ```python
    from heimdall_io import inspect_bundle

    with open("model.heimdall", "rb") as f:
        info = inspect_bundle(f)
    print(info.header.model.model_name, info.payload_size, info.sha256)
    ```
    """
    reader = BundleReader(src, limits=limits, default_version=default_version)
    if not reader.at_payload:
        return reader.finish()
    model = reader.document.get("model", {})
    if model.get("onnx_md5") is not None:
        return reader.skip_payload()
    if reader.compression == compression.NONE and is_seekable(src):
        # Checksums may follow the payload: skipping tells; if there are none, compute.
        info = reader.skip_payload()
        if info.declared.md5 is not None and info.declared.sha256 is not None:
            return info
        src.seek(reader.start)
    else:
        return reader.finish()
    return BundleReader(src, limits=limits, default_version=default_version).finish()
