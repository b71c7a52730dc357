"""The one exception hierarchy of heimdall-io.

Every failure the library reports is a :class:`HeimdallError`; its ``str()`` is a single
line fit for a terminal. The CLI and the HTTP API map the classes to exit codes and status
codes in one place each (``heimdall_cli.errors`` and ``heimdall_io.api.errors``).

    HeimdallError
    ├── BundleError                 the bytes are not a valid bundle (HTTP 400)
    │   ├── MalformedBundleError    not JSON, bad structure, trailing data
    │   ├── TruncatedBundleError    input ended early
    │   ├── InvalidBase64Error      payload is not valid base64
    │   ├── DuplicateKeyError       a key appears twice in one object
    │   ├── SchemaError             a required field is missing or has the wrong type
    │   ├── UnsupportedVersionError format_version this reader cannot read
    │   ├── ChecksumMismatchError   declared size/MD5/SHA-256 disagree with the payload
    │   ├── LimitExceededError      nesting, metadata size, decompression ratio
    │   │   ├── DecompressionBombError
    │   │   └── MetadataLimitError  too many metadata bytes, values or members
    │   └── InvalidModelError       the payload is not a valid ONNX model
    ├── ConversionError             convert/export --to: a value the target needs is missing
    ├── PayloadTooLargeError        over a configured size limit (HTTP 413)
    ├── NotFoundError               a model or a file does not exist (HTTP 404)
    ├── FileAccessError             permission denied, output exists, not a file
    ├── ConfigError                 a bad URL or setting
    ├── MlflowError                 MLflow failed, or its client is not installed (HTTP 502)
    ├── StorageError                the registry or the object store failed (HTTP 5xx)
    │   ├── RegistryError
    │   │   ├── RegistryUnavailableError  no answer in time (HTTP 503 + Retry-After)
    │   │   │   └── CommitUnknownError    connection lost while committing
    │   │   └── LeaseLostError      an import's lease expired and gc claimed its object
    │   └── ObjectStoreError
    └── RemoteError                 a remote instance or bundle URL failed (HTTP, network)
"""

from __future__ import annotations


class HeimdallError(Exception):
    """Base class of every error heimdall-io raises on purpose."""


class BundleError(HeimdallError):
    """The input is not a valid .heimdall bundle."""


class MalformedBundleError(BundleError):
    """Not JSON, or JSON that is not shaped like a bundle."""


class TruncatedBundleError(BundleError):
    """The input ended before the bundle did."""


class InvalidBase64Error(BundleError):
    """``model.onnx_model_base64`` is not valid base64."""


class DuplicateKeyError(BundleError):
    """A key occurs twice in one JSON object; neither value is silently preferred."""


class SchemaError(BundleError):
    """A required field is missing or a field has the wrong type."""


class UnsupportedVersionError(BundleError):
    """The bundle's ``format_version`` has a major version this reader does not know."""


class ChecksumMismatchError(BundleError):
    """The payload's size or digest differs from what the bundle or registry declares."""


class LimitExceededError(BundleError):
    """A safety bound was crossed: nesting depth, metadata size, expansion ratio."""


class DecompressionBombError(LimitExceededError):
    """The compressed bundle expands far beyond any plausible model."""


class InvalidModelError(BundleError):
    """The payload is not a valid ONNX model."""


class ConversionError(HeimdallError):
    """A bundle cannot be written in the asked-for format: a value it needs is missing or
    cannot be represented (the message names the field and the option that supplies it)."""


class PayloadTooLargeError(HeimdallError):
    """The bundle or model is larger than the configured limit."""


class NotFoundError(HeimdallError):
    """A model id or a file that does not exist."""


class FileAccessError(HeimdallError):
    """A path cannot be read or written (permissions, already exists, a directory)."""


class ConfigError(HeimdallError):
    """A configuration value (URL, environment variable, option) is invalid."""


class MlflowError(HeimdallError):
    """The MLflow tracking server or model registry failed, or its client is missing."""


class StorageError(HeimdallError):
    """The registry or the object store failed."""


class RegistryError(StorageError):
    """The model registry (SQLite / PostgreSQL) failed."""


class ObjectStoreError(StorageError):
    """The object store (local directory / S3) failed."""


class RegistryUnavailableError(RegistryError):
    """The registry did not answer in time (pool, statement or lock timeout, connection
    lost): a transient condition, worth retrying later (HTTP 503 with Retry-After)."""


class LeaseLostError(RegistryError):
    """An import's lease on its object expired and gc claimed it: the object may be gone,
    so the model is not registered (retry the import)."""


class CommitUnknownError(RegistryUnavailableError):
    """The connection was lost while the database committed: the change may or may not
    have been made. Whoever wrote it must not undo what it depends on (an import keeps its
    object and leaves its lease to expire: gc then decides)."""


class MetadataLimitError(LimitExceededError):
    """The metadata (everything outside the payload) is over its budget of bytes or values."""


class RemoteError(HeimdallError):
    """A remote Heimdall instance or a bundle URL failed: an HTTP error, or the connection
    lost more often than a resumable download retries."""
