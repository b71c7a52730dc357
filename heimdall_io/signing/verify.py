"""Checking a bundle's embedded signatures against trusted public keys.

    result = verify_document(reader.document, TrustedKeys.load("keys/"), payload=digests)
    result.status        # Status.VALID / INVALID / UNSIGNED / UNKNOWN_KEY
    result.describe()    # "valid: signed by e1447d40061f5663 (release)"

Each entry is checked on its own: *valid* (a trusted key's signature that verifies),
*invalid* (a malformed entry, or a trusted key whose signature does not verify over this
document), or *unknown-key* (a well-formed entry by a key that is not trusted, or in an
algorithm this version does not know: it cannot be checked). The bundle is invalid if any
entry is, else valid if any entry is, else unknown-key; unsigned without entries.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec.checksums import Digests
from .canonical import EXTERNAL_CHECKSUM_KEYS, EXTERNAL_DATA_KEY, SIGNATURES_KEY, signing_message
from .embedded import ALGORITHM, KEY_ID, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, b64decode_exact
from .errors import CanonicalFormError

if TYPE_CHECKING:
    from .keys import PublicKey  # keys imports PyNaCl: loaded only where a key is


class Status(str, enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown-key"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome for one signature entry."""

    status: Status
    key_id: str | None
    #: Why it is invalid or unknown; None when valid.
    reason: str | None = None
    #: The name the key is trusted under (not the entry's own, unsigned, ``signer``).
    key_name: str | None = None
    #: The entry's ``signer`` and ``signed_at``: claims, not covered by the signature.
    signer: str | None = None
    signed_at: str | None = None

    @property
    def who(self) -> str:
        return f"{self.key_id or '?'}" + (f" ({self.key_name})" if self.key_name else "")

    def describe(self) -> str:
        return f"{self.status}: key {self.who}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Verification:
    """The outcome for a set of signatures (a bundle's, or a provenance entry's)."""

    status: Status
    checks: tuple[SignatureCheck, ...] = ()

    @property
    def valid_key_ids(self) -> list[str]:
        return [c.key_id for c in self.checks if c.status is Status.VALID and c.key_id]

    @property
    def signer_key_id(self) -> str | None:
        """The first key whose signature is valid: what an audit log records."""
        ids = self.valid_key_ids
        return ids[0] if ids else None

    def first(self, status: Status) -> SignatureCheck | None:
        return next((c for c in self.checks if c.status is status), None)

    def describe(self) -> str:
        """One line: the status and the key that decided it."""
        if self.status is Status.UNSIGNED:
            return "unsigned"
        if self.status is Status.UNKNOWN_KEY:
            ids = ", ".join(c.key_id or "?" for c in self.checks)
            return f"unknown-key: signed by {ids}, none of them trusted"
        check = self.first(self.status)
        assert check is not None
        if self.status is Status.VALID:
            return f"valid: signed by {check.who}"
        return check.describe()


def combine(checks: tuple[SignatureCheck, ...]) -> Status:
    """The status of a set of entries: invalid > valid > unknown-key; unsigned if none."""
    statuses = {c.status for c in checks}
    for status in (Status.INVALID, Status.VALID, Status.UNKNOWN_KEY):
        if status in statuses:
            return status
    return Status.UNSIGNED


def declared_digests(document: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a document (or a signed view) says about its payloads, comparable with ==."""
    model = document.get("model")
    if not isinstance(model, Mapping):
        return (None,)
    files = model.get(EXTERNAL_DATA_KEY)
    external: list[tuple[Any, ...]] = []
    if isinstance(files, list):
        external = sorted(
            (
                tuple([str(f.get("path"))] + [f.get(k) for k in EXTERNAL_CHECKSUM_KEYS])
                if isinstance(f, Mapping)
                else ("?",)
            )
            for f in files
        )
    return (
        model.get("onnx_size_bytes"),
        model.get("onnx_md5"),
        model.get("onnx_sha256"),
        tuple(external),
    )


def payload_mismatch(document: Mapping[str, Any], payload: Digests | None) -> str | None:
    """Why the decoded payload is not the one the document declares, or None."""
    if payload is None:
        return None
    model = document.get("model")
    declared = (
        (model.get("onnx_size_bytes"), model.get("onnx_md5"), model.get("onnx_sha256"))
        if isinstance(model, Mapping)
        else None
    )
    if declared != (payload.size, payload.md5, payload.sha256):
        return "the payload is not the one whose size and digests were signed"
    return None


def check_entries(
    entries: Any,
    message: Callable[[], bytes],
    trusted: Mapping[str, PublicKey] | None,
    *,
    problem: str | None = None,
    names: Callable[[str], str | None] | None = None,
) -> Verification:
    """Check signature ``entries`` over ``message()`` (computed once, only if needed).

    ``problem``: a reason every trusted entry is invalid whatever its bytes (the payload
    differs from the signed digests). ``message()`` may raise CanonicalFormError, which
    makes every trusted entry invalid for that reason.
    """
    if entries is None or entries == []:
        return Verification(Status.UNSIGNED)
    if not isinstance(entries, list):
        return Verification(
            Status.INVALID, (SignatureCheck(Status.INVALID, None, "`signatures` is not an array"),)
        )
    cached: list[bytes | str] = []

    def signed() -> bytes | str:
        if not cached:
            try:
                cached.append(message())
            except CanonicalFormError as e:
                cached.append(str(e))
        return cached[0]

    checks = tuple(_check(e, signed, trusted, problem, names) for e in entries)
    return Verification(combine(checks), checks)


def _check(
    entry: Any,
    signed: Callable[[], bytes | str],
    trusted: Mapping[str, PublicKey] | None,
    problem: str | None,
    names: Callable[[str], str | None] | None,
) -> SignatureCheck:
    if not isinstance(entry, Mapping):
        return SignatureCheck(Status.INVALID, None, "a signature entry is not an object")
    key_id = entry.get("key_id")
    signer = entry.get("signer") if isinstance(entry.get("signer"), str) else None
    signed_at = entry.get("signed_at") if isinstance(entry.get("signed_at"), str) else None

    def result(status: Status, reason: str | None = None) -> SignatureCheck:
        name = names(key_id) if names is not None and isinstance(key_id, str) else None
        return SignatureCheck(status, key_id if isinstance(key_id, str) else None, reason,
                              name, signer, signed_at)  # fmt: skip

    algorithm = entry.get("algorithm")
    if not isinstance(algorithm, str):
        return result(Status.INVALID, "the entry has no `algorithm`")
    if algorithm != ALGORITHM:
        return result(Status.UNKNOWN_KEY, f"unsupported signature algorithm {algorithm!r}")
    if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
        return result(Status.INVALID, "`key_id` is not 16 lowercase hex digits")
    signature = b64decode_exact(entry.get("signature"), SIGNATURE_BYTES)
    if signature is None:
        return result(Status.INVALID, "`signature` is not base64 of 64 bytes")
    public_key = entry.get("public_key")
    embedded = None
    if public_key is not None:
        embedded = b64decode_exact(public_key, PUBLIC_KEY_BYTES)
        if embedded is None:
            return result(Status.INVALID, "`public_key` is not base64 of 32 bytes")
    key = trusted.get(key_id) if trusted is not None else None
    if key is None:
        return result(Status.UNKNOWN_KEY, "not a trusted key")
    if embedded is not None and embedded != key.key:
        return result(Status.INVALID, "`public_key` is not the trusted key with this key id")
    if problem is not None:
        return result(Status.INVALID, problem)
    message = signed()
    if isinstance(message, str):
        return result(Status.INVALID, message)
    if not key.verify(message, signature):
        return result(Status.INVALID, "the signature does not match the bundle's metadata")
    return result(Status.VALID)


def verify_document(
    document: Mapping[str, Any],
    trusted: Mapping[str, PublicKey] | None,
    *,
    payload: Digests | None = None,
) -> Verification:
    """Check the ``signatures`` of a bundle document (payload present or not).

    ``payload``: the digests of the decoded payload, when the caller has them; a payload
    that differs from the declared digests makes every trusted signature invalid.
    """
    names = getattr(trusted, "name", None)
    return check_entries(
        document.get(SIGNATURES_KEY),
        lambda: signing_message(document),
        trusted,
        problem=payload_mismatch(document, payload),
        names=names,
    )
