"""spec/bundle-format.md, "Signatures": its worked example is what the code computes.

The same values were checked independently with node's Ed25519 and a sorted-key
JSON.stringify, so another implementation can start from them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nacl.signing

from heimdall_io import read_bundle
from heimdall_io.signing.canonical import MESSAGE_PREFIX, canonical_bytes, signing_message
from heimdall_io.signing.embedded import sign_document
from heimdall_io.signing.keys import PublicKey, SecretKey
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.signing.verify import Status, verify_document

SPEC = Path(__file__).resolve().parents[2] / "spec" / "bundle-format.md"
SEED = bytes(range(32))
KEYNUM = bytes(range(1, 9))


def example_key() -> SecretKey:
    public = bytes(nacl.signing.SigningKey(SEED).verify_key)
    return SecretKey(KEYNUM, SEED, PublicKey(KEYNUM, public))


def section(title: str) -> str:
    text = SPEC.read_text()
    start = text.index(f"### {title}\n")
    return text[start : text.index("\n### ", start + 1)]


def test_the_spec_example_is_what_the_code_signs() -> None:
    key = example_key()
    assert key.key_id == "0807060504030201"
    text = section("The signed message")
    canonical, bundle = re.findall(r"```text\n(.*?)\n```", text, re.S)
    assert f"`{key.public.to_base64()}`" in text
    # The Example section's bundle (17-byte model), as format 1.2.0 with digests first.
    document = {
        "format_version": "1.2.0",
        "bundle_metadata": {
            "bundle_id": "0b6f3c2e-8d1a-4f5e-9a7b-2c4d6e8f0a1b",
            "created_at": "2025-01-01T00:00:00Z",
            "exported_by": "heimdall-io 0.1.0",
        },
        "model": {
            "model_name": "tiny",
            "version": 1,
            "framework": "onnx",
            "onnx_size_bytes": 17,
            "onnx_md5": "70208d4b2f559a226b04e5b9b0c1f466",
            "onnx_sha256": "51459b9c856c8abb4c7d27e0cae926b8433dfecfa0cc9f679efa94d860621aef",
            "onnx_model_base64": "CAcSCGhlaW1kYWxsGgMwLjE=",
        },
    }
    signed = sign_document(document, key, signed_at="2025-01-01T00:00:00Z")
    assert canonical_bytes(signed).decode() == canonical
    assert len(canonical.encode()) == 376 and len(signing_message(signed)) == 405
    assert json.dumps(signed, separators=(",", ":")) == bundle
    info = read_bundle(io.BytesIO(bundle.encode()), io.BytesIO())
    trusted = TrustedKeys([key.public])
    assert verify_document(info.document, trusted, payload=info.digests).status is Status.VALID


def test_the_spec_prefix_is_the_code_prefix() -> None:
    assert len(MESSAGE_PREFIX) == 29
    assert "`heimdall-bundle-signature-v1` and a LF" in section("The signed message")
