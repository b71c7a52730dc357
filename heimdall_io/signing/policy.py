"""The import policy: which bundles an import accepts, from the environment.

    HEIMDALL_TRUSTED_KEYS=/etc/heimdall/trusted   a directory of *.pub files, or one file
    HEIMDALL_REQUIRE_SIGNATURE=true               a valid signature by a trusted key is required

    policy = ImportPolicy.from_env()
    verdict = policy.check(reader.document)              # before the payload streams
    verdict = policy.check(info.document, info.digests)  # or once it has

The rules, the same for the CLI and the server:

- with trusted keys, a signature by a trusted key that does not verify (over the bundle,
  or over a provenance entry) is always rejected: SignatureError;
- with ``HEIMDALL_REQUIRE_SIGNATURE=true``, a bundle without a valid signature by a
  trusted key (unsigned, or signed by unknown keys only) is rejected:
  UntrustedSignatureError. Provenance alone does not count: someone re-exported the model;
- otherwise the bundle is accepted, and the verdict says what was found. Without trusted
  keys nothing is rejected, not even a malformed signature entry: nothing could be checked.

Requiring signatures without trusted keys is a configuration error (ConfigError).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..codec.checksums import Digests
from ..errors import ConfigError
from .errors import SignatureError, UntrustedSignatureError
from .provenance import ProvenanceCheck, verify_provenance
from .verify import Status, Verification, verify_document

if TYPE_CHECKING:
    from .trust import TrustedKeys

TRUSTED_KEYS_ENV = "HEIMDALL_TRUSTED_KEYS"
REQUIRE_SIGNATURE_ENV = "HEIMDALL_REQUIRE_SIGNATURE"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def parse_bool(name: str, value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class Verdict:
    """What an import policy found in a bundle it accepted."""

    signatures: Verification
    provenance: tuple[ProvenanceCheck, ...] = ()

    @property
    def status(self) -> Status:
        return self.signatures.status

    @property
    def signer_key_id(self) -> str | None:
        """The key id to record in the audit history, if a trusted key signed."""
        return self.signatures.signer_key_id


@dataclass(frozen=True)
class ImportPolicy:
    trusted: TrustedKeys | None = None
    require_signature: bool = False

    def __post_init__(self) -> None:
        if self.require_signature and self.trusted is None:
            raise ConfigError(
                f"{REQUIRE_SIGNATURE_ENV}=true needs trusted keys: set {TRUSTED_KEYS_ENV}"
                " to a directory of .pub files or a public key file"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ImportPolicy:
        env = os.environ if environ is None else environ
        path = (env.get(TRUSTED_KEYS_ENV) or "").strip()
        trusted = None
        if path:  # trust (and PyNaCl under it) loads only when keys are configured
            from .trust import TrustedKeys

            trusted = TrustedKeys.load(path)
        return cls(trusted, parse_bool(REQUIRE_SIGNATURE_ENV, env.get(REQUIRE_SIGNATURE_ENV)))

    @property
    def active(self) -> bool:
        """Whether the policy can reject anything."""
        return self.trusted is not None

    def check(self, document: Mapping[str, Any], payload: Digests | None = None) -> Verdict:
        """The verdict on ``document``; raises when the policy rejects it."""
        signatures = verify_document(document, self.trusted, payload=payload)
        provenance = verify_provenance(document, self.trusted, payload=payload)
        if not self.active:
            return Verdict(signatures, provenance)  # nothing trusted: nothing to enforce
        if signatures.status is Status.INVALID:
            raise SignatureError(f"rejected: bundle signature {signatures.describe()}")
        for entry in provenance:
            if entry.status is Status.INVALID:
                raise SignatureError(f"rejected: {entry.describe()}")
        if self.require_signature and signatures.status is not Status.VALID:
            if signatures.status is Status.UNSIGNED:
                found = "the bundle is not signed"
            else:
                ids = ", ".join(c.key_id or "?" for c in signatures.checks)
                found = f"the bundle is signed only by keys that are not trusted ({ids})"
            raise UntrustedSignatureError(
                f"rejected: {found}; {REQUIRE_SIGNATURE_ENV}=true requires a signature by a"
                f" key in {TRUSTED_KEYS_ENV} ({self.trusted.source if self.trusted else '-'})"
            )
        return Verdict(signatures, provenance)
