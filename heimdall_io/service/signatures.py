"""Signatures in the registry's operations: the import policy, provenance, signed exports.

Import (CLI and server alike, :class:`~heimdall_io.signing.ImportPolicy`):

- :func:`check_metadata` runs on the metadata the reader has before the payload, so a
  rejected bundle never reaches the store. A ``signatures`` member or declared digests
  that stand after the payload count as absent (spec: a signed bundle puts both first);
- :func:`check_bundle` runs again on the whole document once the codec has decoded the
  payload and verified it against the declared (signed) digests, before the row is
  written: nothing is registered on failure;
- :func:`annotate` keeps what was found on the record, where ``show``, the API's model
  detail and the web page find it: ``extra["signatures"]`` (the bundle's entries with
  the status of each), ``extra["provenance"]`` (the bundle's provenance entries, as it
  had them) and ``extra["signing"]`` (the verdict: status, the signer's key id, each
  provenance entry's status; and ``as_provenance``, the entry for the bundle's own
  signatures). A re-export carries the provenance entries, then ``as_provenance``.

Export: :func:`prepare_export` carries the provenance and signs with the given keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..codec.checksums import Digests, digest_stream
from ..errors import ConfigError
from ..format.document import CHECKSUM_KEYS, FORMAT_1_2
from ..storage.base import ModelRecord
from .context import Context

if TYPE_CHECKING:
    # The signing package (and PyNaCl under it) is imported by the functions that use it:
    # an export that neither signs nor carries provenance never loads it.
    from ..codec.info import BundleInfo
    from ..signing.keys import SecretKey
    from ..signing.policy import ImportPolicy, Verdict
    from ..signing.provenance import ProvenanceCheck
    from ..signing.verify import Verification

#: ``record.extra`` keys this module owns.
SIGNING_KEY = "signing"
SIGNATURES_KEY = "signatures"
PROVENANCE_KEY = "provenance"
#: In ``extra["signing"]``: the provenance entry for the imported bundle's own signatures.
CARRIED_KEY = "as_provenance"


def check_metadata(policy: ImportPolicy, document: Mapping[str, Any]) -> None:
    """Reject before the payload streams, when the policy can reject anything.

    A signed bundle with external data (it declares ``model.onnx_file`` before the
    payload) is signed over its files' entries too, which follow the payload: a
    signature is then checked at the end only (:func:`check_bundle`), and only what the
    metadata alone decides (no signature at all) is rejected here.
    """
    if not policy.active:
        return
    model = document.get("model")
    if document.get("signatures") and isinstance(model, Mapping) and model.get("onnx_file"):
        return
    policy.check(document)


def check_bundle(policy: ImportPolicy, info: BundleInfo) -> Verdict:
    """The verdict on a bundle read to the end (raises when the policy rejects it)."""
    return policy.check(info.document, info.digests)


def _check_json(check: Any) -> dict[str, Any]:
    out = {"key_id": check.key_id, "status": str(check.status)}
    for name in ("key_name", "signer", "signed_at", "reason"):
        value = getattr(check, name)
        if value is not None:
            out[name] = value
    return out


def _verification_json(verification: Verification) -> dict[str, Any]:
    return {
        "status": str(verification.status),
        "signer_key_id": verification.signer_key_id,
        "signatures": [_check_json(c) for c in verification.checks],
    }


def _provenance_json(check: ProvenanceCheck) -> dict[str, Any]:
    out = _verification_json(check.verification)
    meta = check.bundle_metadata or {}
    for name in ("bundle_id", "created_at", "exported_by"):
        if isinstance(meta.get(name), str):
            out[name] = meta[name]
    return out


def signature_entries(verdict: Verdict, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What ``record.extra["signatures"]`` holds: the bundle's entries as it claimed them
    (without the signature bytes), each with the ``status`` the import found."""
    entries = document.get("signatures")
    entries = entries if isinstance(entries, list) else []
    out = []
    for entry, check in zip(entries, verdict.signatures.checks, strict=False):
        kept = {k: v for k, v in entry.items() if k not in ("signature", "public_key")
                and isinstance(v, str)} if isinstance(entry, Mapping) else {}  # fmt: skip
        out.append({**kept, **_check_json(check)})
    return out


def summary(verdict: Verdict, checked: bool) -> dict[str, Any]:
    """What ``record.extra["signing"]`` holds: the verdict on the bundle's signatures
    (each is in ``extra["signatures"]``) and on its provenance, as the import checked
    them; ``checked`` is False when no key was trusted (nothing could be verified, so
    every signer is "unknown-key")."""
    return {
        "status": str(verdict.status),
        "signer_key_id": verdict.signer_key_id,
        "checked": checked,
        "provenance": [_provenance_json(p) for p in verdict.provenance],
    }


def describe(verdict: Verdict, checked: bool) -> str | None:
    """One line for the audit's ``detail``: what was found, when anything was."""
    from ..signing.verify import Status

    if verdict.status is Status.UNSIGNED and not verdict.provenance:
        return None
    text = f"signature {verdict.signatures.describe()}"
    if not checked and verdict.status is not Status.UNSIGNED:
        text += " (not verified: no trusted keys)"
    if verdict.provenance:
        text += f"; {len(verdict.provenance)} provenance entr"
        text += "y" if len(verdict.provenance) == 1 else "ies"
    return text


def annotate(record: ModelRecord, verdict: Verdict, checked: bool, document: Mapping[str, Any]
             ) -> None:  # fmt: skip
    """Keep the verdict, the signatures and the provenance to carry on ``record.extra``."""
    from ..signing.canonical import signed_view
    from ..signing.errors import CanonicalFormError
    from ..signing.provenance import provenance_of
    from ..signing.verify import Status

    extra = dict(record.extra or {})
    if verdict.status is not Status.UNSIGNED or verdict.provenance:
        extra[SIGNING_KEY] = summary(verdict, checked)
    if verdict.signatures.checks:
        extra[SIGNATURES_KEY] = signature_entries(verdict, document)
        entries = document.get("signatures")
        try:  # the entry a re-export adds for these signatures: they and what they signed
            if isinstance(entries, list):
                own = {"signatures": list(entries), "metadata": signed_view(document)}
                extra[SIGNING_KEY][CARRIED_KEY] = own
        except CanonicalFormError:
            pass  # no canonical form: nothing verifiable to pass on
    earlier = [dict(e) for e in provenance_of(document) if isinstance(e, Mapping)]
    if earlier:
        extra[PROVENANCE_KEY] = earlier
    source = extra.get("source_bundle")
    if isinstance(source, Mapping) and PROVENANCE_KEY in source:  # kept once, above
        extra["source_bundle"] = {k: v for k, v in source.items() if k != PROVENANCE_KEY}
    record.extra = extra


def carried(record: ModelRecord) -> list[Any]:
    """The provenance an export of ``record`` carries: the imported bundle's, then an entry
    for its own signatures (spec: "Provenance"), oldest first."""
    extra = record.extra or {}
    entries = list(extra.get(PROVENANCE_KEY) or [])
    signing = extra.get(SIGNING_KEY)
    if isinstance(signing, Mapping) and isinstance(signing.get(CARRIED_KEY), Mapping):
        entries.append(signing[CARRIED_KEY])
    return entries


def check_target(to: str | None, keys: Sequence[SecretKey]) -> None:
    """Signing writes format 1.2.0: refuse it with a conversion to another format."""
    if keys and to not in (None, FORMAT_1_2):
        raise ConfigError(f"signed bundles are format {FORMAT_1_2}: cannot sign an export to {to}")


def record_digests(ctx: Context, record: ModelRecord) -> Digests:
    """The size and digests of ``record``'s object: from the registry, or (a row written
    without them) computed by reading the object once."""
    if record.onnx_size_bytes is not None and record.onnx_md5 and record.onnx_sha256:
        return Digests(record.onnx_size_bytes, record.onnx_md5, record.onnx_sha256)
    with ctx.store.open(record.onnx_path or "") as f:
        return digest_stream(f)


def prepare_export(
    ctx: Context,
    record: ModelRecord,
    header: dict[str, Any],
    keys: Sequence[SecretKey] = (),
) -> dict[str, Any]:
    """``header`` with the provenance ``record`` was imported with and, with ``keys``,
    signed by each (then with the payload's size and digests in ``model``, as signed)."""
    entries = carried(record)
    if not entries and not keys:
        return {k: v for k, v in header.items() if k != "signatures"}
    from ..signing.embedded import sign_document
    from ..signing.provenance import attach_provenance

    digests = record_digests(ctx, record)
    model = {k: v for k, v in header["model"].items() if k not in CHECKSUM_KEYS}
    model.update(zip(CHECKSUM_KEYS, (digests.size, digests.md5, digests.sha256), strict=True))
    document = attach_provenance({**header, "model": model}, list(entries))
    if keys:
        document = sign_document(document, list(keys))
    return document


def signer_ids(header: Mapping[str, Any]) -> str | None:
    """The key ids of a header's signatures, comma-separated (the export's audit)."""
    entries = header.get("signatures") or []
    ids = [e.get("key_id") for e in entries if isinstance(e, Mapping)]
    return ",".join(str(i) for i in ids if i) or None
