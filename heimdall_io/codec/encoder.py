"""Streaming bundle writer: a header plus a binary stream in, bundle bytes out.

    with open("model.onnx", "rb") as onnx, open("model.heimdall", "wb") as out:
        result = write_bundle(out, header, onnx, size=os.path.getsize("model.onnx"))
    print(result.digests.md5)

Format 1.1.0 layout: every metadata section first, ``model`` last, and inside ``model``
the payload after every other field. Size and checksums known in advance (from a
registry) are written before the payload; otherwise they follow it. A signed header
(format 1.2.0, ``signatures`` before ``model``) must give all three in advance: they are
signed, so they stand before the payload and are checked against it as it streams.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgspec
import pybase64

from ..errors import SchemaError
from ..format.document import (
    CHECKSUM_KEYS,
    EXTERNAL_DATA_KEY,
    EXTERNAL_PAYLOAD_KEY,
    FORMAT_1_2,
    FORMAT_VERSION,
    PAYLOAD_KEY,
    BundleHeader,
)
from ..format.validation import validate_header
from .checksums import Digests, Hasher
from .compression import NONE, ZSTD, ZSTD_LEVELS, compress_iter

#: Raw bytes per payload chunk; a multiple of 3 so every chunk encodes without padding.
#: 768 KiB, i.e. 1 MiB of base64 (the decoder's read size): each chunk's buffers are fresh
#: memory, so larger chunks cost more in page faults and resident memory than they save
#: in per-chunk calls.
CHUNK = 3 << 18

_encode = msgspec.json.Encoder().encode


def header_document(
    header: BundleHeader | Mapping[str, Any], version: str | None = None
) -> dict[str, Any]:
    """The header as a JSON-ready dict in file order: sections first, ``model`` last.

    A mapping keeps its unknown fields; it is validated against the format's types.
    ``format_version`` becomes ``version``: by default the version this writer writes,
    1.1.0, or 1.2.0 when the header has ``signatures`` or ``bundle_metadata.provenance``
    (a signature covers the version, so a signed header keeps the 1.2.0 it was signed
    with); another one is for converters. A payload or checksums in ``model`` are
    dropped (the encoder writes its own).

    Raises:
        SchemaError: the header does not match the format's types.

    Example:

    ```python
    from heimdall_io.codec import header_document
    from heimdall_io.format.header import new_header

    doc = header_document(new_header({"model_name": "tiny", "version": 1}))
    assert list(doc)[0] == "format_version" and list(doc)[-1] == "model"
    ```
    """
    if isinstance(header, BundleHeader):
        doc: dict[str, Any] = msgspec.to_builtins(header)
    else:
        doc = {k: v for k, v in header.items()}
        if not isinstance(doc.get("model"), Mapping):
            raise SchemaError("invalid bundle: missing required field `model`")
        doc["model"] = {k: v for k, v in doc["model"].items() if k != PAYLOAD_KEY}
    if isinstance(doc.get("model"), dict):
        # The encoder writes its own (from the files it is given), after the payload.
        doc["model"] = {k: v for k, v in doc["model"].items() if k != EXTERNAL_DATA_KEY}
    if version is None:
        version = FORMAT_1_2 if needs_1_2(doc) else FORMAT_VERSION
    doc["format_version"] = version
    validate_header(doc)
    model = doc.pop("model")
    ordered = {"format_version": doc.pop("format_version")}
    if "bundle_metadata" in doc:
        ordered["bundle_metadata"] = doc.pop("bundle_metadata")
    ordered.update(doc)
    ordered["model"] = model
    return ordered


def needs_1_2(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` has a member of format 1.2.0: ``signatures``,
    ``bundle_metadata.provenance`` or ``model.external_data`` (an empty array counts as
    absent)."""
    meta = document.get("bundle_metadata")
    provenance = meta.get("provenance") if isinstance(meta, Mapping) else None
    model = document.get("model")
    external = model.get(EXTERNAL_DATA_KEY) if isinstance(model, Mapping) else None
    return bool(document.get("signatures")) or bool(provenance) or bool(external)


def _advance_checksums(
    document: Mapping[str, Any], given: tuple[int | None, str | None, str | None]
) -> tuple[Any, ...]:
    """The size and digests a signed header must write before the payload: those given,
    else those its ``model`` declares (they must agree: they were signed)."""
    model = document["model"]
    out = []
    for key, value in zip(CHECKSUM_KEYS, given, strict=True):
        declared = model.get(key)
        if value is not None and declared is not None and str(value) != str(declared):
            raise ValueError(f"signed header declares {key} {declared!r}, given {value!r}")
        out.append(value if value is not None else declared)
    if any(v is None for v in out):
        raise ValueError(
            "a signed bundle declares its payload's size, MD5 and SHA-256 before the payload:"
            " give size, md5 and sha256 (or put them in the header's model before signing)"
        )
    return tuple(out)


def _encode_value(value: Any) -> bytes:
    try:
        return _encode(value)
    except UnicodeEncodeError:
        # A lone surrogate ("\\ud800" in a bundle we read) has no UTF-8 form: write it
        # escaped, as it was, so that whatever a reader accepts can be written back.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def _members(obj: Mapping[str, Any]) -> bytes:
    return b",".join(_encode_value(k) + b":" + _encode_value(v) for k, v in obj.items())


@dataclass(frozen=True)
class ExternalSource:
    """A file of ``model.external_data`` for the encoder: its path in the model's
    directory, its size (written before its data), how to open it when its turn comes,
    and its digests if known in advance (checked against the bytes, as the payload's)."""

    path: str
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]
    md5: str | None = None
    sha256: str | None = None

    def entry(self) -> dict[str, Any]:
        """The entry's members known before its data."""
        known = {"path": self.path, "size_bytes": self.size, "md5": self.md5,
                 "sha256": self.sha256}  # fmt: skip
        return {k: v for k, v in known.items() if v is not None}


#: What follows the payload's closing quote when external data files follow it.
EXTERNAL_OPEN = b'","' + EXTERNAL_DATA_KEY.encode() + b'":['


def entry_head(index: int, entry: Mapping[str, Any]) -> bytes:
    """An external data entry up to its data's first base64 character."""
    start = b",{" if index else b"{"
    return start + _members(entry) + b',"' + EXTERNAL_PAYLOAD_KEY.encode() + b'":"'


def entry_tail(entry: Mapping[str, Any], done: Digests | None) -> bytes:
    """An external data entry after its data: the digests not written before it (none
    without ``done``), and its end."""
    after = {}
    if done is not None:
        after = {k: v for k, v in (("md5", done.md5), ("sha256", done.sha256)) if k not in entry}
    return b'"' + (b"," + _members(after) if after else b"") + b"}"


@dataclass
class EncodeResult:
    """What an encoder wrote: filled in once it has run to the end."""

    digests: Digests | None = None
    bytes_out: int = 0
    #: Path and digests of each external data file written, in order.
    external: list[tuple[str, Digests]] = field(default_factory=list)


class BundleEncoder:
    """An iterable of the bundle's bytes (compressed if asked), encoded as it is consumed.

    ``size``/``md5``/``sha256``, when given, are written before the payload and checked
    against the bytes actually read: a mismatch raises ChecksumMismatchError before the
    document is closed, so a consumer never receives a complete bundle with wrong bytes.

    Args:
        header (`BundleHeader` or mapping):
            The metadata, without payload (see :func:`header_document`).
        payload (`BinaryIO`):
            The ONNX bytes; read to the end, short reads are fine.
        size, md5, sha256 (*optional*):
            Known in advance (from a registry): written before the payload.
        compression (`str`, *optional*, defaults to `"none"`):
            ``"none"``, ``"zstd"`` or ``"gzip"``, at ``level``.
        progress (`Callable[[int], None]`, *optional*):
            Called with the count of payload bytes after each chunk.
        format_version (`str`, *optional*):
            The version written (a converter's choice); by default 1.1.0, or 1.2.0 for a
            signed header or one with provenance (see :func:`header_document`).
        checksums (`bool`, *optional*, defaults to `True`):
            False writes no size or digests (format 1.0.0 has none); given ones are still
            checked against the payload.
        external (sequence of `ExternalSource`, *optional*):
            The files of a model saved with external data: written after the payload as
            ``model.external_data`` (format 1.2.0), each streamed like the payload.

    Example:

    ```python
    from heimdall_io import BundleEncoder

    with open("model.onnx", "rb") as onnx:
        encoder = BundleEncoder(header, onnx, compression="zstd")
        for chunk in encoder:          # e.g. an HTTP response body
            send(chunk)
    print(encoder.result.bytes_out, encoder.result.digests.md5)
    ```
    """

    def __init__(
        self,
        header: BundleHeader | Mapping[str, Any],
        payload: BinaryIO,
        *,
        size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        compression: str = NONE,
        level: int = 3,
        chunk_size: int = CHUNK,
        progress: Callable[[int], None] | None = None,
        format_version: str | None = None,
        checksums: bool = True,
        external: Sequence[ExternalSource] = (),
    ) -> None:
        if chunk_size % 3:
            raise ValueError("chunk_size must be a multiple of 3")
        if compression == ZSTD and level not in ZSTD_LEVELS:
            raise ValueError(f"zstd level must be 1..19, got {level}")
        self.external = tuple(external)
        if self.external and format_version is None:
            format_version = FORMAT_1_2
        self.document = header_document(header, format_version)
        self.checksums = checksums
        self.payload = payload
        if self.document.get("signatures"):
            size, md5, sha256 = _advance_checksums(self.document, (size, md5, sha256))
        self.known: dict[str, Any] = {
            "onnx_size_bytes": size,
            "onnx_md5": md5,
            "onnx_sha256": sha256,
        }
        self.compression = compression
        self.level = level
        self.chunk_size = chunk_size
        self.progress = progress
        self.result = EncodeResult()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in compress_iter(self._plain(), self.compression, self.level):
            self.result.bytes_out += len(chunk)
            yield chunk

    def _known_before(self) -> dict[str, Any]:
        """The size and digests written before the payload (none if ``checksums`` is off)."""
        return {k: v for k, v in self.known.items() if v is not None and self.checksums}

    def head(self) -> bytes:
        """The bundle's bytes before the payload's first base64 character (uncompressed)."""
        doc = dict(self.document)
        model = {k: v for k, v in doc.pop("model").items() if k not in CHECKSUM_KEYS}
        model.update(self._known_before())
        head = _members(doc)
        return (
            b"{" + head + (b"," if head else b"") + b'"model":{' + _members(model)
            + (b"," if model else b"") + b'"' + PAYLOAD_KEY.encode() + b'":"'
        )  # fmt: skip

    def tail(self, digests: Digests | None = None) -> bytes:
        """The bytes after the payload: the checksums not known before it, then the end.

        Without ``digests`` only when size, MD5 and SHA-256 were all given in advance.
        (With external data, ``b'"' + external part + b"]"`` replaces its first byte.)
        """
        return b'"' + self.closing(digests)

    def closing(self, digests: Digests | None) -> bytes:
        """The end of the bundle: the payload's checksums not written before it, ``}}``."""
        before = self._known_before()
        after: dict[str, Any] = {}
        if self.checksums and len(before) < len(self.known):
            if digests is None:
                raise ValueError("the tail depends on the digests: size, md5, sha256 not given")
            computed = {"onnx_size_bytes": digests.size, "onnx_md5": digests.md5,
                        "onnx_sha256": digests.sha256}  # fmt: skip
            after = {k: v for k, v in computed.items() if k not in before}
        return (b"," + _members(after) if after else b"") + b"}}\n"

    def _plain(self) -> Iterator[bytes]:
        yield self.head()
        digests = yield from self._payload(
            self.payload, self.known["onnx_md5"], self.known["onnx_sha256"]
        )
        digests.check(size=self.known["onnx_size_bytes"], md5=self.known["onnx_md5"],
                      sha256=self.known["onnx_sha256"], what="model")  # fmt: skip
        self.result.digests = digests
        if not self.external:
            yield self.tail(digests)
            return
        yield EXTERNAL_OPEN
        for i, source in enumerate(self.external):
            entry = source.entry()
            yield entry_head(i, entry)
            with source.open() as f:
                done = yield from self._payload(f, source.md5, source.sha256)
            done.check(size=source.size, md5=source.md5, sha256=source.sha256,
                       what=f"external data file {source.path!r}")  # fmt: skip
            yield entry_tail(entry, done if self.checksums else None)
            self.result.external.append((source.path, done))
        yield b"]" + self.closing(digests)

    def _payload(
        self, payload: BinaryIO, md5: str | None, sha256: str | None
    ) -> Generator[bytes, None, Digests]:
        """Encode ``payload``; its digests. With both digests known in advance (a
        registered model) only SHA-256 is computed, to check the bytes: they are then the
        bytes whose MD5 is known, and MD5, over twice as slow, would bound the export."""
        read, encode, n = payload.read, pybase64.b64encode, self.chunk_size
        progress = self.progress
        carry = b""
        known_md5 = md5.lower() if md5 and sha256 else None
        # With zstd the main thread compresses; both digests then get threads.
        hasher = Hasher(busy_caller=self.compression != NONE, md5=known_md5 is None)
        with hasher:
            while True:
                chunk = read(n)
                if not chunk:
                    break
                if carry:
                    chunk, carry = carry + chunk, b""
                if len(chunk) % 3:
                    cut = len(chunk) - len(chunk) % 3
                    chunk, carry = chunk[:cut], chunk[cut:]
                    if not chunk:
                        continue
                chunk = bytes(chunk)
                hasher.update(chunk)
                if progress is not None:
                    progress(len(chunk))
                yield encode(chunk)
            if carry:
                hasher.update(carry)
                if progress is not None:
                    progress(len(carry))
                yield encode(carry)
        digests = hasher.digests()
        if known_md5 is None:
            return digests
        return Digests(digests.size, known_md5, digests.sha256)


def write_bundle(
    dst: BinaryIO,
    header: BundleHeader | Mapping[str, Any],
    payload: BinaryIO,
    **options: Any,
) -> EncodeResult:
    """Encode ``header`` + the bytes of ``payload`` into ``dst``; options as BundleEncoder.

    Args:
        dst (`BinaryIO`):
            Where the bundle is written.
        header (`BundleHeader` or mapping):
            The metadata, without payload; e.g. from ``format.header.new_header``.
        payload (`BinaryIO`):
            The ONNX bytes.
        **options:
            ``size``, ``md5``, ``sha256``, ``compression``, ``level``, ``chunk_size``,
            ``progress``: see :class:`BundleEncoder`.

    Returns:
        `EncodeResult`: the payload's digests and the number of bytes written.

    Example:

    ```python
    from heimdall_io import write_bundle
    from heimdall_io.format.header import new_header

    header = new_header({"model_name": "LocalizationNet", "version": 1})
    with open("model.onnx", "rb") as onnx, open("model.heimdall", "wb") as out:
        result = write_bundle(out, header, onnx, compression="zstd")
    print(result.digests.sha256)
    ```
    """
    encoder = BundleEncoder(header, payload, **options)
    write = dst.write
    for chunk in encoder:
        write(chunk)
    return encoder.result
