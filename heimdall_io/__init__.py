"""heimdall-io: streaming export and import of Heimdall models as ``.heimdall`` bundles.

The codec takes and returns file-like objects and never holds the payload::

    import heimdall_io as hio

    # write: metadata + a binary stream -> bundle
    with open("model.onnx", "rb") as onnx, open("model.heimdall", "wb") as out:
        hio.write_bundle(out, header, onnx)

    # read: bundle -> metadata + payload sink (verified before read_bundle returns)
    with open("model.heimdall", "rb") as f, open("model.onnx", "wb") as out:
        info = hio.read_bundle(f, out)

    # a registry: the embedded default (SQLite + a local directory), or PostgreSQL + S3
    with hio.Service.from_config() as service:
        service.export_to_path(model_id, "model.heimdall")

See README.md for the whole API and spec/bundle-format.md for the format.
"""

from __future__ import annotations

from .codec import (
    BundleEncoder,
    BundleInfo,
    BundleReader,
    Limits,
    inspect_bundle,
    read_bundle,
    write_bundle,
)
from .codec.checksums import Digests, Hasher, digest_stream
from .errors import (
    BundleError,
    ChecksumMismatchError,
    CommitUnknownError,
    ConfigError,
    ConversionError,
    DecompressionBombError,
    DuplicateKeyError,
    FileAccessError,
    HeimdallError,
    InvalidBase64Error,
    InvalidModelError,
    LeaseLostError,
    LimitExceededError,
    MalformedBundleError,
    MlflowError,
    NotFoundError,
    ObjectStoreError,
    PayloadTooLargeError,
    RegistryError,
    RegistryUnavailableError,
    RemoteError,
    SchemaError,
    StorageError,
    TruncatedBundleError,
    UnsupportedVersionError,
)
from .format.document import FORMAT_VERSION, BundleDocument, BundleHeader
from .onnx import OnnxInfo, check_model_file, read_onnx_info
from .service import ExportOptions, ExportStream, GcResult, ImportOptions, ImportResult, Service
from .version import __version__

__all__ = [
    "FORMAT_VERSION",
    "BundleDocument",
    "BundleEncoder",
    "BundleError",
    "BundleHeader",
    "BundleInfo",
    "BundleReader",
    "ChecksumMismatchError",
    "CommitUnknownError",
    "ConfigError",
    "ConversionError",
    "DecompressionBombError",
    "Digests",
    "DuplicateKeyError",
    "ExportOptions",
    "ExportStream",
    "FileAccessError",
    "GcResult",
    "Hasher",
    "HeimdallError",
    "ImportOptions",
    "ImportResult",
    "InvalidBase64Error",
    "InvalidModelError",
    "LeaseLostError",
    "LimitExceededError",
    "Limits",
    "MalformedBundleError",
    "MetadataLimitError",
    "MlflowError",
    "NotFoundError",
    "ObjectStoreError",
    "OnnxInfo",
    "PayloadTooLargeError",
    "RegistryError",
    "RegistryUnavailableError",
    "RemoteError",
    "SchemaError",
    "Service",
    "StorageError",
    "TruncatedBundleError",
    "UnsupportedVersionError",
    "__version__",
    "check_model_file",
    "digest_stream",
    "inspect_bundle",
    "read_bundle",
    "read_onnx_info",
    "write_bundle",
]
