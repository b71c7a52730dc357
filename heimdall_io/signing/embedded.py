"""Signatures embedded in a bundle: the top-level ``signatures`` array of format 1.2.0.

    doc = sign_document(doc, [team_key, release_key], signer="ci")
    # doc["signatures"] == [{"algorithm": "ed25519", "key_id": "...", "signature": "...",
    #                        "public_key": "...", "signer": "ci", "signed_at": "..."}, ...]

Signing needs the payload's size, MD5 and SHA-256 in ``model`` (they are signed in place
of the payload); an exporter knows them from its registry, ``pack`` by hashing the file
before it writes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .canonical import SIGNATURES_KEY, as_written, signing_message

if TYPE_CHECKING:
    from .keys import SecretKey  # keys imports PyNaCl: loaded only where a key is

ALGORITHM = "ed25519"
#: The format version of a bundle with ``signatures`` (or ``model.external_data``).
FORMAT_VERSION_SIGNED = "1.2.0"
KEY_ID = re.compile(r"[0-9a-f]{16}")
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


def now_rfc3339() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def b64decode_exact(text: Any, size: int) -> bytes | None:
    """The bytes of strict, padded base64 ``text`` if they are ``size`` long, else None."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Reject non-zero padding bits: one signature, one spelling.
    if len(raw) != size or base64.b64encode(raw).decode() != text:
        return None
    return raw


def signature_entry(
    document: Mapping[str, Any],
    key: SecretKey,
    *,
    signer: str | None = None,
    signed_at: str | None = None,
    include_public_key: bool = True,
) -> dict[str, Any]:
    """One ``signatures`` entry: ``key``'s signature of ``document`` as it stands.

    ``document`` must already carry the format version it will be written with.
    Raises CanonicalFormError if it has no canonical form.
    """
    signature = key.sign(signing_message(document))
    entry: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "key_id": key.key_id,
        "signature": base64.b64encode(signature).decode(),
    }
    if include_public_key:
        entry["public_key"] = key.public.key_base64
    if signer is not None:
        entry["signer"] = signer
    entry["signed_at"] = signed_at if signed_at is not None else now_rfc3339()
    return entry


def with_signatures(document: Mapping[str, Any], entries: list[Any]) -> dict[str, Any]:
    """``document`` with ``signatures`` set to ``entries``, placed right before ``model``
    (or without the member when ``entries`` is empty)."""
    out = {k: v for k, v in document.items() if k not in (SIGNATURES_KEY, "model")}
    if entries:
        out[SIGNATURES_KEY] = entries
    if "model" in document:
        out["model"] = document["model"]
    return out


def sign_document(
    document: Mapping[str, Any],
    keys: SecretKey | Iterable[SecretKey],
    *,
    signer: str | None = None,
    signed_at: str | None = None,
    include_public_key: bool = True,
) -> dict[str, Any]:
    """A copy of ``document`` signed by each of ``keys``, ready to write.

    Sets ``format_version`` to 1.2.0 and writes NaN and infinities as null (as the writer
    does), then adds one entry per key; existing entries are kept, except one by the same
    key, which is replaced. The payload (if present) is left where it is.
    """
    from .keys import SecretKey

    doc = as_written(document)
    doc["format_version"] = FORMAT_VERSION_SIGNED
    if isinstance(keys, SecretKey):
        keys = [keys]
    new = [
        signature_entry(doc, k, signer=signer, signed_at=signed_at,
                        include_public_key=include_public_key)
        for k in keys
    ]  # fmt: skip
    replaced = {e["key_id"] for e in new}
    old = document.get(SIGNATURES_KEY) or []
    kept = [e for e in old if not (isinstance(e, Mapping) and e.get("key_id") in replaced)]
    return with_signatures(doc, kept + new)


def strip_signatures(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` without ``signatures`` (``convert`` may do this); the caller sets
    ``format_version`` back to 1.1.0 if nothing else of 1.2.0 remains."""
    return with_signatures(document, [])
