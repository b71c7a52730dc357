"""Signatures as text: who signed a bundle (inspect), what verification found (verify,
import) and what an import recorded (show). Every string from a bundle is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from .render import printable


def _s(value: Any) -> str:
    return printable(str(value))


def _claims(entry: Mapping[str, Any]) -> str:
    parts = []
    if entry.get("signer") is not None:
        parts.append(f"signer {_s(entry['signer'])!r}")
    if entry.get("signed_at") is not None:
        parts.append(f"signed {_s(entry['signed_at'])}")
    return (", " + ", ".join(parts)) if parts else ""


def _where(meta: Any) -> str:
    if not isinstance(meta, Mapping):
        return ""
    parts = [f"{name} {_s(meta[name])}" for name in ("exported_by", "created_at", "bundle_id")
             if isinstance(meta.get(name), str)]  # fmt: skip
    return f" ({', '.join(parts)})" if parts else ""


def echo_signers(document: Mapping[str, Any]) -> None:
    """The ``signatures`` and provenance of a bundle, as claimed (inspect: not verified)."""
    w = click.echo
    entries = document.get("signatures")
    if isinstance(entries, list) and entries:
        w("Signatures (not verified here; `heimdall verify --key PUB` checks them):")
        for entry in entries:
            if not isinstance(entry, Mapping):
                w("  (a malformed entry)")
                continue
            w(f"  key {_s(entry.get('key_id'))} ({_s(entry.get('algorithm'))}){_claims(entry)}")
    meta = document.get("bundle_metadata")
    provenance = meta.get("provenance") if isinstance(meta, Mapping) else None
    if isinstance(provenance, list) and provenance:
        w("Provenance (earlier signers, oldest first):")
        for i, entry in enumerate(provenance, 1):
            if not isinstance(entry, Mapping):
                w(f"  {i}. (a malformed entry)")
                continue
            sigs = entry.get("signatures")
            sigs = sigs if isinstance(sigs, list) else []
            ids = ", ".join(_s(s.get("key_id")) for s in sigs if isinstance(s, Mapping)) or "-"
            origin = entry.get("metadata")
            origin_meta = origin.get("bundle_metadata") if isinstance(origin, Mapping) else None
            w(f"  {i}. key {ids}{_where(origin_meta)}")


def verification_json(verification: Any, provenance: Any = ()) -> dict[str, Any]:
    """A bundle's checked signatures (and provenance) as JSON."""

    def checks(v: Any) -> list[dict[str, Any]]:
        return [{"key_id": c.key_id, "status": str(c.status), "key_name": c.key_name,
                 "reason": c.reason, "signer": c.signer, "signed_at": c.signed_at}
                for c in v.checks]  # fmt: skip

    return {
        "status": str(verification.status),
        "signer_key_id": verification.signer_key_id,
        "description": verification.describe(),
        "signatures": checks(verification),
        "provenance": [
            {"status": str(p.status), "description": p.describe(),
             "signatures": checks(p.verification), "bundle_metadata": p.bundle_metadata}
            for p in provenance
        ],
    }  # fmt: skip


def echo_verification(verification: Any, provenance: Any = (), *, err: bool = False) -> None:
    """``Signature: valid: signed by <key id> (<name>)`` and one line per provenance entry."""
    click.echo(f"Signature: {printable(verification.describe())}", err=err)
    for entry in provenance:
        click.echo(f"  {printable(entry.describe())}", err=err)


def echo_recorded(extra: Mapping[str, Any] | None) -> None:
    """What an import recorded about the bundle's signatures (``show``)."""
    signing = (extra or {}).get("signing")
    if not isinstance(signing, Mapping):
        if (extra or {}).get("source_bundle") is not None:  # imported, from no signed bundle
            click.echo(f"{'signature:':<18} unsigned")
        return
    status = _s(signing.get("status"))
    signer = signing.get("signer_key_id")
    entries = [e for e in (extra or {}).get("signatures") or [] if isinstance(e, Mapping)]
    if signer:
        name = next((e.get("key_name") for e in entries if e.get("key_id") == signer), None)
        text = f"{status}: signed by {_s(signer)}" + (f" ({_s(name)})" if name else "")
    elif entries:
        ids = ", ".join(_s(e.get("key_id")) for e in entries)
        text = f"{status}: key {ids}"
        if not signing.get("checked"):
            text += " (not verified at import: no trusted keys)"
    else:
        text = status
    click.echo(f"{'signature:':<18} {text}")
    for i, entry in enumerate(signing.get("provenance") or [], 1):
        if not isinstance(entry, Mapping):
            continue
        keys = [e for e in entry.get("signatures") or [] if isinstance(e, Mapping)]
        ids = ", ".join(_s(e.get("key_id")) for e in keys) or "-"
        label = "provenance:" if i == 1 else ""
        click.echo(f"{label:<18} {i}. {_s(entry.get('status'))}: key {ids}{_where(entry)}")
