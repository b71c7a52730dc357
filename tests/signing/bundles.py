"""Signed bundles as bytes, through the real reader.

Bundles are serialized here by hand (compact JSON, ``signatures`` before ``model``, the
payload last in ``model``) because the codec's writer does not write format 1.2.0 yet.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from heimdall_io import read_bundle
from heimdall_io.codec.checksums import Digests
from heimdall_io.errors import BundleError
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.signing.verify import Status, Verification, verify_document


def bundle_bytes(document: dict[str, Any], payload: bytes) -> bytes:
    """``document`` as a bundle: compact JSON in its member order, the payload last in
    ``model``."""
    doc = dict(document)
    doc["model"] = {**document["model"], "onnx_model_base64": base64.b64encode(payload).decode()}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def read(data: bytes) -> tuple[dict[str, Any], Digests]:
    """The document and payload digests the real reader finds in ``data``."""
    info = read_bundle(io.BytesIO(data), io.BytesIO())
    assert info.digests is not None
    return info.document, info.digests


def verify_bundle(data: bytes, trusted: TrustedKeys) -> tuple[Verification | None, Any]:
    """(verification, document) of bundle bytes; (None, error) if the reader rejects it."""
    try:
        document, digests = read(data)
    except BundleError as e:
        return None, e
    return verify_document(document, trusted, payload=digests), document


def is_valid(result: Verification | None) -> bool:
    return result is not None and result.status is Status.VALID
