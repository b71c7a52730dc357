"""Provenance: the signatures a model was imported with, kept when it is exported again.

A re-export has a new ``bundle_metadata`` (id, time, exporter), so the signatures of the
bundle it came from no longer verify over it. They move, with the view they signed, into
``bundle_metadata.provenance``:

    {"signatures": [...the imported bundle's entries...],
     "metadata":   signed_view(imported bundle)}        # no payload, digests included

Such an entry verifies on its own: over ``metadata``, and for *this* payload as long as
``metadata`` declares the same size and digests. Entries are kept flat, oldest first: the
imported bundle's own provenance entries come first, then the one for its signatures (its
view refers to them by digest), so a model moved A -> B -> C lists A's signers, then B's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from ..codec.checksums import Digests
from .canonical import PROVENANCE_KEY, SIGNATURES_KEY, signed_view, view_message
from .errors import CanonicalFormError
from .verify import Status, Verification, check_entries, declared_digests, payload_mismatch

if TYPE_CHECKING:
    from .keys import PublicKey  # keys imports PyNaCl: loaded only where a key is


def provenance_of(document: Mapping[str, Any]) -> list[Any]:
    """``bundle_metadata.provenance`` of ``document`` (an empty list when absent)."""
    meta = document.get("bundle_metadata")
    entries = meta.get(PROVENANCE_KEY) if isinstance(meta, Mapping) else None
    return list(entries) if isinstance(entries, list) else []


def record_provenance(imported: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The provenance a re-export of ``imported`` (a bundle document as read) carries.

    Its own provenance entries, then one entry for its signatures if it has any. Raises
    CanonicalFormError when ``imported`` is signed but has no canonical form (it could
    not have been verified, so it is not passed on as if it were).
    """
    entries = [dict(e) for e in provenance_of(imported) if isinstance(e, Mapping)]
    signatures = imported.get(SIGNATURES_KEY)
    if isinstance(signatures, list) and signatures:
        entries.append({"signatures": list(signatures), "metadata": signed_view(imported)})
    return entries


def carry_provenance(document: Mapping[str, Any], imported: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` (a new export of the model ``imported`` was) with the provenance of
    ``imported`` in its ``bundle_metadata``, and without ``imported``'s signatures.

    Entries that declare other payload digests than ``document`` are left out: they
    signed a different model. Sign the result afterwards, if at all.
    """
    return attach_provenance(document, record_provenance(imported))


def attach_provenance(document: Mapping[str, Any], entries: list[Any]) -> dict[str, Any]:
    """``document`` without ``signatures``, with those of ``entries`` (from
    :func:`record_provenance`, e.g. kept by a registry since the import) that declare the
    same payload size and digests as ``document`` in ``bundle_metadata.provenance``.

    ``document`` must declare its digests in ``model``, or no entry is kept.
    """
    current = declared_digests(document)
    kept = [
        dict(e) for e in entries
        if isinstance(e, Mapping) and isinstance(e.get("metadata"), Mapping)
        and declared_digests(e["metadata"]) == current
    ]  # fmt: skip
    out = {k: v for k, v in document.items() if k != SIGNATURES_KEY}
    meta = dict(out.get("bundle_metadata") or {})
    if kept:
        meta[PROVENANCE_KEY] = kept
    else:
        meta.pop(PROVENANCE_KEY, None)
    out["bundle_metadata"] = meta
    return out


@dataclass(frozen=True)
class ProvenanceCheck:
    """One provenance entry checked: its signatures, and what it says about the model."""

    index: int  # 0-based; `describe` counts from 1, as the CLI lists them
    verification: Verification
    #: The recorded bundle's ``bundle_metadata`` (who exported it, when), if readable.
    bundle_metadata: Mapping[str, Any] | None

    @property
    def status(self) -> Status:
        return self.verification.status

    def describe(self) -> str:
        meta = self.bundle_metadata or {}
        where = ", ".join(
            str(meta[k]) for k in ("exported_by", "created_at", "bundle_id") if k in meta
        )
        return (
            f"provenance {self.index + 1}"
            + (f" ({where})" if where else "")
            + ": "
            + (self.verification.describe())
        )


def verify_provenance(
    document: Mapping[str, Any],
    trusted: Mapping[str, PublicKey] | None,
    *,
    payload: Digests | None = None,
) -> tuple[ProvenanceCheck, ...]:
    """Check every ``bundle_metadata.provenance`` entry of ``document``, oldest first.

    A trusted entry is valid when its signature verifies over its ``metadata`` and that
    metadata declares the same payload size and digests as ``document`` (and ``payload``,
    the decoded payload's digests, when given).
    """
    names = getattr(trusted, "name", None)
    current = declared_digests(document)
    problem = payload_mismatch(document, payload)
    checks = []
    for index, entry in enumerate(provenance_of(document)):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("metadata"), Mapping):
            signatures = entry.get("signatures") if isinstance(entry, Mapping) else None
            verification = check_entries(
                signatures, _malformed, trusted, problem="the entry has no `metadata` object",
                names=names,
            )  # fmt: skip
            checks.append(ProvenanceCheck(index, verification, None))
            continue
        metadata = entry["metadata"]
        entry_problem = problem
        if entry_problem is None and declared_digests(metadata) != current:
            entry_problem = "it signed a model with another size or digests than this one"
        verification = check_entries(
            entry.get("signatures"),
            partial(view_message, metadata),
            trusted,
            problem=entry_problem,
            names=names,
        )
        meta = metadata.get("bundle_metadata")
        recorded = meta if isinstance(meta, Mapping) else None
        checks.append(ProvenanceCheck(index, verification, recorded))
    return tuple(checks)


def _malformed() -> bytes:
    raise CanonicalFormError("the provenance entry has no `metadata` object")
