"""Bundle documents for the signing tests: a seed-like one, and a hypothesis strategy."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import strategies as st

from heimdall_io.codec.checksums import Digests
from heimdall_io.signing.canonical import MAX_SAFE_INTEGER
from tests.support.strategies import json_value_strategy

PAYLOAD = bytes(range(256)) * 3 + b"onnx"


def digests_of(payload: bytes) -> dict[str, Any]:
    return {
        "onnx_size_bytes": len(payload),
        "onnx_md5": hashlib.md5(payload).hexdigest(),
        "onnx_sha256": hashlib.sha256(payload).hexdigest(),
    }


def payload_digests(payload: bytes) -> Digests:
    d = digests_of(payload)
    return Digests(d["onnx_size_bytes"], d["onnx_md5"], d["onnx_sha256"])


def make_document(payload: bytes = PAYLOAD, **model: Any) -> dict[str, Any]:
    """A seed-like 1.1.0 document (no payload) declaring ``payload``'s digests."""
    return {
        "format_version": "1.1.0",
        "bundle_metadata": {
            "bundle_id": "0b6f3c2e-8d1a-4f5e-9a7b-2c4d6e8f0a1b",
            "created_at": "2025-01-01T00:00:00Z",
            "exported_by": "heimdall-io 0.1.0",
            "description": "Zürich rooftop array, 2.4 GHz — v3 “final”",
        },
        "training_config": {"epochs": 50, "learning_rate": 0.001, "optimizer": "Adam"},
        "performance_metrics": {"train_loss": [1.5, 0.25, 1e-7], "best_val_loss": 0.1},
        "normalization_stats": {"feature_means": [0.5, -3.25e21], "feature_stds": [1.0, 2]},
        "sample_predictions": [{"input": [1, 2.5], "ground_truth": {"lat": 45.1, "lon": 7.6}}],
        "model": {
            "model_name": "tiny",
            "version": 3,
            "framework": "onnx",
            "input_shape": ["batch", 4],
            **model,
            **digests_of(payload),
        },
    }


# -- hypothesis strategies ---------------------------------------------------------------

json_values = json_value_strategy(
    integers=st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    text_size=12,
    key_size=8,
    container_size=4,
    max_leaves=16,
)
#: Keys no section type names, so any value is schema-valid under them.
extra_fields = st.dictionaries(st.text(max_size=6).map(lambda s: "x_" + s), json_values, max_size=3)


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """(document, payload): schema-valid metadata with arbitrary extra fields."""
    payload = draw(st.binary(max_size=200))
    doc = make_document(payload)
    doc["bundle_metadata"].update(draw(extra_fields))
    doc["bundle_metadata"]["description"] = draw(st.text(max_size=40))
    doc["training_config"].update(draw(extra_fields))
    doc["performance_metrics"]["train_loss"] = draw(
        st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.none(), max_size=5)
    )
    doc["model"].update(draw(extra_fields))
    doc["model"]["version"] = draw(st.integers(0, MAX_SAFE_INTEGER) | st.text(max_size=5))
    for name, value in draw(extra_fields).items():
        doc.setdefault(name, value)
    model = doc.pop("model")
    doc["model"] = model  # model last, as a writer puts it
    return doc, payload
