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
"The seed", in comments, is Heimdall's original export/import implementation, whose
format 1.0.0, endpoints, ``models`` table and messages this package stays compatible with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    MetadataLimitError,
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
from .lazy_exports import lazy_exports
from .version import __version__

if TYPE_CHECKING:
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
    from .format.document import FORMAT_VERSION, BundleDocument, BundleHeader
    from .onnx import OnnxInfo, check_model_file, read_onnx_info
    from .service import ExportOptions, ExportStream, GcResult, ImportOptions, ImportResult, Service

# The codec, ONNX and service layers load on first use, so that `import heimdall_io` (and
# every CLI command that needs one error class or one module) stays quick: the service
# layer pulls in the database drivers, the signing keys and onnx.
_LAZY = {
    "BundleDocument": ".format.document",
    "BundleEncoder": ".codec",
    "BundleHeader": ".format.document",
    "BundleInfo": ".codec",
    "BundleReader": ".codec",
    "Digests": ".codec.checksums",
    "ExportOptions": ".service",
    "ExportStream": ".service",
    "FORMAT_VERSION": ".format.document",
    "GcResult": ".service",
    "Hasher": ".codec.checksums",
    "ImportOptions": ".service",
    "ImportResult": ".service",
    "Limits": ".codec",
    "OnnxInfo": ".onnx",
    "Service": ".service",
    "check_model_file": ".onnx",
    "digest_stream": ".codec.checksums",
    "inspect_bundle": ".codec",
    "read_bundle": ".codec",
    "read_onnx_info": ".onnx",
    "write_bundle": ".codec",
}


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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
