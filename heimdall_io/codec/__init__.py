"""The streaming codec: bundle bytes <-> (header, payload stream). Knows nothing of storage.

Modules, from the bytes up: ``streams`` (stream helpers), ``compression`` (zstd/gzip,
guarded), ``scanner`` (JSON tokens of the metadata), ``payload`` (the payload string and
its base64), ``walker`` (the document around the payload), ``checksums``, ``decoder``
(:class:`BundleReader`) and ``encoder`` (:class:`BundleEncoder`).
"""

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .checksums import Digests, Hasher, digest_stream
    from .decoder import BundleReader, inspect_bundle, read_bundle
    from .encoder import BundleEncoder, EncodeResult, ExternalSource, header_document, write_bundle
    from .info import BundleInfo, Declared, ExternalInfo
    from .scanner import Limits
    from .streams import ChunkStream, ReadStream, is_seekable, readinto_from

__all__ = [
    "BundleEncoder",
    "BundleInfo",
    "BundleReader",
    "ChunkStream",
    "Declared",
    "Digests",
    "EncodeResult",
    "ExternalInfo",
    "ExternalSource",
    "Hasher",
    "Limits",
    "ReadStream",
    "digest_stream",
    "header_document",
    "inspect_bundle",
    "is_seekable",
    "read_bundle",
    "readinto_from",
    "write_bundle",
]

# Each name is imported on first use: an export needs no decoder, an import no encoder.
_WHERE = {
    "BundleEncoder": ".encoder",
    "BundleInfo": ".info",
    "BundleReader": ".decoder",
    "ChunkStream": ".streams",
    "Declared": ".info",
    "Digests": ".checksums",
    "EncodeResult": ".encoder",
    "ExternalInfo": ".info",
    "ExternalSource": ".encoder",
    "Hasher": ".checksums",
    "Limits": ".scanner",
    "ReadStream": ".streams",
    "digest_stream": ".checksums",
    "header_document": ".encoder",
    "inspect_bundle": ".decoder",
    "is_seekable": ".streams",
    "read_bundle": ".decoder",
    "readinto_from": ".streams",
    "write_bundle": ".encoder",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
