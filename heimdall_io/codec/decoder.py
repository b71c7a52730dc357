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

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pybase64

from ..errors import (
    DuplicateKeyError,
    InvalidBase64Error,
    MalformedBundleError,
    PayloadTooLargeError,
    SchemaError,
)
from ..format.document import PAYLOAD_KEY, BundleHeader
from ..format.validation import check_section, check_version, validate_header
from . import compression
from .checksums import Digests, Hasher
from .scanner import Limits, Scanner
from .streams import ChunkStream, is_seekable

#: Bytes read per payload step; 1 MiB beat 4 MiB (fewer page faults, half the RSS).
READ_SIZE = 1 << 20


@dataclass(frozen=True)
class Declared:
    """What a bundle says about its payload (each may be absent in format 1.0.0)."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class BundleInfo:
    """A bundle read to the end: its document (payload excluded) and payload facts."""

    format_version: str
    compression: str
    #: The JSON document in file order, without ``model.onnx_model_base64``.
    document: dict[str, Any]
    #: The same, validated and typed.
    header: BundleHeader
    declared: Declared
    #: Computed while decoding; None when the payload was skipped (inspect).
    digests: Digests | None
    #: Where the payload's base64 text starts, in the uncompressed bundle.
    payload_offset: int

    @property
    def payload_size(self) -> int | None:
        return self.digests.size if self.digests else self.declared.size

    @property
    def md5(self) -> str | None:
        return self.digests.md5 if self.digests else self.declared.md5

    @property
    def sha256(self) -> str | None:
        return self.digests.sha256 if self.digests else self.declared.sha256

    @property
    def verified(self) -> bool:
        """True when the checksums were computed (and matched any declared)."""
        return self.digests is not None


def open_source(src: BinaryIO, limits: Limits) -> tuple[BinaryIO, bytes, str]:
    """Detect the compression of ``src``: (stream to parse, bytes already read, kind)."""
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
    """

    def __init__(self, src: BinaryIO, *, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._src = src
        #: Where the bundle starts in ``src`` (offsets in the bundle are relative to it).
        self._start = _tell(src)
        stream, prefix, self.compression = open_source(src, self.limits)
        self._scan = Scanner(stream, self.limits, prefix)
        self.document: dict[str, Any] = {}
        self._model: dict[str, Any] | None = None
        self._payload_seen = False
        self._payload_offset = -1
        self._digests: Digests | None = None
        self._info: BundleInfo | None = None
        self._walker = self._walk()
        self._at_payload = next(self._walker, False)
        if not self._at_payload:
            self._finalize()  # raises: a bundle without a payload

    # -- document structure --------------------------------------------------------------

    def _walk(self) -> Generator[bool, None, None]:
        scan = self._scan
        doc = self.document
        scan.expect(b"{", "start of bundle")
        for key in scan.members("top-level object"):
            if key in doc:
                raise DuplicateKeyError(f"duplicate key {key!r} in the top-level object")
            if key == "model" and scan.peek("model") == ord("{"):
                scan._consume(1)
                model: dict[str, Any] = {}
                doc[key] = self._model = model
                for mkey in scan.members("model"):
                    if mkey in model or (mkey == PAYLOAD_KEY and self._payload_seen):
                        raise DuplicateKeyError(f"duplicate key {mkey!r} in model")
                    if mkey == PAYLOAD_KEY:
                        if scan.peek(f"model.{PAYLOAD_KEY}") != ord('"'):
                            raise SchemaError(f"model.{PAYLOAD_KEY} must be a string")
                        scan._consume(1)
                        self._payload_offset = scan.offset
                        yield True
                        self._payload_seen = True
                    else:
                        model[mkey] = scan.read_value(f"model.{_name(mkey)}", 2)
            else:
                doc[key] = value = scan.read_value(_name(key), 1)
                if key == "format_version":
                    check_version(value)
                else:
                    check_section(key, value)
        if not scan.at_end():
            raise MalformedBundleError(f"unexpected data after the bundle at byte {scan.offset}")

    def _resume(self) -> None:
        """Parse the rest of the document after the payload string."""
        self._payload_seen = True
        for _ in self._walker:
            raise AssertionError("a second payload cannot be yielded")  # pragma: no cover
        self._at_payload = False

    def _finalize(self) -> BundleInfo:
        doc = self.document
        if "format_version" not in doc:
            raise SchemaError("invalid bundle: missing required field `format_version`")
        header = validate_header(doc)
        if not self._payload_seen:
            raise SchemaError(f"invalid bundle: missing required field `model.{PAYLOAD_KEY}`")
        model = doc["model"]
        declared = Declared(model.get("onnx_size_bytes"), model.get("onnx_md5"),
                            model.get("onnx_sha256"))  # fmt: skip
        if self._digests is not None:
            self._digests.check(size=declared.size, md5=declared.md5, sha256=declared.sha256)
        self._info = BundleInfo(
            format_version=header.format_version,
            compression=self.compression,
            document=doc,
            header=header,
            declared=declared,
            digests=self._digests,
            payload_offset=self._payload_offset,
        )
        return self._info

    # -- the payload ---------------------------------------------------------------------

    def iter_payload(self, progress: Any = None) -> Iterator[bytes]:
        """Yield the decoded payload in chunks; raises at the end if the bundle is bad."""
        if not self._at_payload:
            raise RuntimeError("the payload was already consumed")
        self._at_payload = False
        where = f"model.{PAYLOAD_KEY}"
        max_size = self.limits.max_payload_bytes
        decode = pybase64.b64decode
        carry = b""
        padded = False
        # Decompression keeps the main thread busy: both digests then get threads.
        with Hasher(busy_caller=self.compression != compression.NONE) as hasher:
            for seg in self._scan.iter_string(READ_SIZE, where):
                if padded and len(seg):
                    raise InvalidBase64Error(f"invalid base64 in {where}: data after padding")
                if carry:
                    need = 4 - len(carry)
                    carry += bytes(seg[:need])
                    seg = seg[need:]
                    if len(carry) < 4:
                        continue
                    block, carry = carry, b""
                    if block[-1] == 0x3D and len(seg):  # '=' then more: padding mid-way
                        raise InvalidBase64Error(f"invalid base64 in {where}: data after padding")
                else:
                    block = b""
                whole = len(seg) & ~3
                try:
                    out = decode(block, validate=True) if block else b""
                    if whole:
                        out = (
                            out + decode(seg[:whole], validate=True)
                            if out
                            else decode(seg[:whole], validate=True)
                        )
                except ValueError:
                    raise InvalidBase64Error(
                        f"invalid base64 in {where} near byte {self._scan.offset}"
                    ) from None
                carry = bytes(seg[whole:])
                last = seg[whole - 1] if whole else (block[-1] if block else 0)
                padded = last == 0x3D  # '='
                if out:
                    hasher.update(out)
                    if max_size is not None and hasher.size > max_size:
                        raise PayloadTooLargeError(
                            f"model larger than the limit of {max_size} bytes"
                        )
                    if progress is not None:
                        progress(len(out))
                    yield out
            if carry:
                raise InvalidBase64Error(
                    f"invalid base64 in {where}: length is not a multiple of 4"
                )
            self._digests = hasher.digests()
        self._resume()
        self._finalize()

    def copy_payload(self, sink: BinaryIO, progress: Any = None) -> BundleInfo:
        """Write the decoded payload to ``sink``; return the verified BundleInfo."""
        write = sink.write
        for chunk in self.iter_payload(progress):
            write(chunk)
        assert self._info is not None
        return self._info

    @property
    def payload(self) -> BinaryIO:
        """The decoded payload as a readable stream (EOF only after full validation)."""
        return self.open_payload()

    def open_payload(self, progress: Any = None) -> BinaryIO:
        """:attr:`payload`, reporting decoded byte counts to ``progress``."""
        return ChunkStream(self.iter_payload(progress))  # type: ignore[return-value]

    def skip_payload(self) -> BundleInfo:
        """Move past the payload without decoding it (for inspect).

        On an uncompressed, seekable file whose size is declared before the payload,
        this is a seek: constant time at any size. Checksums are then as declared.
        """
        if not self._at_payload:
            raise RuntimeError("the payload was already consumed")
        self._at_payload = False
        where = f"model.{PAYLOAD_KEY}"
        size = self._model.get("onnx_size_bytes") if self._model else None
        if (
            self.compression == compression.NONE
            and isinstance(size, int)
            and size >= 0
            and is_seekable(self._src)
        ):
            end = self._payload_offset + 4 * ((size + 2) // 3)
            self._src.seek(self._start + end)
            if self._src.read(1) == b'"':
                self._scan.reset(end + 1)
                self._resume()
                return self._finalize()
            self._src.seek(self._start + self._payload_offset)  # not ours after all: scan it
            self._scan.reset(self._payload_offset)
        self._scan.skip_string(READ_SIZE, where)
        self._resume()
        return self._finalize()

    def finish(self) -> BundleInfo:
        """Decode and verify the payload if nobody did, then return the BundleInfo."""
        if self._at_payload:
            for _ in self.iter_payload():
                pass
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


def _name(key: str) -> str:
    """A key as it may appear in a one-line message."""
    return key if key.isprintable() and len(key) <= 200 else repr(key[:200])


def read_bundle(src: BinaryIO, sink: BinaryIO, *, limits: Limits | None = None) -> BundleInfo:
    """Read a bundle from ``src``, write its ONNX payload to ``sink``; return the info.

    with open("m.heimdall", "rb") as f, open("m.onnx", "wb") as out:
        info = read_bundle(f, out)
    print(info.md5)
    """
    return BundleReader(src, limits=limits).copy_payload(sink)


def inspect_bundle(src: BinaryIO, *, limits: Limits | None = None) -> BundleInfo:
    """Read a bundle's metadata; skip (seek past) the payload when it can.

    Checksums are then those the bundle declares; a bundle that declares none (format
    1.0.0) has its payload decoded so they can be computed and reported.
    """
    reader = BundleReader(src, limits=limits)
    if not reader._at_payload:
        return reader.finish()
    model = reader.document.get("model", {})
    if model.get("onnx_md5") is not None:
        return reader.skip_payload()
    if reader.compression == compression.NONE and is_seekable(src):
        # Checksums may follow the payload: skipping tells; if there are none, compute.
        info = reader.skip_payload()
        if info.declared.md5 is not None and info.declared.sha256 is not None:
            return info
        src.seek(reader._start)
    else:
        return reader.finish()
    return BundleReader(src, limits=limits).finish()
