"""Provenance: a model moved A -> B -> C -> D keeps who signed it at each hop."""

from __future__ import annotations

import copy
from typing import Any

from heimdall_io.signing import keys
from heimdall_io.signing.canonical import provenance_digest, signed_view
from heimdall_io.signing.embedded import sign_document
from heimdall_io.signing.provenance import (
    carry_provenance,
    provenance_of,
    record_provenance,
    verify_provenance,
)
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.signing.verify import Status, verify_document

from .bundles import bundle_bytes, read
from .documents import PAYLOAD, digests_of, make_document, payload_digests

A, B, C = keys.new_secret_key(), keys.new_secret_key(), keys.new_secret_key()
ALL = TrustedKeys([A.public, B.public, C.public])


def reexport(imported: dict[str, Any], instance: str, key: keys.SecretKey | None) -> dict[str, Any]:
    """What an instance exports for a model it imported: new bundle_metadata, the model's
    metadata, the imported bundle's provenance and signatures carried, its own signature."""
    doc = {k: v for k, v in imported.items() if k != "bundle_metadata"}
    doc = {
        "format_version": "1.1.0",
        "bundle_metadata": {
            "bundle_id": f"bundle-{instance}",
            "created_at": "2025-02-01T00:00:00Z",
            "exported_by": f"heimdall {instance}",
        },
        **{k: v for k, v in doc.items() if k != "format_version"},
    }
    doc = carry_provenance(doc, imported)
    return sign_document(doc, key) if key is not None else doc


def hop(doc: dict[str, Any], payload: bytes = PAYLOAD) -> dict[str, Any]:
    """Through the wire: written as a bundle, read back by the next instance."""
    document, digests = read(bundle_bytes(doc, payload))
    assert digests == payload_digests(payload)
    return document


def chain() -> list[dict[str, Any]]:
    """The bundles A, B and C export (B and C re-export what they imported)."""
    at_a = sign_document(make_document(), A)
    at_b = reexport(hop(at_a), "B", B)
    at_c = reexport(hop(at_b), "C", C)
    return [at_a, at_b, at_c]


def test_each_hop_keeps_the_earlier_signers_flat_and_oldest_first() -> None:
    at_a, at_b, at_c = chain()
    assert provenance_of(at_a) == []
    assert [e["signatures"][0]["key_id"] for e in provenance_of(at_b)] == [A.key_id]
    assert [e["signatures"][0]["key_id"] for e in provenance_of(at_c)] == [A.key_id, B.key_id]
    # Flat: B's entry refers to A's by digest instead of nesting it.
    a_entry, b_entry = provenance_of(at_c)
    assert b_entry["metadata"]["bundle_metadata"]["provenance"] == [provenance_digest(a_entry)]
    assert a_entry["metadata"] == signed_view(at_a)
    # Who signed it first, and where it has been.
    checks = verify_provenance(hop(at_c), ALL, payload=payload_digests(PAYLOAD))
    assert [c.status for c in checks] == [Status.VALID, Status.VALID]
    assert checks[0].verification.signer_key_id == A.key_id
    assert checks[0].bundle_metadata is not None
    assert checks[0].bundle_metadata["exported_by"] == "heimdall-io 0.1.0"
    assert "heimdall B" in checks[1].describe()
    # The top-level signature is C's own.
    assert verify_document(hop(at_c), ALL).valid_key_ids == [C.key_id]


def test_a_long_chain_stays_shallow() -> None:
    doc = sign_document(make_document(), A)
    for n in range(20):  # 20 hops: far past what nesting would allow under 64 levels
        doc = reexport(hop(doc), f"I{n}", [A, B, C][n % 3])
    document = hop(doc)
    checks = verify_provenance(document, ALL, payload=payload_digests(PAYLOAD))
    assert len(checks) == 20 and all(c.status is Status.VALID for c in checks)
    assert verify_document(document, ALL).status is Status.VALID


def test_provenance_entries_verify_without_the_keys_of_later_hops() -> None:
    at_c = chain()[2]
    only_a = verify_provenance(at_c, TrustedKeys([A.public]))
    assert [c.status for c in only_a] == [Status.VALID, Status.UNKNOWN_KEY]
    assert verify_document(at_c, TrustedKeys([A.public])).status is Status.UNKNOWN_KEY


def test_an_unsigned_hop_keeps_the_provenance() -> None:
    at_a = sign_document(make_document(), A)
    at_b = reexport(hop(at_a), "B", None)  # B does not sign
    assert verify_document(at_b, ALL).status is Status.UNSIGNED
    assert [c.status for c in verify_provenance(at_b, ALL)] == [Status.VALID]
    at_c = reexport(hop(at_b), "C", C)
    checks = verify_provenance(at_c, ALL)
    assert [c.verification.signer_key_id for c in checks] == [A.key_id]


def test_tampered_provenance_is_invalid_and_breaks_the_outer_signature() -> None:
    at_c = chain()[2]
    tampered = copy.deepcopy(at_c)
    tampered["bundle_metadata"]["provenance"][0]["metadata"]["model"]["model_name"] = "x"
    assert [c.status for c in verify_provenance(tampered, ALL)] == [
        Status.INVALID,
        Status.VALID,
    ]
    assert verify_document(tampered, ALL).status is Status.INVALID  # C signed the digest
    dropped = copy.deepcopy(at_c)
    del dropped["bundle_metadata"]["provenance"][0]
    assert verify_document(dropped, ALL).status is Status.INVALID


def test_provenance_must_match_the_current_payload() -> None:
    at_c = chain()[2]
    assert all(
        c.status is Status.INVALID
        for c in verify_provenance(at_c, ALL, payload=payload_digests(PAYLOAD + b"!"))
    )
    # A provenance entry pasted into a bundle of another model does not vouch for it.
    other = make_document(b"another model")
    other["bundle_metadata"]["provenance"] = provenance_of(at_c)
    checks = verify_provenance(other, ALL)
    assert [c.status for c in checks] == [Status.INVALID, Status.INVALID]
    assert "another size or digests" in (checks[0].verification.checks[0].reason or "")


def test_a_changed_model_does_not_carry_provenance() -> None:
    """Re-exporting another payload (a converted model) drops entries that signed the old
    one: they would only ever verify as invalid."""
    at_a = sign_document(make_document(), A)
    imported = hop(at_a)
    converted = copy.deepcopy(imported)
    converted["model"].update(digests_of(b"converted"))
    assert provenance_of(carry_provenance(converted, imported)) == []
    assert len(record_provenance(imported)) == 1


def test_malformed_provenance_entries_are_reported() -> None:
    doc = make_document()
    doc["bundle_metadata"]["provenance"] = [
        {"signatures": [{"algorithm": "ed25519", "key_id": A.key_id}]},
        "not an object",
        {"signatures": [], "metadata": {}},
    ]
    checks = verify_provenance(doc, ALL)
    assert [c.status for c in checks] == [Status.INVALID, Status.UNSIGNED, Status.UNSIGNED]
