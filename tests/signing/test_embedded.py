"""Embedded signatures: signing, verifying, round trips through the reader, and mutants.

The mutant tests state the exact property a signature gives: a signed bundle is accepted
as valid only if what it signs (the canonical view: metadata and declared payload
digests) and the decoded payload are unchanged. Every byte of the canonical metadata is
flipped, every byte of whole bundles too, and hypothesis mutates random documents.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heimdall_io import read_bundle
from heimdall_io.codec.scanner import loads
from heimdall_io.errors import BundleError, ChecksumMismatchError
from heimdall_io.signing import keys
from heimdall_io.signing.canonical import canonical_bytes, signed_view
from heimdall_io.signing.embedded import sign_document, strip_signatures
from heimdall_io.signing.errors import CanonicalFormError
from heimdall_io.signing.trust import TrustedKeys
from heimdall_io.signing.verify import Status, verify_document

from .bundles import bundle_bytes, read, verify_bundle
from .documents import PAYLOAD, digests_of, documents, make_document, payload_digests

TEAM = keys.new_secret_key()
RELEASE = keys.new_secret_key()
STRANGER = keys.new_secret_key()
TRUSTED = TrustedKeys([TEAM.public, RELEASE.public])


def status(doc: dict[str, Any], trusted: TrustedKeys = TRUSTED, **kw: Any) -> Status:
    return verify_document(doc, trusted, **kw).status


# -- signing ------------------------------------------------------------------------------


def test_sign_document_layout_and_fields() -> None:
    doc = make_document()
    doc["model"]["onnx_model_base64"] = base64.b64encode(PAYLOAD).decode()
    signed = sign_document(doc, TEAM, signer="ci", signed_at="2025-01-01T00:00:00Z")
    assert signed["format_version"] == "1.2.0"
    assert list(signed)[-2:] == ["signatures", "model"]  # before the payload
    assert signed["signatures"] == [
        {
            "algorithm": "ed25519",
            "key_id": TEAM.key_id,
            "signature": signed["signatures"][0]["signature"],
            "public_key": base64.b64encode(TEAM.public.key).decode(),
            "signer": "ci",
            "signed_at": "2025-01-01T00:00:00Z",
        }
    ]
    assert len(base64.b64decode(signed["signatures"][0]["signature"])) == 64
    assert signed["model"]["onnx_model_base64"] == doc["model"]["onnx_model_base64"]
    assert doc["format_version"] == "1.1.0" and "signatures" not in doc  # input untouched
    assert status(signed) is Status.VALID


def test_signed_at_defaults_to_now_and_public_key_is_optional() -> None:
    signed = sign_document(make_document(), TEAM, include_public_key=False)
    entry = signed["signatures"][0]
    assert "public_key" not in entry and "signer" not in entry
    assert entry["signed_at"].endswith("Z") and len(entry["signed_at"]) == 20
    assert status(signed) is Status.VALID


def test_signing_needs_the_payload_digests() -> None:
    doc = make_document()
    del doc["model"]["onnx_md5"]
    with pytest.raises(CanonicalFormError, match="must declare onnx_size_bytes, onnx_md5"):
        sign_document(doc, TEAM)


def test_non_finite_numbers_are_signed_as_the_writer_writes_them() -> None:
    doc = make_document()
    doc["performance_metrics"]["train_loss"] = [0.5, math.nan]
    signed = sign_document(doc, TEAM)
    assert signed["performance_metrics"]["train_loss"] == [0.5, None]
    document, _ = read(bundle_bytes(signed, PAYLOAD))
    assert status(document) is Status.VALID


def test_several_signatures() -> None:
    both = sign_document(make_document(), [TEAM, RELEASE])
    result = verify_document(both, TRUSTED)
    assert result.status is Status.VALID
    assert result.valid_key_ids == [TEAM.key_id, RELEASE.key_id]
    # Adding a signature later leaves the earlier ones valid; re-signing replaces.
    one = sign_document(make_document(), TEAM)
    two = sign_document(one, RELEASE)
    assert [e["key_id"] for e in two["signatures"]] == [TEAM.key_id, RELEASE.key_id]
    assert verify_document(two, TRUSTED).valid_key_ids == [TEAM.key_id, RELEASE.key_id]
    again = sign_document(two, TEAM)
    assert [e["key_id"] for e in again["signatures"]] == [RELEASE.key_id, TEAM.key_id]
    # Each key alone suffices.
    assert status(two, TrustedKeys([RELEASE.public])) is Status.VALID
    # A stranger's signature beside a trusted one: valid, the stranger listed as unknown.
    mixed = sign_document(one, STRANGER)
    result = verify_document(mixed, TrustedKeys([TEAM.public]))
    assert result.status is Status.VALID
    assert [c.status for c in result.checks] == [Status.VALID, Status.UNKNOWN_KEY]


def test_statuses_and_descriptions() -> None:
    signed = sign_document(make_document(), TEAM)
    assert verify_document(make_document(), TRUSTED).describe() == "unsigned"
    assert verify_document(signed, TRUSTED).describe() == f"valid: signed by {TEAM.key_id}"
    unknown = verify_document(signed, TrustedKeys([STRANGER.public]))
    assert unknown.status is Status.UNKNOWN_KEY
    assert unknown.describe() == f"unknown-key: signed by {TEAM.key_id}, none of them trusted"
    assert verify_document(signed, None).status is Status.UNKNOWN_KEY
    signed["model"]["model_name"] = "other"
    bad = verify_document(signed, TRUSTED)
    assert bad.status is Status.INVALID and bad.signer_key_id is None
    assert bad.describe() == (
        f"invalid: key {TEAM.key_id}: the signature does not match the bundle's metadata"
    )


def _entry_change(change: Any) -> dict[str, Any]:
    signed = sign_document(make_document(), TEAM)
    change(signed["signatures"][0])
    return signed


@pytest.mark.parametrize(
    ("change", "expected", "reason"),
    [
        (lambda e: e.update(algorithm="ed448"), Status.UNKNOWN_KEY, "unsupported signature"),
        (lambda e: e.pop("algorithm"), Status.INVALID, "no `algorithm`"),
        (lambda e: e.update(key_id=e["key_id"].upper()), Status.INVALID, "16 lowercase hex"),
        (lambda e: e.update(key_id="0" * 16), Status.UNKNOWN_KEY, "not a trusted key"),
        (lambda e: e.update(signature=e["signature"][:-4]), Status.INVALID, "base64 of 64"),
        (lambda e: e.update(signature="*" + e["signature"][1:]), Status.INVALID, "base64 of 64"),
        (lambda e: e.update(public_key="AAAA"), Status.INVALID, "base64 of 32"),
        (
            lambda e: e.update(public_key=RELEASE.public.key_base64),
            Status.INVALID,
            "not the trusted key",
        ),
        # Unsigned claims: changing them changes nothing.
        (lambda e: e.update(signer="mallory"), Status.VALID, None),
        (lambda e: e.update(signed_at="1970-01-01T00:00:00Z"), Status.VALID, None),
        (lambda e: e.update(extra=1), Status.VALID, None),
    ],
)
def test_signature_entries(change: Any, expected: Status, reason: str | None) -> None:
    result = verify_document(_entry_change(change), TRUSTED)
    assert result.status is expected
    if reason is None:
        assert result.checks[0].reason is None
    else:
        assert reason in (result.checks[0].reason or "")


def test_non_canonical_base64_signature_is_invalid() -> None:
    def respell(entry: dict[str, Any]) -> None:
        sig = entry["signature"]  # 64 bytes: 86 characters, "==", 4 unused bits at the end
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = alphabet.index(sig[85])
        entry["signature"] = sig[:85] + alphabet[last | 1] + "=="
        assert base64.b64decode(entry["signature"]) == base64.b64decode(sig)

    result = verify_document(_entry_change(respell), TRUSTED)
    assert result.status is Status.INVALID


@pytest.mark.parametrize("signatures", [{}, "x", [1], [None]])
def test_malformed_signatures_member(signatures: Any) -> None:
    doc = make_document()
    doc["signatures"] = signatures
    assert status(doc) is Status.INVALID


def test_empty_signatures_is_unsigned() -> None:
    doc = make_document()
    doc["signatures"] = []
    assert status(doc) is Status.UNSIGNED
    signed = sign_document(make_document(), TEAM)
    assert "signatures" not in strip_signatures(signed)


def test_document_without_canonical_form_has_invalid_trusted_signatures() -> None:
    signed = sign_document(make_document(), TEAM)
    signed["training_config"]["epochs"] = 2**60 + 1
    result = verify_document(signed, TRUSTED)
    assert result.status is Status.INVALID and "lose precision" in (result.checks[0].reason or "")
    # An unknown key stays unknown: nothing is claimed about it.
    assert status(signed, TrustedKeys([STRANGER.public])) is Status.UNKNOWN_KEY


def test_payload_digests_are_checked_when_given() -> None:
    signed = sign_document(make_document(), TEAM)
    assert status(signed, payload=payload_digests(PAYLOAD)) is Status.VALID
    other = verify_document(signed, TRUSTED, payload=payload_digests(PAYLOAD + b"x"))
    assert other.status is Status.INVALID
    assert "payload is not the one" in (other.checks[0].reason or "")


# -- round trips --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([[TEAM], [RELEASE], [TEAM, RELEASE]]))
def test_round_trip_through_the_reader(case: tuple[dict[str, Any], bytes], signers: Any) -> None:
    doc, payload = case
    signed = sign_document(doc, signers)
    result, document = verify_bundle(bundle_bytes(signed, payload), TRUSTED)
    assert result is not None, document
    assert result.status is Status.VALID
    assert result.valid_key_ids == [k.key_id for k in signers]


@settings(max_examples=100, deadline=None)
@given(documents(), st.integers(0, 3), st.booleans(), st.randoms(use_true_random=False))
def test_signatures_survive_any_json_spelling(
    case: tuple[dict[str, Any], bytes], indent: int, ascii_only: bool, rnd: Any
) -> None:
    """Reformatting, re-escaping and reordering members (payload anywhere in ``model``,
    checksums after it) leave a signature valid: it covers values, not bytes."""
    doc, payload = case
    signed = sign_document(doc, TEAM)

    def shuffle(obj: Any) -> Any:
        if isinstance(obj, dict):
            items = list(obj.items())
            rnd.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(obj, list):
            return [shuffle(v) for v in obj]
        return obj

    respelled = shuffle(copy.deepcopy(signed))
    respelled["model"]["onnx_model_base64"] = base64.b64encode(payload).decode()
    text = json.dumps(respelled, indent=indent or None, ensure_ascii=ascii_only)
    info = read_bundle(io.BytesIO(text.encode()), io.BytesIO())
    assert verify_document(info.document, TRUSTED, payload=info.digests).status is Status.VALID


# -- mutants ------------------------------------------------------------------------------


def _flip_canonical(signed: dict[str, Any], index: int, bit: int) -> tuple[bool, bool] | None:
    """Flip one bit of the canonical bytes and put the result back in a document.

    Returns None when the result is not a document at all (not UTF-8, not JSON, a
    duplicate key: a reader rejects it), else (accepted as valid, same canonical form).
    """
    original = canonical_bytes(signed)
    mutated = bytearray(original)
    mutated[index] ^= 1 << bit
    try:
        tampered = loads(bytes(mutated), "mutant")
    except BundleError:
        return None
    if not isinstance(tampered, dict):
        return None
    tampered["signatures"] = signed["signatures"]
    try:
        same = canonical_bytes(tampered) == original
    except CanonicalFormError:
        same = False
    return verify_document(tampered, TRUSTED).status is Status.VALID, same


def test_every_bit_of_the_canonical_metadata_is_signed() -> None:
    """Flip each of the 8 bits of every byte: a mutant is valid only if it spells the very
    same canonical form (``1e+30`` -> ``1E+30``), and every other mutant is invalid."""
    signed = sign_document(make_document(), TEAM)
    size = len(canonical_bytes(signed))
    parsed = same_value = 0
    for index in range(size):
        for bit in range(8):
            outcome = _flip_canonical(signed, index, bit)
            if outcome is None:
                continue
            parsed += 1
            valid, same = outcome
            assert valid == same, (index, bit)
            same_value += same
    assert parsed > size  # most flips inside strings still parse: those are the real test
    assert same_value < 10


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_random_flips_in_random_documents(case: tuple[dict[str, Any], bytes], data: Any) -> None:
    signed = sign_document(case[0], TEAM)
    size = len(canonical_bytes(signed))
    index = data.draw(st.integers(0, size - 1))
    bit = data.draw(st.integers(0, 7))
    outcome = _flip_canonical(signed, index, bit)
    if outcome is not None:
        valid, same = outcome
        assert valid == same


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.data())
def test_any_change_to_a_signed_value_is_invalid(
    case: tuple[dict[str, Any], bytes], data: Any
) -> None:
    """Replace any value (or add a member to any object) of the signed view: invalid,
    unless the new value is the same JSON value (1 for 1.0)."""
    signed = sign_document(case[0], TEAM)
    view = signed_view(signed)
    path = data.draw(st.sampled_from([p for p in _paths(view) if p]))
    tampered = copy.deepcopy(signed)
    parent = tampered
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        parent[data.draw(st.text(max_size=4)) + "\u0000new"] = data.draw(st.integers())
    else:
        parent[path[-1]] = data.draw(
            st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=4)
        )
    try:
        same = canonical_bytes(tampered) == canonical_bytes(signed)
    except CanonicalFormError:
        same = False
    assert (status(tampered) is Status.VALID) == same


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("onnx_size_bytes", len(PAYLOAD) + 1),
        ("onnx_md5", "0" * 32),
        ("onnx_sha256", digests_of(b"other")["onnx_sha256"]),
    ],
)
def test_changed_declared_digests_are_invalid(field: str, value: Any) -> None:
    signed = sign_document(make_document(), TEAM)
    signed["model"][field] = value
    assert status(signed) is Status.INVALID


def test_every_byte_of_a_whole_bundle() -> None:
    """Flip one bit in every byte of a signed bundle (metadata, signature, payload) and
    read it with the real reader: it is accepted as valid only if its signed view and its
    decoded payload are unchanged (a flip in the entry's unsigned claims such as
    ``signer``, or ``e`` to ``E`` in a number)."""
    signed = sign_document(make_document(PAYLOAD[:60]), TEAM, signer="ci")
    data = bundle_bytes(signed, PAYLOAD[:60])
    view = canonical_bytes(signed)
    # The signatures array: its entry's fields besides the signature are unsigned claims.
    entries = data.index(b'"signatures":[')
    entries_end = data.index(b'],"model":{')
    accepted = []
    for index in range(len(data)):
        mutated = bytearray(data)
        mutated[index] ^= 1 << (index % 8)
        result, document = verify_bundle(bytes(mutated), TRUSTED)
        if result is None or result.status is not Status.VALID:
            continue
        accepted.append(index)
        assert canonical_bytes(document) == view, index
        assert document["model"]["onnx_sha256"] == signed["model"]["onnx_sha256"]
    outside = [i for i in accepted if not entries <= i < entries_end]
    # Outside the entries, only an exponent's "e" flips harmlessly (to "E": same number).
    assert accepted and all(data[i : i + 1] == b"e" for i in outside), outside


def test_a_changed_payload_byte_is_rejected() -> None:
    """A payload byte changed: with the declared digests kept the reader rejects it; with
    digests that match the new payload, the signature does."""
    signed = sign_document(make_document(), TEAM)
    for index in (0, len(PAYLOAD) // 2, len(PAYLOAD) - 1):
        tampered_payload = bytearray(PAYLOAD)
        tampered_payload[index] ^= 0x40
        with pytest.raises(ChecksumMismatchError):
            read(bundle_bytes(signed, bytes(tampered_payload)))
        redeclared = copy.deepcopy(signed)
        redeclared["model"].update(digests_of(bytes(tampered_payload)))
        result, _ = verify_bundle(bundle_bytes(redeclared, bytes(tampered_payload)), TRUSTED)
        assert result is not None and result.status is Status.INVALID
