"""The bundle format as msgspec types: the single source of truth for spec/bundle.schema.json.

Every section is validated against these types on read, but what is *kept* is the
document itself (a dict in file order), so fields the types do not name survive a
read-then-write. Fields from the earlier Heimdall implementation (``created_by``,
``heimdall_version``, ``validation_split``, ...) are named here so they are typed too.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

FORMAT_1_0 = "1.0.0"
FORMAT_1_1 = "1.1.0"
#: Adds ``signatures`` and ``bundle_metadata.provenance`` (and ``model.external_data``).
FORMAT_1_2 = "1.2.0"
#: The version this project writes, unless the bundle has a feature of a later one.
FORMAT_VERSION = FORMAT_1_1
#: The latest version the types (and spec/bundle.schema.json) describe.
FORMAT_LATEST = FORMAT_1_2
#: Key of the payload, directly under the top-level ``model`` object.
PAYLOAD_KEY = "onnx_model_base64"
#: Checksum fields of format 1.1.0, before or right after the payload.
CHECKSUM_KEYS = ("onnx_size_bytes", "onnx_md5", "onnx_sha256")
#: Format 1.2.0: the files of a model saved with external data, after the payload.
EXTERNAL_DATA_KEY = "external_data"
#: Key of an external data entry's bytes (base64), after its path and size.
EXTERNAL_PAYLOAD_KEY = "data_base64"
#: Size and digests of an external data entry, before or right after its data.
EXTERNAL_CHECKSUM_KEYS = ("size_bytes", "md5", "sha256")
#: A relative, ``/``-separated path without ``..``, ``.`` or empty segments (the format's
#: rule for external data paths; files.layout checks the rest: uniqueness, links).
SAFE_PATH_PATTERN = r"^(?!\.{1,2}(/|$))(?!.*/\.{1,2}(/|$))[^/\x00\\]+(/[^/\x00\\]+)*$"

# A tensor dimension: a size, a symbolic name ("batch"), or unknown.
Dim = int | str | None
Hex32 = msgspec.Meta(pattern="^[0-9a-f]{32}$", description="lowercase hex MD5")
Hex64 = msgspec.Meta(pattern="^[0-9a-f]{64}$", description="lowercase hex SHA-256")


def _doc(text: str) -> msgspec.Meta:
    """A field description: msgspec puts it in spec/bundle.schema.json."""
    return msgspec.Meta(description=text)


_LEGACY = "Earlier Heimdall implementation: "


class _Section(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class SignatureEntry(_Section, kw_only=True):
    """An entry of `signatures`: one Ed25519 signature of the bundle's canonical metadata
    (spec/bundle-format.md, "Signatures"). Only `signature` is signed; the rest are claims."""

    algorithm: Annotated[str, _doc("Signature algorithm: `ed25519` (others are reserved).")]
    key_id: Annotated[
        str,
        msgspec.Meta(
            pattern="^[0-9a-f]{16}$",
            description="The signing key's id: minisign's 8-byte keynum, little-endian, as 16"
            " lowercase hex digits.",
        ),
    ]
    signature: Annotated[
        str,
        msgspec.Meta(
            description="Base64 of the 64-byte Ed25519 signature of the signed message.",
            extra_json_schema={"contentEncoding": "base64"},
        ),
    ]
    public_key: Annotated[
        str | None,
        _doc("Base64 of the signing key's 32 bytes (a claim: verifiers use their own)."),
    ] = None
    signer: Annotated[str | None, _doc("Free-text name of the signer (a claim).")] = None
    signed_at: Annotated[str | None, _doc("When it was signed, RFC 3339 (a claim).")] = None


class ProvenanceEntry(_Section, kw_only=True):
    """An entry of `bundle_metadata.provenance`: the signatures of a bundle this model was
    imported from, with the signed view they cover, so they still verify after a re-export."""

    signatures: Annotated[list[SignatureEntry], _doc("The `signatures` of that bundle, unchanged.")]
    metadata: Annotated[
        dict[str, Any],
        _doc("That bundle's signed view: its document without payload and signatures."),
    ]


# The reader takes signature and provenance entries as any objects: a malformed entry is
# for the verifier to call invalid (spec: "Verification"), not for the reader to refuse.
# The schema (BundleDocument) states their exact shape.
_SIGNATURES_DOC = (
    "Format 1.2.0: Ed25519 signatures of the metadata and the payload's declared size and"
    " digests; before `model`."
)
_PROVENANCE_DOC = (
    "Format 1.2.0: the signatures of the bundles this model was imported from, oldest first."
)


class BundleMetadata(_Section, kw_only=True):
    """`bundle_metadata`: who made this bundle, and when."""

    bundle_id: Annotated[str, _doc("Unique identifier of this export (a UUID).")]
    created_at: Annotated[str, _doc("When the bundle was created (ISO 8601 timestamp).")]
    exported_by: Annotated[str | None, _doc("Source system that wrote the bundle.")] = None
    description: Annotated[str | None, _doc("Optional user-provided description.")] = None
    # Earlier Heimdall implementation:
    created_by: Annotated[str | None, _doc(_LEGACY + "who created the bundle.")] = None
    heimdall_version: Annotated[
        str | None, _doc(_LEGACY + "version of the Heimdall that wrote the bundle.")
    ] = None
    # Format 1.2.0:
    provenance: Annotated[list[dict[str, Any]] | None, _doc(_PROVENANCE_DOC)] = None


class ModelInfo(_Section, kw_only=True):
    """``model`` without its payload."""

    model_id: Annotated[
        str | None, _doc("Original model UUID, for reference: an importer assigns a new one.")
    ] = None
    model_name: Annotated[str, _doc("Human-readable model name.")]
    version: Annotated[
        int | str,
        _doc("Model version number; the earlier Heimdall implementation wrote a string."),
    ]
    architecture: Annotated[
        str | None, _doc("Neural network architecture name, e.g. LocalizationNet.")
    ] = None
    framework: Annotated[str | None, _doc("Model format: always `onnx`.")] = "onnx"
    onnx_opset: Annotated[int | None, _doc("ONNX operator set version.")] = None
    input_shape: Annotated[
        list[Dim | list[Dim]] | None,
        _doc(
            "Input tensor dimensions, each a size, a symbolic name (`batch`) or null"
            " (unknown); or a list of such shapes, one per input."
        ),
    ] = None
    output_shape: Annotated[
        list[Dim | list[Dim]] | None,
        _doc(
            "Output tensor dimensions, as `input_shape`; the earlier Heimdall"
            " implementation wrote a list of shapes, one per output."
        ),
    ] = None
    parameters_count: Annotated[
        int | None,
        _doc(
            "Total number of model parameters: the elements of every initializer (subgraphs"
            " included) and of the non-scalar tensors of Constant nodes."
        ),
    ] = None
    input_names: Annotated[
        list[str] | None, _doc("Names of the model's inputs, in order (as `input_shape`).")
    ] = None
    output_names: Annotated[
        list[str] | None, _doc("Names of the model's outputs, in order (as `output_shape`).")
    ] = None
    # Format 1.1.0:
    onnx_size_bytes: Annotated[
        Annotated[int, msgspec.Meta(ge=0)] | None,
        _doc("Format 1.1.0: size in bytes of the decoded ONNX model."),
    ] = None
    onnx_md5: Annotated[
        Annotated[str, Hex32] | None, _doc("Format 1.1.0: MD5 of the decoded ONNX model.")
    ] = None
    onnx_sha256: Annotated[
        Annotated[str, Hex64] | None, _doc("Format 1.1.0: SHA-256 of the decoded ONNX model.")
    ] = None


class ExternalDataInfo(_Section, kw_only=True):
    """An entry of `model.external_data` without its bytes: one file of a model saved with
    external data, named by the `location` of its tensors."""

    path: Annotated[
        str,
        msgspec.Meta(
            pattern=SAFE_PATH_PATTERN,
            description="The file's path relative to the model's directory, `/`-separated;"
            " no `..`, `.` or empty segment, not absolute. Before `data_base64`.",
        ),
    ]
    size_bytes: Annotated[
        int, msgspec.Meta(ge=0, description="Size in bytes of the file. Before `data_base64`.")
    ]
    md5: Annotated[
        Annotated[str, Hex32] | None,
        _doc("MD5 of the file: before `data_base64` or right after it."),
    ] = None
    sha256: Annotated[
        Annotated[str, Hex64] | None,
        _doc("SHA-256 of the file: before `data_base64` or right after it."),
    ] = None


class ExternalDataEntry(ExternalDataInfo, kw_only=True):
    """An entry of `model.external_data`: one file of the model, with its bytes."""

    data_base64: Annotated[
        str,
        msgspec.Meta(
            description="The file's bytes, base64 as `onnx_model_base64`.",
            extra_json_schema={"contentEncoding": "base64"},
        ),
    ]


_EXTERNAL_DOC = (
    "Format 1.2.0: the files of a model saved with external data, each a payload of its own;"
    " after `onnx_model_base64`."
)
_ONNX_FILE_DOC = (
    "Format 1.2.0: the main model's file name in its directory (a bundle with"
    " `external_data`), e.g. `model.onnx`; one path segment."
)


class TrainingConfig(_Section, kw_only=True):
    """`training_config`: hyperparameters and optimizer settings of the training run."""

    epochs: Annotated[int | None, _doc("Total training epochs.")] = None
    batch_size: Annotated[int | None, _doc("Training batch size.")] = None
    learning_rate: Annotated[float | None, _doc("Initial learning rate.")] = None
    optimizer: Annotated[str | None, _doc("Optimizer algorithm name, e.g. Adam.")] = None
    loss_function: Annotated[str | None, _doc("Loss function name, e.g. GaussianNLLLoss.")] = None
    early_stopping: Annotated[bool | None, _doc("Whether early stopping was enabled.")] = None
    early_stopping_patience: Annotated[int | None, _doc("Early stopping patience, in epochs.")] = (
        None
    )
    # Earlier Heimdall implementation:
    validation_split: Annotated[
        float | None, _doc(_LEGACY + "fraction of the data held out for validation.")
    ] = None
    dataset_ids: Annotated[
        list[str] | None, _doc(_LEGACY + "identifiers of the training datasets.")
    ] = None
    dataset_names: Annotated[
        list[str] | None, _doc(_LEGACY + "names of the training datasets.")
    ] = None


class PerformanceMetrics(_Section, kw_only=True):
    """`performance_metrics`: losses and accuracies of the training run."""

    train_loss: Annotated[list[float | None] | None, _doc("Training loss per epoch.")] = None
    val_loss: Annotated[list[float | None] | None, _doc("Validation loss per epoch.")] = None
    train_rmse: Annotated[list[float | None] | None, _doc("Training RMSE per epoch.")] = None
    val_rmse: Annotated[list[float | None] | None, _doc("Validation RMSE per epoch.")] = None
    best_epoch: Annotated[int | None, _doc("Epoch with the best validation loss.")] = None
    best_val_loss: Annotated[float | None, _doc("Best validation loss achieved.")] = None
    final_train_loss: Annotated[float | None, _doc("Final training loss.")] = None
    final_val_loss: Annotated[float | None, _doc("Final validation loss.")] = None
    # Earlier Heimdall implementation:
    final_train_accuracy: Annotated[float | None, _doc(_LEGACY + "final training accuracy.")] = None
    final_val_accuracy: Annotated[float | None, _doc(_LEGACY + "final validation accuracy.")] = None
    training_duration_seconds: Annotated[
        float | None, _doc(_LEGACY + "training time in seconds.")
    ] = None
    inference_latency_ms: Annotated[
        float | None, _doc(_LEGACY + "inference latency in milliseconds.")
    ] = None
    onnx_speedup_factor: Annotated[
        float | None, _doc(_LEGACY + "inference speed-up factor of the ONNX model.")
    ] = None


class NormalizationStats(_Section, kw_only=True):
    """`normalization_stats`: per-feature statistics for preprocessing model inputs."""

    feature_means: Annotated[list[Any] | None, _doc("Mean of each input feature.")] = None
    feature_stds: Annotated[list[Any] | None, _doc("Standard deviation of each input feature.")] = (
        None
    )


class SamplePrediction(_Section, kw_only=True):
    """An entry of `sample_predictions`: an example input, its true and predicted output."""

    input: Annotated[Any, _doc("Sample input (feature vector).")] = None
    ground_truth: Annotated[dict[str, Any] | None, _doc("True location, e.g. {lat, lon}.")] = None
    prediction: Annotated[dict[str, Any] | None, _doc("Predicted location, e.g. {lat, lon}.")] = (
        None
    )
    error_meters: Annotated[float | None, _doc("Localization error in meters.")] = None
    # Earlier Heimdall implementation:
    sample_id: Annotated[str | int | None, _doc(_LEGACY + "identifier of the sample.")] = None
    input_metadata: Annotated[
        dict[str, Any] | None, _doc(_LEGACY + "metadata about the sample input.")
    ] = None


class BundleHeader(_Section, kw_only=True):
    """Everything in a bundle except the payload: what a reader validates and returns."""

    format_version: Annotated[
        str,
        _doc(
            "Bundle format version, MAJOR.MINOR.PATCH: 1.0.0 (the original format),"
            " 1.1.0 (adds the payload's size and checksums) or 1.2.0 (adds signatures and"
            " external data)."
            " Readers accept any 1.x."
        ),
    ]
    bundle_metadata: BundleMetadata
    signatures: Annotated[list[dict[str, Any]] | None, _doc(_SIGNATURES_DOC)] = None
    model: ModelInfo
    training_config: TrainingConfig | None = None
    performance_metrics: PerformanceMetrics | None = None
    normalization_stats: NormalizationStats | None = None
    sample_predictions: list[SamplePrediction] | None = None


class ModelDocument(ModelInfo, kw_only=True):
    """`model`: the model's metadata, then its ONNX bytes in `onnx_model_base64`."""

    onnx_model_base64: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The ONNX model, base64 (RFC 4648 standard alphabet, padded). In format"
                " 1.1.0 it follows every other field of `model` except checksums computed"
                " while writing it."
            ),
            extra_json_schema={"contentEncoding": "base64"},
        ),
    ]
    external_data: Annotated[list[ExternalDataEntry] | None, _doc(_EXTERNAL_DOC)] = None


class BundleMetadataDocument(BundleMetadata, kw_only=True):
    """`bundle_metadata`: who made this bundle, and when (and, in format 1.2.0, the
    signatures of the bundles the model came from)."""

    # The exact shape, for the schema; the reader takes any objects (see above).
    provenance: Annotated[list[ProvenanceEntry] | None, _doc(_PROVENANCE_DOC)] = None  # type: ignore[assignment]


class BundleDocument(BundleHeader, kw_only=True):
    """A whole `.heimdall` bundle: one JSON object, the ONNX model in `model.onnx_model_base64`."""

    # The type spec/bundle.schema.json is generated from (python -m heimdall_io.format.schema).

    bundle_metadata: BundleMetadataDocument
    signatures: Annotated[list[SignatureEntry] | None, _doc(_SIGNATURES_DOC)] = None  # type: ignore[assignment]
    model: ModelDocument
