"""`heimdall verify`'s signature checks: a bundle's embedded signatures and provenance,
its ``BUNDLE.minisig`` if there is one, or (``--detached SIG``) a minisign signature of
any file.

With keys (--key, --trusted-keys) a bundle passes only if no signature is invalid and a
trusted key's signature is valid, embedded or detached: unsigned and unknown-key fail.
Without keys, signatures are listed as unchecked and do not change the exit code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import click

from .errors import fail
from .render import echo_json, printable
from .signing_render import echo_verification, verification_json


@dataclass(frozen=True)
class Detached:
    """What became of a ``.minisig`` beside a bundle."""

    path: str
    ok: bool
    line: str


@dataclass(frozen=True)
class SignatureReport:
    """A bundle's signatures, as checked by ``heimdall verify``."""

    verification: Any
    provenance: tuple[Any, ...]
    detached: Detached | None
    checked: bool

    def problem(self) -> str | None:
        """Why the bundle fails its signature checks (None: it passes)."""
        if not self.checked:
            return None
        status = str(self.verification.status)
        if status == "invalid":
            return f"signature {self.verification.describe()}"
        bad = next((p for p in self.provenance if str(p.status) == "invalid"), None)
        if bad is not None:
            return bad.describe()
        if self.detached is not None and not self.detached.ok:
            return self.detached.line
        if status == "valid" or self.detached is not None:
            return None
        if status == "unsigned":
            return "unsigned: the bundle has no signature (and no .minisig beside it)"
        return f"signature {self.verification.describe()}"

    def json(self) -> dict[str, Any]:
        out = verification_json(self.verification, self.provenance)
        out["checked"] = self.checked
        if self.detached is not None:
            out["detached"] = {"path": self.detached.path, "ok": self.detached.ok,
                               "description": self.detached.line}  # fmt: skip
        return out

    def echo(self) -> None:
        if self.checked or str(self.verification.status) == "unsigned":
            echo_verification(self.verification, self.provenance)
        else:
            ids = ", ".join(printable(str(c.key_id)) for c in self.verification.checks)
            click.echo(f"Signature: key {ids} (not checked: give --key PUB or --trusted-keys DIR)")
        if self.detached is not None:
            click.echo(f"Detached: {printable(self.detached.line)}")


def _detached_line(path: str, result: Any) -> str:
    who = result.key_id + (f" ({result.key_name})" if result.key_name else "")
    return f"{path}: valid: signed by {who}; trusted comment: {result.trusted_comment}"


def check_bundle(bundle: str, info: Any, trusted: Any) -> SignatureReport:
    """The signatures of a verified bundle (``info``: read to the end, digests computed)."""
    from heimdall_io.signing import SignatureError, verify_document, verify_provenance
    from heimdall_io.signing.minisign import signature_path, verify_file

    verification = verify_document(info.document, trusted, payload=info.digests)
    provenance = verify_provenance(info.document, trusted, payload=info.digests)
    detached = None
    sig = str(signature_path(bundle)) if bundle != "-" else None
    if sig is not None and os.path.isfile(sig):
        if trusted is None:
            detached = Detached(sig, True, f"{sig}: not checked (give --key or --trusted-keys)")
        else:
            try:
                detached = Detached(sig, True, _detached_line(sig, verify_file(bundle, trusted)))
            except SignatureError as e:
                detached = Detached(sig, False, f"invalid: {e}")
    return SignatureReport(verification, provenance, detached, trusted is not None)


def verify_detached(file: str, sig: str, trusted: Any, as_json: bool) -> None:
    """``verify FILE --detached SIG``: SIG over the bytes of FILE, as `minisign -V` does."""
    from heimdall_io.signing import verify_file

    if trusted is None:
        raise click.UsageError("--detached needs --key PUB or --trusted-keys PATH")
    result = verify_file(file, trusted, sig_path=sig)  # raises: one line, exit 1
    if as_json:
        echo_json({"ok": True, "file": file, "signature": sig, "key_id": result.key_id,
                   "key_name": result.key_name,
                   "trusted_comment": result.trusted_comment})  # fmt: skip
        return
    click.echo(f"OK {printable(file)}: {printable(_detached_line(sig, result))}")


def fail_unless_ok(bundle: str, report: SignatureReport) -> None:
    problem = report.problem()
    if problem is not None:
        fail(f"{bundle}: {problem}")
