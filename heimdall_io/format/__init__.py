"""The bundle format: msgspec types, validation, header building, JSON Schema generation.

``document`` holds the msgspec types, the single source of truth; ``validation`` checks a
document against them (reader and writer alike); ``header`` builds the metadata of a new
bundle; ``schema`` renders spec/bundle.schema.json (``python -m heimdall_io.format.schema``).

Two modules are not imported here, so use them by their full names: ``header`` names
the package version, so it imports ``heimdall_io`` (which imports this package), and
``schema`` runs as ``python -m`` (importing it here would load it twice).
"""

from .document import (
    CHECKSUM_KEYS,
    EXTERNAL_CHECKSUM_KEYS,
    EXTERNAL_DATA_KEY,
    EXTERNAL_PAYLOAD_KEY,
    FORMAT_1_0,
    FORMAT_1_1,
    FORMAT_1_2,
    FORMAT_LATEST,
    FORMAT_VERSION,
    PAYLOAD_KEY,
    BundleDocument,
    BundleHeader,
    BundleMetadata,
    BundleMetadataDocument,
    ExternalDataEntry,
    ExternalDataInfo,
    ModelDocument,
    ModelInfo,
    NormalizationStats,
    PerformanceMetrics,
    ProvenanceEntry,
    SamplePrediction,
    SignatureEntry,
    TrainingConfig,
)
from .validation import check_external_entry, check_section, check_version, validate_header

__all__ = [
    "CHECKSUM_KEYS",
    "EXTERNAL_CHECKSUM_KEYS",
    "EXTERNAL_DATA_KEY",
    "EXTERNAL_PAYLOAD_KEY",
    "FORMAT_1_0",
    "FORMAT_1_1",
    "FORMAT_1_2",
    "FORMAT_LATEST",
    "FORMAT_VERSION",
    "PAYLOAD_KEY",
    "BundleDocument",
    "BundleHeader",
    "BundleMetadata",
    "BundleMetadataDocument",
    "ExternalDataEntry",
    "ExternalDataInfo",
    "ModelDocument",
    "ModelInfo",
    "NormalizationStats",
    "PerformanceMetrics",
    "ProvenanceEntry",
    "SamplePrediction",
    "SignatureEntry",
    "TrainingConfig",
    "check_external_entry",
    "check_section",
    "check_version",
    "validate_header",
]
