"""The streaming codec: bundle bytes <-> (header, payload stream). Knows nothing of storage."""

from .decoder import BundleInfo, BundleReader, Declared, inspect_bundle, read_bundle
from .encoder import BundleEncoder, EncodeResult, header_document, write_bundle
from .scanner import Limits

__all__ = [
    "BundleEncoder",
    "BundleInfo",
    "BundleReader",
    "Declared",
    "EncodeResult",
    "Limits",
    "header_document",
    "inspect_bundle",
    "read_bundle",
    "write_bundle",
]
